"""Fig. 5: the reconstruction batch size.

The paper's claim: a larger batch estimates the expected reconstruction loss with less variance, so
accuracy rises with the batch size with diminishing returns (the paper plots the median over
sampled runs per batch size). Ours: BRECQ on MobileNetV2 x0.5, the same calibration set and
iterations, several seeds per batch size; the claims are tested on paired per-seed differences.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import pandas as pd

from ..study import stats
from ..study.runs import RunSpec
from ..study.sweeps import Study
from .saving import save_figure

# from batch 16 to the paper's 256, at a cell with room (W3A3 on Fashion-MNIST)
SWEEP = {
    "smoke": dict(batch_sizes=(8, 16), seeds=(0,), bits=(4, 4)),
    "mini": dict(batch_sizes=(16, 32, 64, 128, 256), seeds=(0, 1, 2), bits=(3, 3)),
    "paper": dict(batch_sizes=(16, 32, 64, 128, 256), seeds=(0, 1, 2), bits=(4, 4)),
}
MODEL = "mobilenetv2_x0.5"


def specs(study: Study) -> list[RunSpec]:
    sweep = study.sweep(SWEEP)
    w, a = sweep["bits"]
    return [study.spec(MODEL, method="brecq", w_bits=w, a_bits=a, seed=seed, batch_size=b)
            for b in sweep["batch_sizes"] for seed in study.seeds_or(sweep["seeds"])]


def frame(records: Sequence[dict]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per run (batch size, seed, top1) and per batch size (median, min, max, std, count)."""
    rows = pd.DataFrame({"batch_size": r["config"]["batch_size"], "seed": r["config"]["seed"], "top1": r["top1"],
                         "seconds": r["seconds"]} for r in records)
    summary = rows.groupby("batch_size").top1.agg(["median", "min", "max", "std", "count"]).reset_index()
    return rows, summary


def claims(rows: pd.DataFrame) -> dict[str, stats.Paired]:
    """Paired per-seed differences behind the paper's two claims: the largest batch minus the
    smallest (accuracy rises), and the first doubling's gain minus the last one's (diminishing returns)."""
    wide = rows.pivot_table(index="seed", columns="batch_size", values="top1").dropna()
    sizes = sorted(wide.columns)
    out = {f"batch {sizes[-1]} - batch {sizes[0]}": stats.paired(wide[sizes[-1]].tolist(), wide[sizes[0]].tolist())}
    if len(sizes) >= 3:
        first = (wide[sizes[1]] - wide[sizes[0]]).tolist()
        last = (wide[sizes[-1]] - wide[sizes[-2]]).tolist()
        out["first doubling's gain - last doubling's gain"] = stats.paired(first, last)
    return out


def verdict_lines(rows: pd.DataFrame, floor: float) -> list[str]:
    return [f"{name}: {stats.explain(d, floor)}" for name, d in claims(rows).items()]


def plot(rows: pd.DataFrame, summary: pd.DataFrame, stem: str | os.PathLike) -> list[Path]:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    ax.scatter(rows.batch_size, rows.top1, color="0.6", label="one seed")
    ax.plot(summary.batch_size, summary["median"], "o-", color="tab:red", label="median over seeds")
    ax.fill_between(summary.batch_size, summary["min"], summary["max"], color="tab:red", alpha=0.15, label="range")
    ax.set_xscale("log", base=2)
    ax.set_xticks(summary.batch_size, [str(b) for b in summary.batch_size])
    ax.set_xlabel("reconstruction batch size (images)")
    ax.set_ylabel("top-1 accuracy (%)")
    ax.set_title("BRECQ, MobileNetV2 x0.5: batch size")
    ax.legend()
    fig.tight_layout()
    paths = save_figure(fig, stem)
    plt.close(fig)
    return paths
