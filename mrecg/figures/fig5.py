"""Fig. 5: the reconstruction batch size.

The paper's claim: a larger batch estimates the expected reconstruction loss with less variance, so
accuracy rises with the batch size with diminishing returns (the paper plots the median over
sampled runs per batch size). MRECG's "expanded batch" changes two things at once, the batch (x8)
and the calibration images (x4). Ours: BRECQ on MobileNetV2 x0.5, several seeds, two curves: the
batch size at the preset's images, and the images at the largest batch (the latter is Table 2's
"+ expanded batch" run). Claims are paired per seed and made only between runs of one machine;
a comparison whose pairs span machines is shown and flagged, with no verdict.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import pandas as pd

from ..config import PRESETS
from ..study import stats
from ..study.runs import RunSpec
from ..study.sweeps import Study
from . import colour
from .saving import save_figure

# from batch 16 to the paper's 256, at a cell with room (W3A3 on Fashion-MNIST); ``images``: the
# calibration set's multiples run at the largest batch (x4: MRECG's expansion)
SWEEP = {
    "smoke": dict(batch_sizes=(8, 16), seeds=(0,), bits=(4, 4)),
    "mini": dict(batch_sizes=(16, 32, 64, 128, 256), seeds=(0, 1, 2), bits=(3, 3)),
    "paper": dict(batch_sizes=(16, 32, 64, 128, 256), seeds=(0, 1, 2), bits=(4, 4)),
}
MODEL = "mobilenetv2_x0.5"


def specs(study: Study) -> list[RunSpec]:
    sweep = study.sweep(SWEEP)
    w, a = sweep["bits"]
    images = PRESETS[study.preset]["calib_size"]
    out = [study.spec(MODEL, method="brecq", w_bits=w, a_bits=a, seed=seed, batch_size=b)
           for b in sweep["batch_sizes"] for seed in study.seeds_or(sweep["seeds"])]
    return out + [study.spec(MODEL, method="brecq", w_bits=w, a_bits=a, seed=seed, batch_size=max(sweep["batch_sizes"]),
                             calib_size=images * 4) for seed in study.seeds_or(sweep["seeds"])]


def frame(records: Sequence[dict]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per run (batch size, images, seed, top1, machine) and per (images, batch size): median, min,
    max, std, count."""
    rows = pd.DataFrame({"batch_size": r["config"]["batch_size"], "images": r["config"]["calib_size"],
                         "seed": r["config"]["seed"], "top1": r["top1"], "seconds": r["seconds"],
                         "machine": "/".join(map(str, stats.machine_of(r)))} for r in records)
    summary = rows.groupby(["images", "batch_size"]).top1.agg(["median", "min", "max", "std", "count"]).reset_index()
    return rows, summary


def _compare(a: pd.DataFrame, b: pd.DataFrame) -> tuple[stats.Paired, int]:
    """``a - b`` per seed, with how many of the seed pairs span two machines."""
    to_records = lambda d: [{"config": {"seed": r.seed}, "top1": r.top1, "machine": dict(zip(  # noqa: E731
        ("cpu", "threads", "device"), r.machine.split("/")))} for r in d.itertuples()]
    return stats.compared(to_records(a), to_records(b))


def claims(rows: pd.DataFrame) -> dict[str, tuple[stats.Paired, int]]:
    """The paired differences behind the claims, each with its count of mixed-machine pairs: the
    largest batch minus the smallest at the preset's images (the paper's curve), and 4x the images
    minus the preset's at the largest batch (the other half of MRECG's expansion); and, where the
    curve spans machines, per machine the widest batch span whose seeds all ran there."""
    images = rows.images.min()
    curve = rows[rows.images == images]
    sizes = sorted(curve.batch_size.unique())
    at = lambda d, b: d[d.batch_size == b]  # noqa: E731
    out = {f"batch {sizes[-1]} - batch {sizes[0]} ({images} images)":
           _compare(at(curve, sizes[-1]), at(curve, sizes[0]))}
    machines = same_machine(rows)
    for machine, sizes_here in machines.items() if len(machines) > 1 else ():  # the widest same-machine span
        if len(done := sizes_here["complete"]) > 1:
            here = curve[curve.machine == machine]
            out[f"batch {done[-1]} - batch {done[0]} ({images} images, all on {machine.split('/')[-1]})"] = _compare(
                at(here, done[-1]), at(here, done[0]))
    for more in sorted(set(rows.images) - {images}):
        wide = rows[rows.images == more]
        out[f"{more} - {images} images (batch {sizes[-1]})"] = _compare(at(wide, sizes[-1]), at(curve, sizes[-1]))
    return out


