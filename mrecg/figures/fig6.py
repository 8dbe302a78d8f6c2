"""Fig. 6: reconstruction error along depth, and how much it oscillates.

The paper's claim: block-by-block reconstruction oscillates (the loss rises and falls along depth);
AdaRound oscillates most, BRECQ less, MRECG least. The paper plots one loss per reconstructed unit;
we plot that (:func:`unit_curves`) and, for every method alike, the error of every block's output
with quantized input on a fixed held-out batch (:func:`block_curves`), raw and normalised by the
float output's energy. Oscillation is measured by total variation and local maxima.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from .. import methods, noise, paper, stats
from ..experiments import RunSpec
from ..output import save_figure
from . import Study

ERROR_AXIS = "reconstruction error (sum over channels, mean over batch and positions)"
# label, method, merge scheme (MRECG rows)
RUNS = (
    ("round-to-nearest", "nearest", None),
    ("AdaRound", "adaround", None),
    ("BRECQ", "brecq", None),
    ("MRECG (released)", "mrecg+brecq", "official"),
    ("MRECG data-free (ours: ModCap)", "mrecg+brecq", "modcap:params"),
    ("MRECG data-dependent (ours: ModCap)", "mrecg+brecq", "modcap:loss"),
)
SWEEP = {"smoke": dict(models=("mobilenetv2_x0.5",), seeds=(0,), bits=(2, 4)),
         "mini": dict(models=("mobilenetv2_x0.5", "resnet18"), seeds=(0, 1, 2), bits=(2, 4)),
         "paper": dict(models=("mobilenetv2_x1.0", "resnet18"), seeds=(0, 1, 2), bits=(2, 4))}


def specs(study: Study) -> list[RunSpec]:
    sweep = study.sweep(SWEEP)
    w, a = sweep["bits"]
    out = []
    for model in sweep["models"]:
        for _, method, scheme in RUNS:
            extra = study.mrecg(model, ours=scheme if scheme != "official" else None) if scheme else {}
            out += [study.spec(model, method=method, w_bits=w, a_bits=a, seed=s, **extra)
                    for s in study.seeds_or(sweep["seeds"])]
    return out


def oscillation(values: Sequence[float]) -> dict:
    """Total variation (sum of ``|steps|``) and the number of strict interior local maxima."""
    v = np.asarray(values, dtype=float)
    maxima = int(np.sum((v[1:-1] > v[:-2]) & (v[1:-1] > v[2:]))) if len(v) > 2 else 0
    return {"total_variation": float(np.abs(np.diff(v)).sum()), "local_maxima": maxima}


def label_of(record: dict) -> str:
    cfg = record["config"]
    scheme = cfg["scheme"] if methods.get(cfg["method"]).selection is not None else None
    return {(m, s): label for label, m, s in RUNS}[(cfg["method"], scheme)]


def block_curves(records: Sequence[dict]) -> pd.DataFrame:
    """Long frame: model, label, seed, block, error, normalised (error / float output energy)."""
    rows = []
    for r in records:
        for e in r["errors"]:
            if e["block"] is not None:
                rows.append({"model": r["spec"]["model"], "label": label_of(r), "seed": r["config"]["seed"],
                             "block": e["block"], "error": e["error"], "normalised": e["error"] / e["fp_energy"]})
    return pd.DataFrame(rows)


def unit_curves(records: Sequence[dict]) -> pd.DataFrame:
    """The paper's plot: one reconstruction loss per reconstructed unit that holds blocks (a merged
    unit is one point, at its last block), after its optimisation, on the calibration set."""
    rows = []
    for r in records:
        for u in r["units"]:
            if u["blocks"] and "/" not in u["name"]:
                rows.append({"model": r["spec"]["model"], "label": label_of(r), "seed": r["config"]["seed"],
                             "block": u["blocks"][-1], "blocks": len(u["blocks"]), "loss": u["loss"]})
    return pd.DataFrame(rows)


def oscillation_table(curves: pd.DataFrame) -> pd.DataFrame:
    """Oscillation measures of each (model, label) curve (mean over seeds), raw and normalised."""
    mean = curves.groupby(["model", "label", "block"])[["error", "normalised"]].mean().reset_index()
    out = []
    for (model, label), g in mean.groupby(["model", "label"], sort=False):
        raw, norm = oscillation(g.error.tolist()), oscillation(g.normalised.tolist())
        out.append({"model": model, "curve": label, "TV raw": raw["total_variation"], "maxima raw": raw["local_maxima"],
                    "TV normalised": norm["total_variation"], "maxima normalised": norm["local_maxima"]})
    return pd.DataFrame(out)


def plot(curves: pd.DataFrame, stem: str | os.PathLike) -> list[Path]:
    """Per-block error along depth, raw (top) and normalised (bottom), one column per model;
    the paper's MobileNetV2 curves on a secondary axis for shape comparison."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    models = list(dict.fromkeys(curves.model))
    fig, axes = plt.subplots(2, len(models), figsize=(6.5 * len(models), 7), squeeze=False)
    ref = paper.fig6_curves()
    for col, model in enumerate(models):
        data = curves[curves.model == model]
        for row, y in enumerate(("error", "normalised")):
            ax = axes[row][col]
            sns.lineplot(data=data, x="block", y=y, hue="label", marker="o", ax=ax, errorbar=None)
            ax.set_title(f"{model}: {'per-block error' if y == 'error' else 'error / float output energy'}")
            ax.set_xlabel("block (network order)")
            ax.set_ylabel(ERROR_AXIS if y == "error" else "error / float output energy (ratio)")
            if row == 0 and model.startswith("mobilenetv2"):
                twin = ax.twinx()
                for key, style in (("brecq", ":"), ("mrecg_loss", "--")):
                    twin.plot(range(len(ref[key])), ref[key], style, color="grey", label=f"paper {key}")
                twin.set_ylabel("paper's Fig. 6 (ImageNet) loss")
                twin.legend(loc="upper center", fontsize=8)
            if row or col:
                ax.get_legend().remove() if ax.get_legend() else None
    fig.tight_layout()
    return save_figure(fig, stem)


