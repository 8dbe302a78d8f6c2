"""Fig. 6: reconstruction error along depth, and how much it oscillates.

The paper's claim: block-by-block reconstruction oscillates (the loss rises and falls along depth);
AdaRound oscillates most, BRECQ less, MRECG least. The paper plots one loss per reconstructed unit;
we plot that (:func:`unit_curves`) and, for every method alike, the error of every block's output
with quantized input on a fixed held-out batch (:func:`block_curves`), raw and normalised by the
float output's energy. Oscillation is measured by total variation and local maxima.

A merged unit is one point on the per-unit plot, so a curve with fewer points sums fewer jumps:
total variation compares curves only at the points both have (BRECQ's curve sampled at MRECG's unit
ends). The paper's own Fig. 6 has the same property (:func:`paper_matched`). Orderings are paired
per seed, decided against zero, and only between runs of one machine.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from .. import methods
from ..study import paper, stats
from ..study.oscillation import oscillation
from ..study.runs import RunSpec
from ..study.sweeps import Study
from . import colour
from .saving import save_figure

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
                             "block": e["block"], "error": e["error"], "normalised": e["error"] / e["fp_energy"],
                             "machine": "/".join(map(str, stats.machine_of(r)))})
    return pd.DataFrame(rows)


def unit_curves(records: Sequence[dict]) -> pd.DataFrame:
    """The paper's plot: one reconstruction loss per reconstructed unit that holds blocks (a merged
    unit is one point, at its last block), after its optimisation, on the calibration set."""
    rows = []
    for r in records:
        for u in r["units"]:
            if u["blocks"] and "/" not in u["name"]:
                rows.append({"model": r["spec"]["model"], "label": label_of(r), "seed": r["config"]["seed"],
                             "block": u["blocks"][-1], "blocks": len(u["blocks"]), "loss": u["loss"],
                             "machine": "/".join(map(str, stats.machine_of(r)))})
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
            sns.lineplot(data=data, x="block", y=y, hue="label", marker="o", ax=ax, errorbar=None,
                         palette={label: colour(label) for label in data.label.unique()})
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
            line, = ax.plot(g.block, g.loss, "-", label=label, color=colour(label))
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


MATCHED = "brecq at mrecg's unit ends"


def paper_unit_ends(curve: Sequence[float]) -> list[int]:
    """The last block of each unit of a curve read off the paper's Fig. 6, where a merged unit
    shows as a run of equal values."""
    return [i for i in range(len(curve)) if i == len(curve) - 1 or curve[i + 1] != curve[i]]


def paper_matched() -> dict[str, float]:
    """Total variation of the paper's Fig. 6 curves: BRECQ at every block, MRECG at its units, and
    BRECQ at MRECG's unit ends (the comparison at matched points)."""
    ref = paper.fig6_curves()
    ends = paper_unit_ends(ref["mrecg_loss"])
    tv = lambda values: oscillation(list(values))["total_variation"]  # noqa: E731
    return {"brecq": tv(ref["brecq"]), "mrecg": tv(ref["mrecg_loss"][i] for i in ends),
            MATCHED: tv(ref["brecq"][i] for i in ends), "points": len(ends),
            "blocks": len(ref["brecq"])}


ORDERINGS = (("AdaRound oscillates more than BRECQ", "AdaRound", "BRECQ"),
             ("MRECG (released) oscillates less than BRECQ", "BRECQ", RUNS[3][0]),
             ("MRECG (ours, data-dependent) oscillates less than BRECQ", "BRECQ", RUNS[5][0]),
             ("MRECG data-dependent oscillates less than data-free (ours)", RUNS[4][0], RUNS[5][0]))


def claims(curves: pd.DataFrame, value: str = "normalised") -> pd.DataFrame:
    """The paper's orderings on the total variation of ``value`` along depth, at the points both
    curves have (per seed, the blocks where both end a unit), paired per seed: (claim, the curve that
    should oscillate more, the one that should oscillate less). On :func:`block_curves` use
    ``normalised`` (every method has every block); on :func:`unit_curves` (the paper's plot) ``loss``.
    A claim whose pairs span two machines gets no verdict."""
    groups = {key: g.sort_values("block") for key, g in curves.groupby(["model", "label", "seed"])}
    out = []
    for model in dict.fromkeys(curves.model):
        for claim, more, less in ORDERINGS:
            seeds = sorted(s for (m, lab, s) in groups if m == model and lab == more and (m, less, s) in groups)
            if not seeds:
                continue
            a, b, points, mixed = [], [], [], 0
            for s in seeds:
                x, y = groups[(model, more, s)], groups[(model, less, s)]
                common = sorted(set(x.block) & set(y.block))
                a.append(oscillation(x.set_index("block")[value][common].tolist())["total_variation"])
                b.append(oscillation(y.set_index("block")[value][common].tolist())["total_variation"])
                points.append(len(common))
                mixed += x.machine.iloc[0] != y.machine.iloc[0]
            d = stats.paired(a, b)
            verdict = stats.excluded(mixed, d.n) if mixed else stats.against_zero(d)
            out.append({"model": model, "claim": claim, "points": min(points), "more": np.mean(a), "less": np.mean(b),
                        "difference": d.mean, "lo": d.lo, "hi": d.hi, "seeds": d.n, "verdict": verdict})
    return pd.DataFrame(out)


def mixed_records(records: Sequence[dict]) -> list[tuple[str, int, str, str]]:
    """Every ordering's seed pairs that span two machines (comparison, seed, keys)."""
    by: dict[tuple[str, str], list[dict]] = {}
    for r in records:
        by.setdefault((r["spec"]["model"], label_of(r)), []).append(r)
    return [m for model in dict.fromkeys(k[0] for k in by) for _, more, less in ORDERINGS
            if (model, more) in by and (model, less) in by
            for m in stats.mixed_keys(f"{model}: {more} vs {less}", by[model, more], by[model, less])]


def verdict_lines(records: Sequence[dict]) -> list[str]:
    """Every ordering claim, per block (normalised error: every method has every block) and per
    unit (the paper's plot, raw loss, at the unit ends both curves share), each with its paired 95 %
    interval over seeds; then the same matched comparison on the paper's own Fig. 6 values."""
    views = (("per block", block_curves(records), "normalised"), ("per unit", unit_curves(records), "loss"))
    lines = []
    for view, curves, value in views:
        for row in claims(curves, value).itertuples():
            spread = (f"[{row.lo:+.3f}, {row.hi:+.3f}] (95 %, {row.seeds} seeds)" if row.seeds > 1
                      else "(1 seed, no interval)")
            lines.append(f"{row.model}, {view} at {row.points} shared points: {row.claim}: total variation of the "
                         f"{value} curve, more - less {row.difference:+.3f} {spread}: {row.verdict}")
    ref = paper_matched()
    lines.append(f"paper's Fig. 6 (MobileNetV2, ImageNet): BRECQ's total variation {ref['brecq']:.1f} over "
                 f"{ref['blocks']} blocks, MRECG's {ref['mrecg']:.1f} over its {ref['points']} units; BRECQ at MRECG's "
                 f"unit ends {ref[MATCHED]:.1f}")
    return lines
