"""Beyond the paper: does MRECG's gain survive a converged baseline?

A short iteration budget measures under-converged AdaRound, not MRECG: a merged unit optimises more
parameters per step and can look better only because the baseline has not finished. MRECG+BRECQ's
gain over BRECQ at W2A4, paired per seed, against the iterations per unit; accuracy against total
optimisation steps (merged runs have fewer units); and the preset's own budget checked for
convergence: BRECQ at twice the budget minus BRECQ at the budget, paired per seed, must have its
whole 95 % interval below :data:`TOLERANCE`. The gain at the preset's own budget is Table 1's
W2A4 cell and is not decided again here.
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
from . import colour
from .saving import save_figure

SWEEP = {
    "smoke": dict(models=("mobilenetv2_x0.5",), iters=(10, 20, 40), seeds=(0,)),
    "mini": dict(models=("mobilenetv2_x0.5", "resnet18"), iters=(500, 1000, 2000), seeds=(0, 1, 2)),
    "paper": dict(models=("mobilenetv2_x0.5", "resnet18"), iters=(2500, 5000, 10_000, 20_000), seeds=(0, 1, 2)),
}
# How much more a doubled budget may add to BRECQ for the budget to count as converged: a third of
# the smallest room of the two models' W2A4 cells on mini (0.9 pt), so that what more training could
# still add stays well inside what MRECG could recover there.
TOLERANCE = 0.3


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
         "machine": "/".join(map(str, stats.machine_of(r))),
         "units": len(r["units"]), "total_steps": r["config"]["iters"] * len(r["units"])}
        for r in records
    )


def _mixed(a: pd.Series, b: pd.Series) -> int:
    """How many seeds' two runs ran on different machines (``a`` and ``b`` indexed by seed)."""
    seeds = a.index.intersection(b.index)
    return int((a[seeds] != b[seeds]).sum())


def gains(frame: pd.DataFrame) -> pd.DataFrame:
    """Per model and iteration count: BRECQ and MRECG means, MRECG's paired gain with its 95 %
    interval, and how many of its seed pairs span two machines."""
    wide = frame.pivot_table(index=["model", "iters", "seed"], columns="method", values="top1").reset_index()
    where = frame.set_index(["model", "iters", "method", "seed"]).machine.sort_index()
    out = []
    for (model, iters), g in wide.groupby(["model", "iters"]):
        g = g.dropna()
        d = stats.paired(g["mrecg+brecq"].tolist(), g["brecq"].tolist())
        out.append({"model": model, "iters": iters, "brecq": g.brecq.mean(), "brecq_std": g.brecq.std(),
                    "mrecg": g["mrecg+brecq"].mean(), "gain": d.mean, "gain_lo": d.lo, "gain_hi": d.hi,
                    "seeds": d.n, "mixed": _mixed(where[model, iters, "mrecg+brecq"], where[model, iters, "brecq"])})
    return pd.DataFrame(out)


def convergence(frame: pd.DataFrame, preset: str) -> dict[str, tuple[stats.Paired, int, str]]:
    """Per model: BRECQ at twice the preset's budget minus BRECQ at it, paired per seed, the
    count of mixed-machine pairs, and the verdict against :data:`TOLERANCE`."""
    chosen = PRESETS[preset]["iters"]
    out = {}
    baseline = frame.method.map(lambda m: methods.get(m).baseline is None)
    for model, g in frame[baseline].groupby("model"):
        if not {chosen, 2 * chosen} <= set(g.iters):
            continue
        at = lambda it: g[g.iters == it].set_index("seed")  # noqa: E731
        seeds = sorted(set(at(chosen).index) & set(at(2 * chosen).index))
        d = stats.paired(at(2 * chosen).top1[seeds].tolist(), at(chosen).top1[seeds].tolist())
        mixed = _mixed(at(2 * chosen).machine, at(chosen).machine)
        if mixed:
            word = stats.excluded(mixed, d.n)
        elif d.n < 2:
            word = stats.ONE_SEED
        else:
            word = "converged" if d.hi < TOLERANCE else "not shown converged"
        out[model] = (d, mixed, word)
    return out


