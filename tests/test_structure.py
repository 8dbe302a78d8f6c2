"""The package's shape: no import cycle, and no module branches on a method's name."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "mrecg"
MODULES = sorted(p.relative_to(PACKAGE.parent).with_suffix("").as_posix().replace("/", ".")
                 for p in PACKAGE.rglob("*.py") if p.name != "__init__.py" or p.parent != PACKAGE)


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

    assert "ptq" not in imported("modcap.py") and "selection" not in imported("ptq.py")
