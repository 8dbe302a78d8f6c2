from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
# The project's shared reference data sits beside the clone (../shared); the package carries a copy.
SHARED_REFERENCE = REPO.parent / "shared" / "reference"


def _reference_file(*parts: str) -> Path:
    shared = SHARED_REFERENCE.joinpath(*parts)
    if shared.is_file():
        return shared
    local = {"brecq_checkpoint_keys": ("resources", "brecq")}.get(parts[0], ("resources", "paper"))
    return REPO / "mrecg" / Path(*local) / parts[-1]


@pytest.fixture(autouse=True)
def _seed_and_threads():
    torch.manual_seed(0)
    yield


@pytest.fixture(scope="session")
def fashion_test():
    from mrecg import data

    return data.fashion_mnist("test")


@pytest.fixture(scope="session")
def reference_file():
    """path(*parts): a file from ../shared/reference when present, else the package's copy."""
    return _reference_file


def load_script(relative: str):
    """A script of the repository (``benchmarks/``, ``scripts/``) as a module: they are scripts, not a package."""
    import importlib.util

    path = REPO / relative
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
