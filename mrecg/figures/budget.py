"""Beyond the paper: does MRECG's gain survive a converged baseline?

A short iteration budget measures under-converged AdaRound, not MRECG: a merged unit optimises more
parameters per step and can look better only because the baseline has not finished. MRECG+BRECQ's
gain over BRECQ at W2A4, paired per seed, against the iterations per unit; accuracy against total
optimisation steps (merged runs have fewer units); and the preset's own budget checked for
convergence (BRECQ within 1 pt of its best budget).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from .. import methods
from ..config import PRESETS
from ..study import stats
from ..study.runs import RunSpec
from ..study.sweeps import Study
from .saving import save_figure

SWEEP = {
    "smoke": dict(models=("mobilenetv2_x0.5",), iters=(10, 20, 40), seeds=(0,)),
    "mini": dict(models=("mobilenetv2_x0.5", "resnet18"), iters=(500, 1000, 2000), seeds=(0, 1, 2)),
    "paper": dict(models=("mobilenetv2_x0.5", "resnet18"), iters=(2500, 5000, 10_000, 20_000), seeds=(0, 1, 2)),
}


def specs(study: Study) -> list[RunSpec]:
    """BRECQ and MRECG+BRECQ at W2A4 for each iteration count (the preset's own count gives
    Table 1's runs)."""
    sweep = study.sweep(SWEEP)
    out = []
    for model in sweep["models"]:
        for it in sweep["iters"]:
            for method in ("brecq", "mrecg+brecq"):
                extra = study.mrecg(model) if methods.get(method).selection else {}
                out += [study.spec(model, method=method, w_bits=2, a_bits=4, seed=s, iters=it, **extra)
                        for s in study.seeds_or(sweep["seeds"])]
    return out


def frame(records: Sequence[dict]) -> pd.DataFrame:
    """model, method, iters, seed, top1, seconds, and the total optimisation steps (iterations
    times the number of reconstruction units: merged runs have fewer units)."""
    return pd.DataFrame(
        {"model": r["spec"]["model"], "method": r["config"]["method"], "iters": r["config"]["iters"],
         "seed": r["config"]["seed"], "top1": r["top1"], "seconds": r["seconds"],
         "units": len(r["units"]), "total_steps": r["config"]["iters"] * len(r["units"])}
        for r in records
    )


def gains(frame: pd.DataFrame) -> pd.DataFrame:
    """Per model and iteration count: BRECQ and MRECG means, MRECG's paired gain with its 95 %
    interval, and BRECQ's distance to its best-budget accuracy."""
    wide = frame.pivot_table(index=["model", "iters", "seed"], columns="method", values="top1").reset_index()
    out = []
    for (model, iters), g in wide.groupby(["model", "iters"]):
        g = g.dropna()
        d = stats.paired(g["mrecg+brecq"].tolist(), g["brecq"].tolist())
        out.append({"model": model, "iters": iters, "brecq": g.brecq.mean(), "brecq_std": g.brecq.std(),
                    "mrecg": g["mrecg+brecq"].mean(), "gain": d.mean, "gain_lo": d.lo, "gain_hi": d.hi,
                    "seeds": d.n})
    out = pd.DataFrame(out)
    out["brecq_below_best"] = out.groupby("model").brecq.transform("max") - out.brecq
    return out


def converged_iters(gains: pd.DataFrame, tolerance: float = 1.0) -> dict[str, int]:
    """Per model, the fewest iterations at which BRECQ is within ``tolerance`` points of its best
    mean accuracy over the sweep."""
    return {m: int(g[g.brecq_below_best <= tolerance].iters.min()) for m, g in gains.groupby("model")}


def plot(frame: pd.DataFrame, gains: pd.DataFrame, stem: str | os.PathLike) -> list[Path]:
    """Left: MRECG's gain over BRECQ against iterations per unit (mean and seed spread). Right:
    top-1 against total optimisation steps, so the methods are compared at matched compute."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 4.8))
    for model, g in gains.groupby("model"):
        yerr = np.vstack([g.gain - g.gain_lo, g.gain_hi - g.gain]) if g.gain_lo.notna().all() else None
        left.errorbar(g.iters, g.gain, yerr=yerr, marker="o", capsize=4, label=model)
    left.axhline(0, color="0.5", lw=0.8)
    left.set_xscale("log", base=2)
    left.set_xticks(sorted(gains.iters.unique()), [str(i) for i in sorted(gains.iters.unique())])
    left.set_xlabel("iterations per reconstruction unit")
    left.set_ylabel("MRECG+BRECQ - BRECQ, top-1 (pt), W2A4")
    left.set_title("paired gain against iteration budget (bars: 95 % interval)")
    left.legend()
    sns.lineplot(data=frame, x="total_steps", y="top1", hue="model", style="method", markers=True, errorbar="sd",
                 ax=right)
    right.set_xscale("log")
    right.set_xlabel("total optimisation steps (iterations x units)")
    right.set_ylabel("top-1 accuracy (%)")
    right.set_title("accuracy at matched total compute")
    fig.tight_layout()
    paths = save_figure(fig, stem)
    plt.close(fig)
    return paths


def verdict_lines(table: pd.DataFrame, preset: str, floor: float, tolerance: float = 1.0) -> list[str]:
    """Convergence of the preset's budget, then MRECG's gain at every budget."""
    chosen = PRESETS[preset]["iters"]
    lines = []
    for model, iters in converged_iters(table, tolerance).items():
        ok = chosen >= iters
        lines.append(f"{model}: BRECQ within {tolerance:g} pt of its best from {iters} iterations per unit; the "
                     f"{preset} preset uses {chosen}: "
                     f"{'converged' if ok else 'UNDER-CONVERGED: the other tables measure under-training'}")
    for row in table.itertuples():
        d = stats.Paired(row.gain, row.gain_lo, row.gain_hi, row.seeds)
        lines.append(f"{row.model} @ {row.iters}: MRECG+BRECQ - BRECQ {stats.explain(d, floor)}")
    return lines