def same_machine(rows: pd.DataFrame) -> dict[str, dict]:
    """Per machine, the batch sizes (at the preset's images) that have all seeds on it: the curves
    that can be compared without crossing machines."""
    curve = rows[rows.images == rows.images.min()]
    seeds = curve.seed.nunique()
    out = {}
    for machine, g in curve.groupby("machine"):
        full = sorted(b for b, gb in g.groupby("batch_size") if gb.seed.nunique() == seeds)
        out[machine] = {"complete": full, "partial": sorted(set(g.batch_size) - set(full))}
    return out


def mixed_records(records: Sequence[dict]) -> list[tuple[str, int, str, str]]:
    """The batch curve's and the images curve's seed pairs that span two machines: every batch
    size against the smallest, and 4x the images against the preset's, at the largest batch."""
    groups: dict[tuple[int, int], list[dict]] = {}
    for r in records:
        groups.setdefault((r["config"]["calib_size"], r["config"]["batch_size"]), []).append(r)
    images = min(i for i, _ in groups)
    sizes = sorted(b for i, b in groups if i == images)
    out = [m for b in sizes[1:] for m in stats.mixed_keys(f"batch {b} vs batch {sizes[0]}", groups[images, b],
                                                          groups[images, sizes[0]])]
    for more in sorted({i for i, _ in groups} - {images}):
        out += stats.mixed_keys(f"{more} vs {images} images", groups[more, sizes[-1]], groups[images, sizes[-1]])
    return out


def verdict_lines(rows: pd.DataFrame) -> list[str]:
    lines = []
    for name, (d, mixed) in claims(rows).items():
        word = stats.excluded(mixed, d.n) if mixed else f"against zero: {stats.against_zero(d)}"
        lines.append(f"{name}: {d}; {word}")
    for machine, sizes in same_machine(rows).items():
        missing = sorted(set(rows[rows.images == rows.images.min()].batch_size) - set(sizes["complete"]))
        lines.append(f"on {machine.split('/')[-1]}: every seed at batch "
                     f"{', '.join(map(str, sizes['complete'])) or 'none'}; a whole curve on this device still needs "
                     f"batch {', '.join(map(str, missing)) or 'nothing'}")
    return lines


def plot(rows: pd.DataFrame, summary: pd.DataFrame, stem: str | os.PathLike) -> list[Path]:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    for (images, machine), g in rows.groupby(["images", "machine"]):
        ax.scatter(g.batch_size, g.top1, alpha=0.7, color=colour("brecq"),
                   marker="D" if images > rows.images.min() else "o" if machine.endswith("cpu") else "^",
                   label=f"one seed, {images} images, {machine.split('/')[-1]}")
    base = summary[summary.images == summary.images.min()]
    ax.plot(base.batch_size, base["median"], "-", color=colour("brecq"), label="median over seeds")
    ax.fill_between(base.batch_size, base["min"], base["max"], color=colour("brecq"), alpha=0.15, label="range")
    ax.set_xscale("log", base=2)
    ax.set_xticks(base.batch_size, [str(b) for b in base.batch_size])
    ax.set_xlabel("reconstruction batch size (images)")
    ax.set_ylabel("top-1 accuracy (%)")
    ax.set_title("BRECQ, MobileNetV2 x0.5: batch size at fixed images; images at the largest batch")
    ax.legend(fontsize=7)
    fig.tight_layout()
    paths = save_figure(fig, stem)
    plt.close(fig)
    return paths
