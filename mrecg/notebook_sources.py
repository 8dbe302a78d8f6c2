"""Notebooks as text: each ``notebooks/NN_name.py`` (jupytext percent format) is the source of
``notebooks/NN_name.ipynb``, which is built from it without outputs and with stable cell ids.

``mrecg notebooks`` rebuilds every ``.ipynb``; a test checks that sources and notebooks agree and
that every parameters cell is the canonical one (:data:`mrecg.reproduce.PARAMETERS`).
"""

from __future__ import annotations

import json
from pathlib import Path

from . import paths

KERNELSPEC = {"name": "python3", "display_name": "Python 3", "language": "python"}


def sources(folder: Path | None = None) -> list[Path]:
    folder = folder or paths.notebooks_dir()
    return sorted(folder.glob("*.py"))


def build(source: Path) -> str:
    """The ``.ipynb`` text of a percent-format source (no outputs, stable ids, fixed metadata)."""
    import jupytext
    import nbformat

    nb = jupytext.read(source)
    nb.metadata = {"kernelspec": KERNELSPEC}
    for i, cell in enumerate(nb.cells):
        cell.id = f"cell-{i}"
        cell.metadata = {k: v for k, v in cell.metadata.items() if k == "tags"}
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    return nbformat.writes(nb) + "\n"


def write_all(folder: Path | None = None) -> list[Path]:
    """Rebuild every notebook whose source changed; return the rebuilt ones."""
    changed = []
    for src in sources(folder):
        target, text = src.with_suffix(".ipynb"), build(src)
        if not target.is_file() or target.read_text() != text:
            target.write_text(text)
            changed.append(target)
    return changed


def mismatched(folder: Path | None = None) -> list[Path]:
    """Notebooks that differ from what their source builds (or have no source)."""
    folder = folder or paths.notebooks_dir()
    built = {src.with_suffix(".ipynb") for src in sources(folder)}
    stale = [src.with_suffix(".ipynb") for src in sources(folder)
             if not src.with_suffix(".ipynb").is_file() or src.with_suffix(".ipynb").read_text() != build(src)]
    orphans = [nb for nb in folder.glob("*.ipynb") if nb not in built]
    return sorted(stale + orphans)


def parameters_source(notebook: Path) -> str:
    """The source of the cell tagged ``parameters``."""
    nb = json.loads(notebook.read_text())
    cells = [c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", [])]
    if len(cells) != 1:
        raise ValueError(f"{notebook.name} has {len(cells)} parameters cells; it needs exactly one")
    return "".join(cells[0]["source"])
