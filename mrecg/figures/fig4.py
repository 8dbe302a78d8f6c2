"""Fig. 4: MRECG's merge scheme against random mixed-granularity schemes.

The paper's claim: among randomly sampled mixed-granularity schemes (BRECQ, every MobileNetV2
width), MRECG's scheme is near the top and on the Pareto front of accuracy against model-size
cost. Random schemes draw as many adjacent merges as MRECG makes, each with its own seed; all
runs use BRECQ's batch and calibration size. The cost of a scheme is the weight count of its
largest reconstruction unit.

MRECG's scheme runs with as many seeds as Table 2 (its "+ mixed granularity" row), so its own
seed spread enters the comparison with the random schemes (one seed each): Welch's interval over
both. The random schemes run as the released code runs any scheme: the MRECG method with the
released joint stem and head units, only the merges drawn at random, so "released vs random"
measures which blocks are merged and nothing else.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from .. import methods, models
from ..merging.modcap import block_sizes
from ..merging.schemes import largest_unit
from ..study import stats
from ..study.runs import RunSpec
from ..study.sweeps import Study
from . import colour
from .saving import save_figure

WIDTHS = ("mobilenetv2_x1.0", "mobilenetv2_x0.75", "mobilenetv2_x0.5", "mobilenetv2_x0.35")
SWEEP = {
    "smoke": dict(models=("mobilenetv2_x0.5",), schemes=2, seed=0, mrecg_seeds=(0,), bits=(4, 4)),
    "mini": dict(models=("mobilenetv2_x0.5",), schemes=20, seed=0, mrecg_seeds=(0, 1, 2), bits=(3, 3)),
    "paper": dict(models=WIDTHS, schemes=20, seed=0, mrecg_seeds=(0, 1, 2), bits=(4, 4)),
}


def specs(study: Study) -> list[RunSpec]:
    """Per width: BRECQ (no merges) and MRECG's scheme at BRECQ's batch (granularity alone, like the
    random schemes), each with MRECG's seeds, and the random schemes at one seed."""
    sweep = study.sweep(SWEEP)
    seed = study.seeds_or((sweep["seed"],))[0]
    w, a = sweep["bits"]
    out = []
    for model in sweep["models"]:
        common = dict(w_bits=w, a_bits=a)
        for s in study.seeds_or(sweep["mrecg_seeds"]):
            out.append(study.spec(model, method="brecq", seed=s, **common))
            out.append(study.spec(model, method="mrecg+brecq", seed=s, **study.mrecg(model, expanded=False), **common))
        out += [study.spec(model, method="mrecg+brecq", scheme=f"random:{i}", seed=seed,
                           **study.mrecg(model, expanded=False), **common) for i in range(sweep["schemes"])]
    return out


def frame(records: Sequence[dict]) -> pd.DataFrame:
    """model, kind (BRECQ / MRECG / random), seed, top1, machine, seconds, merges and the largest
    unit's weight count."""
    sizes: dict[str, list[float]] = {}
    rows = []
    for r in records:
        model, cfg = r["spec"]["model"], r["config"]
        if model not in sizes:
            sizes[model] = block_sizes(models.build(model, models.variant(cfg["preset"])))
        merging_method = methods.get(cfg["method"]).selection is not None
        kind = "random" if r["scheme_source"].startswith("random:") else ("MRECG" if merging_method else "BRECQ")
        rows.append({"model": model, "kind": kind, "scheme": r["scheme_source"], "seed": cfg["seed"], "top1": r["top1"],
                     "machine": "/".join(map(str, stats.machine_of(r))),
                     "seconds": r["seconds"], "merges": sum(len(g) - 1 for g in r["scheme"]),
                     "largest_unit": largest_unit(r["scheme"], sizes[model])})
    return pd.DataFrame(rows)


def pareto_front(df: pd.DataFrame, cost: str = "largest_unit", value: str = "top1") -> pd.DataFrame:
    """Points not dominated by another (no other point is at most as costly and more accurate)."""
    ordered = df.sort_values([cost, value], ascending=[True, False])
    best, keep = -np.inf, []
    for idx, row in ordered.iterrows():
        if row[value] > best:
            keep.append(idx)
            best = row[value]
    return df.loc[keep]