def plot_units(units: pd.DataFrame, stem: str | os.PathLike) -> list[Path]:
    """The paper's Fig. 6: one reconstruction loss per unit along depth (mean over seeds), a merged
    unit drawn at its last block with a larger marker."""
    import matplotlib.pyplot as plt

    models = list(dict.fromkeys(units.model))
    fig, axes = plt.subplots(1, len(models), figsize=(6.5 * len(models), 4), squeeze=False)
    for ax, model in zip(axes[0], models):
        data = units[units.model == model].groupby(["label", "block"], sort=False)[["loss", "blocks"]].mean()
        for label, g in data.reset_index().groupby("label", sort=False):
            line, = ax.plot(g.block, g.loss, "-", label=label)
            ax.scatter(g.block, g.loss, s=20 + 40 * (g.blocks - 1), color=line.get_color())
        ax.set_title(f"{model}: loss per reconstructed unit")
        ax.set_xlabel("last block of the unit (network order)")
        ax.set_ylabel("unit reconstruction loss (sum over channels, mean over batch and positions)")
        ax.set_yscale("log")
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    paths = save_figure(fig, stem)
    plt.close(fig)
    return paths


def unit_floor(results_dir: str | os.PathLike, preset: str) -> float:
    """The per-unit claims' noise floor, as a fraction of a curve's total variation: the largest
    relative range of the unit-loss total variation among runs of one configuration on different
    machines and thread counts (``noise.json``'s rows, grouped as :func:`mrecg.noise.floor` groups
    them). 0 where the preset has no such measurement."""
    from ..fingerprint import computed_by

    groups: dict[tuple, list[float]] = {}
    for row in noise.rows(results_dir, preset):
        if row.get("unit_losses"):
            tv = oscillation(row["unit_losses"])["total_variation"]
            groups.setdefault((row["key"], computed_by(row["fingerprint"])), []).append(tv)
    return max(((max(v) - min(v)) / (sum(v) / len(v)) for v in groups.values() if len(v) > 1), default=0.0)


def claims(curves: pd.DataFrame, value: str = "normalised", relative_floor: float = 0.0) -> pd.DataFrame:
    """The paper's orderings on the total variation of ``value`` along depth, paired per seed: (claim,
    the curve that should oscillate more, the one that should oscillate less). On :func:`block_curves`
    use ``normalised`` (every method has a point per block); on :func:`unit_curves` (the paper's plot)
    use ``loss``, where a merged unit is one point. The floor of a claim is ``relative_floor`` times
    the larger of the two curves' mean total variation (:func:`unit_floor` measures it for the unit
    losses; nothing is measured for the per-block errors, where the floor is 0)."""
    orderings = (("AdaRound oscillates more than BRECQ", "AdaRound", "BRECQ"),
                 ("MRECG (released) oscillates less than BRECQ", "BRECQ", RUNS[3][0]),
                 ("MRECG (ours, data-dependent) oscillates less than BRECQ", "BRECQ", RUNS[5][0]),
                 ("MRECG data-dependent oscillates less than data-free (ours)", RUNS[4][0], RUNS[5][0]))
    tv = {(m, label, seed): oscillation(g.sort_values("block")[value].tolist())["total_variation"]
          for (m, label, seed), g in curves.groupby(["model", "label", "seed"])}
    out = []
    for model in dict.fromkeys(curves.model):
        for claim, more, less in orderings:
            seeds = sorted(s for (m, lab, s) in tv if m == model and lab == more and (m, less, s) in tv)
            if not seeds:
                continue
            a, b = [tv[(model, more, s)] for s in seeds], [tv[(model, less, s)] for s in seeds]
            d, floor = stats.paired(a, b), relative_floor * max(np.mean(a), np.mean(b))
            out.append({"model": model, "claim": claim, "difference": d.mean, "lo": d.lo, "hi": d.hi,
                        "seeds": d.n, "floor": floor, "verdict": stats.verdict(d, floor)})
    return pd.DataFrame(out)


def verdict_lines(records: Sequence[dict], relative_floor: float = 0.0) -> list[str]:
    """Every ordering claim, decided per block (normalised error: the same points for every method;
    no machine floor measured) and per unit (the paper's plot, raw loss: a merged unit is one point,
    so merging alone lowers the total variation; floor from ``relative_floor``, see :func:`unit_floor`),
    each with its paired 95 % interval over seeds."""
    views = (("per block", block_curves(records), "normalised", 0.0),
             ("per unit", unit_curves(records), "loss", relative_floor))
    lines = []
    for view, curves, value, relative in views:
        for row in claims(curves, value, relative).itertuples():
            spread = (f"[{row.lo:+.3f}, {row.hi:+.3f}] (95 %, {row.seeds} seeds)" if row.seeds > 1
                      else "(1 seed, no interval)")
            lines.append(f"{row.model}, {view}: {row.claim}: total variation of the {value} curve, more - less "
                         f"{row.difference:+.3f} {spread}, floor {row.floor:.3f}: {row.verdict}")
    return lines
