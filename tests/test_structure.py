"""The package's shape: layers that import only downward, no import cycle, and no module that
branches on a method's name."""

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "mrecg"
MODULES = sorted(p.relative_to(PACKAGE.parent).with_suffix("").as_posix().replace("/", ".")
                 for p in PACKAGE.rglob("*.py") if p.name != "__init__.py" or p.parent != PACKAGE)


# Lowest first. A module may import modules of its own layer or of layers below it, never above.
LAYERS = (
    ("config", "methods", "models", "data", "evaluation"),  # the vocabulary every layer shares
    ("quant",),  # quantizers and quantized layers and blocks
    ("recon",),  # units, the one reconstruction loop, activation caches, quantize()
    ("merging",),  # which units are reconstructed jointly: schemes, ModCap, selection
    ("study",),  # runs, records, the pool, notebooks' plumbing, fingerprint, statistics
    ("figures",),  # one module per paper artefact
    ("train", "reproduce", "same_machine", "cli", "__init__"),  # drivers
)
RANK = {room: rank for rank, rooms in enumerate(LAYERS) for room in rooms}


def room(module: str) -> str:
    """``mrecg.recon.loop`` -> ``recon``; ``mrecg.config`` -> ``config``; ``mrecg`` -> ``__init__``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def package_imports(path: Path) -> set[str]:
    """The mrecg modules (or packages) that the file at ``path`` imports, at any depth in it."""
    module = path.relative_to(PACKAGE.parent).with_suffix("").as_posix().replace("/", ".")
    here = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    if path.name == "__init__.py":
        here = here[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = ".".join(here[: len(here) - node.level + 1] + ([node.module] if node.module else []))
            for alias in (a for a in node.names if not a.name.startswith("__")):  # __version__: metadata
                target = f"{base}.{alias.name}"
                is_module = (PACKAGE.parent / target.replace(".", "/")).with_suffix(".py").is_file() or \
                    (PACKAGE.parent / target.replace(".", "/")).is_dir()
                found.add(target if is_module else base)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("mrecg"):
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("mrecg")}
    return found


def test_every_room_is_in_a_layer():
    rooms = {room(m) for m in MODULES} | {"__init__"}
    assert rooms <= set(RANK), rooms - set(RANK)


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: p.relative_to(PACKAGE).as_posix())
def test_no_module_imports_upward(path):
    mine = room(path.relative_to(PACKAGE.parent).with_suffix("").as_posix().replace("/", ".").removesuffix(".__init__"))
    upward = sorted(t for t in package_imports(path) if RANK[room(t)] > RANK[mine])
    assert upward == [], f"{path.relative_to(PACKAGE)} ({mine}) imports from layers above it: {upward}"


def test_the_core_never_imports_the_study_or_the_figures():
    for path in (p for r in ("quant", "recon", "merging") for p in (PACKAGE / r).rglob("*.py")):
        assert not {room(t) for t in package_imports(path)} & {"study", "figures"}, path


def test_a_planted_upward_import_is_caught(tmp_path):
    """The rule can fail: a quantizer that imports the records is found."""
    planted = PACKAGE / "quant" / "_planted_for_test.py"
    planted.write_text("from ..study import records\n")
    try:
        assert package_imports(planted) == {"mrecg.study.records"}
        assert RANK[room("mrecg.study.records")] > RANK["quant"]
    finally:
        planted.unlink()


@pytest.mark.parametrize("module", MODULES)
def test_every_module_imports_on_its_own(module):
    """A cycle shows as an ImportError when the cycle's second module is imported first."""
    run = subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-1500:]


def test_no_module_branches_on_a_method_name():
    pattern = re.compile(r"""(method|name)\S*\s*(==|!=|\.startswith\()\s*["'](mrecg|brecq|qdrop|adaround|nearest)""")
    offenders = [f"{p.name}:{i}" for p in PACKAGE.rglob("*.py") if p.name != "methods.py"
                 for i, line in enumerate(p.read_text().splitlines(), 1) if pattern.search(line)]
    assert offenders == []


def test_modcap_does_not_drive_quantize():
    imports = re.compile(r"^\s*(from|import)\s+\S+", re.M)

    def imported(module: str) -> str:
        return " ".join(m.group(0) for m in imports.finditer((PACKAGE / module).read_text()))

    assert "ptq" not in imported("merging/modcap.py") and "selection" not in imported("recon/ptq.py")


def test_the_command_line_stays_a_thin_layer():
    """Flags derive from PTQConfig and the notebooks' parameters; the work lives in the package."""
    assert len((PACKAGE / "cli.py").read_text().splitlines()) <= 250

