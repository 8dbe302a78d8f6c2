"""Where figures and tables go, and how: PNG + PDF for figures, CSV + Markdown + a rendered
PNG/PDF for tables. Figures are saved with fixed metadata, so an unchanged figure is an unchanged file."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

# No creation date or software version inside the files: a re-plot of the same numbers is byte-stable.
METADATA = {".png": {"Software": None}, ".pdf": {"CreationDate": None, "Producer": None, "Creator": None}}


def save_figure(fig, stem: str | os.PathLike) -> list[Path]:
    """``stem``.png and ``stem``.pdf."""
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = [stem.with_suffix(".png"), stem.with_suffix(".pdf")]
    for p in paths:
        fig.savefig(p, dpi=130, bbox_inches="tight", metadata=METADATA[p.suffix])
    return paths


def to_markdown(df: pd.DataFrame, digits: int = 2) -> str:
    """A GitHub Markdown table (no extra dependency)."""
    def cell(v):
        if isinstance(v, float):
            return "" if np.isnan(v) else f"{v:.{digits}f}"
        return str(v)

    lines = ["| " + " | ".join(map(str, df.columns)) + " |", "|" + "---|" * len(df.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join(lines) + "\n"


def save_table(df: pd.DataFrame, figures_dir: str | os.PathLike, name: str, title: str = "") -> list[Path]:
    """CSV + Markdown + a rendered PNG/PDF of a table."""
    import matplotlib.pyplot as plt

    folder = Path(figures_dir)
    folder.mkdir(parents=True, exist_ok=True)
    df.to_csv(folder / f"{name}.csv", index=False)
    (folder / f"{name}.md").write_text(to_markdown(df))
    shown = df.map(lambda v: "" if isinstance(v, float) and np.isnan(v) else (f"{v:.2f}" if isinstance(v, float) else v))
    fig, ax = plt.subplots(figsize=(min(2 + 1.3 * len(df.columns), 20), 0.8 + 0.3 * len(df)))
    ax.axis("off")
    ax.table(cellText=shown.values, colLabels=list(df.columns), loc="center").auto_set_font_size(True)
    if title:
        ax.set_title(title)
    paths = save_figure(fig, folder / name)
    plt.close(fig)
    return [folder / f"{name}.csv", folder / f"{name}.md", *paths]