def verdict(frame: pd.DataFrame) -> pd.DataFrame:
    """Per width: MRECG's rank among the random schemes (its mean over seeds), BRECQ's mean, and
    whether MRECG's seed-0 run is on the front (the random schemes have seed 0)."""
    out = []
    for model, g in frame.groupby("model", sort=False):
        random = g[g.kind == "random"].top1
        mrecg, brecq = g[g.kind == "MRECG"].top1.mean(), g[g.kind == "BRECQ"].top1.mean()
        g = g[(g.kind == "random") | (g.seed == g[g.kind == "random"].seed.min())]
        out.append({"model": model, "MRECG": mrecg, "BRECQ": brecq, "rank": int((random > mrecg).sum()) + 1,
                    "of": len(random) + 1, "random_median": random.median(), "random_min": random.min(),
                    "random_max": random.max(), "on_front": bool((pareto_front(g).kind == "MRECG").any())})
    return pd.DataFrame(out)


def claims(frame: pd.DataFrame) -> dict[str, tuple[stats.Paired, str]]:
    """Per width, the paper's claim as a difference: MRECG's scheme (mean over its seeds) minus a
    random scheme with as many merges (mean over the schemes), with Welch's 95 % interval over both
    spreads; beside it the verdict against zero, or why there is none (mixed machines, one MRECG seed)."""
    out = {}
    for model, g in frame.groupby("model", sort=False):
        random, mrecg = g[g.kind == "random"], g[g.kind == "MRECG"]
        if len(random) < 2 or len(mrecg) < 2:
            continue
        d = stats.welch(mrecg.top1.tolist(), random.top1.tolist())
        machines = set(random.machine) | set(mrecg.machine)
        word = (f"excluded: mixed machines ({' vs '.join(sorted(m.split('/')[-1] for m in machines))})"
                if len(machines) > 1 else f"against zero: {stats.against_zero(d)}")
        out[model] = (d, word)
    return out


def plot(frame: pd.DataFrame, stem: str | os.PathLike) -> list[Path]:
    """Left: accuracy of random schemes per width with BRECQ and MRECG marked. Right: accuracy
    against the largest unit's weight count, with each width's Pareto front."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 4.8))
    order = list(dict.fromkeys(frame.model))
    random = frame[frame.kind == "random"]
    np.random.seed(0)  # seaborn draws its jitter from numpy's global generator: the same numbers, the same PNG
    sns.stripplot(data=random, x="model", y="top1", order=order, color=colour("random"), size=6, jitter=0.15, ax=left,
                  label="random schemes")
    for kind, marker, color in (("BRECQ", "s", colour("brecq")), ("MRECG", "*", colour("mrecg+brecq"))):
        pts = frame[frame.kind == kind]
        left.scatter([order.index(m) for m in pts.model], pts.top1, marker=marker, s=160, color=color, zorder=3,
                     label=kind)
    handles, labels = left.get_legend_handles_labels()
    seen = dict(zip(labels, handles))
    left.legend(seen.values(), seen.keys(), fontsize=8)
    left.set_title("BRECQ with mixed granularity: random schemes vs MRECG")
    left.set_ylabel("top-1 accuracy (%)")
    for model, g in frame.groupby("model", sort=False):
        right.scatter(g.largest_unit, g.top1, s=[160 if k != "random" else 30 for k in g.kind], alpha=0.8,
                      marker="o", label=model)
        front = pareto_front(g).sort_values("largest_unit")
        right.step(front.largest_unit, front.top1, where="post", alpha=0.6)
        for kind in ("BRECQ", "MRECG"):
            for row in g[g.kind == kind].head(1).itertuples():
                right.annotate(kind, (row.largest_unit, row.top1), fontsize=8, xytext=(4, 4),
                               textcoords="offset points")
    right.set_xlabel("weights in the largest reconstruction unit (count)")
    right.set_ylabel("top-1 accuracy (%)")
    right.set_title("accuracy vs reconstruction cost, Pareto front per width")
    right.legend(fontsize=8)
    fig.tight_layout()
    paths = save_figure(fig, stem)
    plt.close(fig)
    return paths
