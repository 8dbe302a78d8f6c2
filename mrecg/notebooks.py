"""Helpers the papermill driver uses to find and parameterise the figure notebooks."""

from __future__ import annotations

import os
from pathlib import Path


def figure_notebooks(folder: str | os.PathLike) -> list[Path]:
    """The numbered notebooks (``00_*.ipynb`` ... ``99_*.ipynb``) in run order."""
    return sorted(p for p in Path(folder).glob("[0-9][0-9]_*.ipynb"))


def notebook_parameters(**params) -> dict:
    """Driver parameters passed on to every notebook; paths made absolute, since each
    notebook runs with its own folder as working directory."""
    out = dict(params)
    for key in ("results_dir", "figures_dir", "data_root"):
        if out.get(key) is not None:
            out[key] = str(Path(out[key]).resolve())
    return out