def plot(frame: pd.DataFrame, gains: pd.DataFrame, stem: str | os.PathLike) -> list[Path]:
    """Left: MRECG's gain over BRECQ against iterations per unit (mean and seed spread). Right:
    top-1 against total optimisation steps, so the methods are compared at matched compute."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 4.8))
    for (model, g), marker in zip(gains.groupby("model"), "osD^"):
        yerr = np.vstack([g.gain - g.gain_lo, g.gain_hi - g.gain]) if g.gain_lo.notna().all() else None
        left.errorbar(g.iters, g.gain, yerr=yerr, marker=marker, capsize=4, color=colour("mrecg+brecq"),
                      mfc="white" if model != gains.model.iloc[0] else None, label=model)
    left.axhline(0, color="0.5", lw=0.8)
    left.set_xscale("log", base=2)
    left.set_xticks(sorted(gains.iters.unique()), [str(i) for i in sorted(gains.iters.unique())])
    left.set_xlabel("iterations per reconstruction unit")
    left.set_ylabel("MRECG+BRECQ - BRECQ, top-1 (pt), W2A4")
    left.set_title("paired gain against iteration budget (bars: 95 % interval)")
    left.legend()
    sns.lineplot(data=frame, x="total_steps", y="top1", hue="method", style="model", markers=True, errorbar="sd",
                 palette={m: colour(m) for m in frame.method.unique()}, ax=right)
    right.set_xscale("log")
    right.set_xlabel("total optimisation steps (iterations x units)")
    right.set_ylabel("top-1 accuracy (%)")
    right.set_title("accuracy at matched total compute")
    fig.tight_layout()
    paths = save_figure(fig, stem)
    plt.close(fig)
    return paths


def mixed_records(records: Sequence[dict], preset: str) -> list[tuple[str, int, str, str]]:
    """Seed pairs that span two machines: MRECG vs BRECQ at every budget, and BRECQ at twice the
    preset's budget vs at it (the convergence check)."""
    by: dict[tuple[str, str, int], list[dict]] = {}
    for r in records:
        by.setdefault((r["spec"]["model"], r["config"]["method"], r["config"]["iters"]), []).append(r)
    chosen, out = PRESETS[preset]["iters"], []
    for model, method, iters in sorted(by):
        base = methods.get(method).baseline
        if base is not None and (model, base, iters) in by:
            out += stats.mixed_keys(f"{model} @ {iters}: {method} vs {base}", by[model, method, iters],
                                    by[model, base, iters])
        elif base is None and iters == 2 * chosen and (model, method, chosen) in by:
            out += stats.mixed_keys(f"{model}: {method} @ {iters} vs @ {chosen}", by[model, method, iters],
                                    by[model, method, chosen])
    return out


def verdict_lines(table: pd.DataFrame, frame: pd.DataFrame, preset: str) -> list[str]:
    """Convergence of the preset's budget, then MRECG's gain at every other budget (the preset's
    own is Table 1's W2A4 cell)."""
    chosen = PRESETS[preset]["iters"]
    lines = []
    for model, (d, _, word) in convergence(frame, preset).items():
        lines.append(f"{model}: BRECQ at {2 * chosen} minus at {chosen} iterations per unit {d}; converged when the "
                     f"interval lies below +{TOLERANCE:g} pt: {word}")
    for row in table.itertuples():
        d = stats.Paired(row.gain, row.gain_lo, row.gain_hi, row.seeds)
        if row.iters == chosen:
            lines.append(f"{row.model} @ {row.iters}: MRECG+BRECQ - BRECQ {d}: Table 1's W2A4 cell")
            continue
        word = stats.excluded(row.mixed, row.seeds) if row.mixed else f"against zero: {stats.against_zero(d)}"
        lines.append(f"{row.model} @ {row.iters}: MRECG+BRECQ - BRECQ {d}; {word}")
    return lines
