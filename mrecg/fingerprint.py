"""Which code computed a record: a hash of everything that determines its numbers.

The fingerprint hashes the package's numerical modules (:data:`SOURCES`; docstrings, comments
and blank lines ignored), the data files they read (:data:`RESOURCES`: the authors' merge schemes,
the checkpoint key maps) and the mini checkpoints' manifest. A test checks that every package
module a numerical module imports is itself in :data:`SOURCES`, so an edit anywhere under the
numbers makes the records of the old code stale.

:data:`EQUIVALENT` names older stamps whose code is known to hash, under today's definition, to
another fingerprint; each entry says how that was established. This is how a change of the
definition itself (a file added to the hash) keeps the records that the unchanged files computed.
"""

from __future__ import annotations

import ast
import hashlib
from functools import lru_cache
from pathlib import Path

PACKAGE = Path(__file__).parent
# The modules whose code determines a record's numbers (presentation, CLI, drivers and this
# bookkeeping are left out; ``storage`` and ``paths`` only write and locate files).
SOURCES = ("adaround", "blocks", "cache", "config", "data", "depthwise", "evaluation", "experiments", "layers",
           "methods", "modcap", "models", "ptq", "quantizer", "reconstruct", "schemes", "selection", "study/toy", "units")
NOT_NUMERICAL = ("__init__", "fingerprint", "paths", "storage")  # imported by sources, numbers unaffected
RESOURCES = ("resources/paper/official_schemes.yaml", "resources/brecq/*.json", "resources/dli14/*.json")

# stamp -> the fingerprint of the code that computed it, under today's definition.
EQUIVALENT = {
    # Stamped before depthwise.py and the resources were hashed (commit 5537162 to 106d89d). In every commit
    # whose sources hashed to afa9c995a109, depthwise.py and the resource files are byte-identical to those of
    # the commit that added them to the hash, which changed nothing else that computes (it moved this
    # bookkeeping out of experiments.py).
    "afa9c995a109": "020f9608eb93",
}


def source_without_docstrings(path: Path) -> str:
    """The source lines that are code: docstrings (found by the parser), blank lines and comment-only
    lines left out. Plain text, so the fingerprint is the same under every Python version."""
    text = path.read_text()
    docs: set[int] = set()
    for node in ast.walk(ast.parse(text)):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr) and \
                isinstance(getattr(body[0], "value", None), ast.Constant) and isinstance(body[0].value.value, str):
            docs.update(range(body[0].lineno, body[0].end_lineno + 1))
    return "\n".join(line.rstrip() for i, line in enumerate(text.splitlines(), 1)
                     if i not in docs and line.strip() and not line.lstrip().startswith("#"))


def resource_files() -> list[Path]:
    return sorted(p for pattern in RESOURCES for p in PACKAGE.glob(pattern))


@lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """Hash of the numerical sources, the resources they read and the mini checkpoints' manifest:
    equal fingerprints mean the same code computed the numbers."""
    h = hashlib.sha256()
    for name in SOURCES:
        h.update(name.encode() + source_without_docstrings(PACKAGE / f"{name}.py").encode())
    for path in resource_files():
        h.update(path.relative_to(PACKAGE).as_posix().encode() + path.read_bytes())
    from .models import MANIFEST  # the mini checkpoints: retrained weights are other numbers

    if MANIFEST.is_file():
        h.update(MANIFEST.read_bytes())
    return h.hexdigest()[:12]


def computed_by(stamp: str | None) -> str | None:
    """The fingerprint of the code behind a record's stamp (itself unless :data:`EQUIVALENT` names it)."""
    return EQUIVALENT.get(stamp, stamp) if stamp is not None else None
