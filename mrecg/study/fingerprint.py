"""Which code computed a record: a hash of what determines its numbers, not of where that code lives.

The fingerprint hashes the content of the numerical modules (:data:`SOURCES`, paths relative to
the package), the data files they read (:data:`RESOURCES`: the authors' merge schemes, the
checkpoint key maps) and the mini checkpoints' manifest. Of each module it hashes the code alone:
docstrings, comments, blank lines and import statements are left out, and modules are taken in
the order of their hashes, not of their paths. So moving or renaming a module, or importing a
name from its new place, keeps the fingerprint; an edit to any line that computes changes it. A
test checks that every package module a numerical module imports is itself hashed, so what an
import brings in is always covered by the hash of the module it comes from.

:data:`EQUIVALENT` names older stamps whose code is known to compute what today's code computes;
each entry says how that was established. Never add one without that check.
"""

from __future__ import annotations

import ast
import hashlib
from functools import lru_cache
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1]
# What determines a record's numbers. Presentation, the CLI, the drivers and the bookkeeping of
# records (mrecg.study.records) are left out. The toy of notebook 00 is hashed into its own
# records' stamp only (TOY), so that editing the toy leaves the grid's records current.
SOURCES = ("config.py", "methods.py", "models.py", "data.py", "evaluation.py", "quant/*.py", "recon/*.py",
           "merging/*.py", "study/runs.py")
TOY = ("study/toy.py",)
RESOURCES = ("resources/paper/official_schemes.yaml", "resources/brecq/*.json", "resources/dli14/*.json")

# stamp -> the fingerprint of today's code that computes the same numbers. Each target has its check in
# benchmarks/results/equivalence/<target>.json (benchmarks/equivalence_check.py), whose records cover the stamp.
EQUIVALENT: dict[str, str] = {
    # The faithful grid's code (020f9608eb93; afa9c995a109 is the same code hashed before depthwise.py and the
    # resources joined the hash) moved into layers -- the records split from the numbers, each fact stated once,
    # the hash taken of content instead of paths -- then given the released range setups (act_init, default
    # "ours"), the released loop's switches (off by default) and per-block weight bits (the toy's knob, off by
    # default) and stricter validation of bad input. 8 committed records recomputed from scratch on their machine
    # type (Intel Xeon, 1 thread, torch 2.14.1, CPU), both stamps, both families, nearest, AdaRound, BRECQ, QDrop
    # and the released MRECG, W2A4 / W3A3 / W2A2: every number bit-identical, after the layout alone
    # (2fc974c33426.json), after the options (732a529b4905.json) and after the validation (586a26c6fb54.json),
    # 2026-12-04.
    "020f9608eb93": "586a26c6fb54",
    "afa9c995a109": "586a26c6fb54",
}


def code_lines(text: str) -> str:
    """The lines of a module that compute: docstrings, import statements (both found by the
    parser), blank lines and comment-only lines left out. Plain text, so the result is the same
    under every Python version."""
    skip: set[int] = set()
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            skip.update(range(node.lineno, node.end_lineno + 1))
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr) and \
                isinstance(getattr(body[0], "value", None), ast.Constant) and isinstance(body[0].value.value, str):
            skip.update(range(body[0].lineno, body[0].end_lineno + 1))
    return "\n".join(line.rstrip() for i, line in enumerate(text.splitlines(), 1)
                     if i not in skip and line.strip() and not line.lstrip().startswith("#"))


def source_files(patterns: tuple[str, ...] = SOURCES) -> list[Path]:
    return sorted(p for pattern in patterns for p in PACKAGE.glob(pattern))


def resource_files() -> list[Path]:
    return sorted(p for pattern in RESOURCES for p in PACKAGE.glob(pattern))


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@lru_cache(maxsize=None)
def code_fingerprint(extra: tuple[str, ...] = ()) -> str:
    """Hash of the numerical code (plus the modules ``extra`` names), the resources it reads and
    the mini checkpoints' manifest: equal fingerprints mean the same code computed the numbers."""
    parts = [code_lines(p.read_text()) for p in source_files(SOURCES + extra)]
    digests = sorted(_digest(code.encode()) for code in parts if code)
    digests += sorted(_digest(p.read_bytes()) for p in resource_files())
    manifest = PACKAGE / "checkpoints" / "mini" / "manifest.json"  # retrained weights are other numbers
    if manifest.is_file():
        digests.append(_digest(manifest.read_bytes()))
    return _digest("\n".join(digests).encode())[:12]


def computed_by(stamp: str | None) -> str | None:
    """The fingerprint of the code behind a record's stamp (itself unless :data:`EQUIVALENT` names it)."""
    return EQUIVALENT.get(stamp, stamp) if stamp is not None else None
