"""Table 1: top-1 after post-training quantization, ours beside the paper's, read in each cell's room.

The paper's claim: MRECG improves on its baseline (BRECQ or QDrop) at every bit-width, most on
MobileNetV2 and at low bit-widths. A cell's *room* is what its baseline loses to quantization
(float minus baseline); a gain is only comparable across cells, and with the paper, as the
fraction of that room it recovers. Ours: per cell and seed (same calibration images, one
machine), MRECG minus its baseline, the room and the recovered fraction, with 95 % intervals;
beside them the paper's room, gain and fraction, and the paper's gain scaled to our room
(:mod:`mrecg.study.stats`). The family-level answer (:func:`family`) pools the fraction over
every MRECG-vs-baseline cell; per-cell verdicts against zero carry Holm's correction over that family.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Collection, Sequence

import numpy as np
import pandas as pd

from .. import methods
from ..models import NAMES
from ..models import family as model_family
from ..study import paper, stats
from ..study.runs import RunSpec
from ..study.sweeps import Study
from . import colour, machine_label, method_label
from .saving import save_figure

METHODS = ("adaround", "brecq", "qdrop", "mrecg+brecq", "mrecg+qdrop")
# Which cells (model, (w_bits, a_bits)) each preset fills, with how many seeds, and on which models our
# ModCap-selected MRECG rows are added (``ours``).
BITS = ((4, 4), (2, 4), (3, 3), (2, 2))
SWEEP = {
    "smoke": dict(cells=(("resnet18", (4, 4)),), seeds=(0,), ours=()),
    # every cell of the paper for the two models, and the other widths where BRECQ loses most (W2A2)
    "mini": dict(cells=tuple((m, b) for m in ("mobilenetv2_x0.5", "resnet18") for b in BITS)
                 + tuple((m, (2, 2)) for m in ("mobilenetv2_x1.0", "mobilenetv2_x0.75", "mobilenetv2_x0.35")),
                 seeds=(0, 1, 2), ours=("mobilenetv2_x0.5", "resnet18")),
    "paper": dict(cells=tuple((m, b) for m in NAMES for b in BITS), seeds=(0, 1, 2), ours=()),
}


def specs(study: Study) -> list[RunSpec]:
    sweep = study.sweep(SWEEP)
    out = []
    for model, (w, a) in sweep["cells"]:
        runs = [(m, study.mrecg(model) if methods.get(m).baseline else {}) for m in METHODS]
        if model in sweep.get("ours", ()):
            runs.append(("mrecg+brecq", study.mrecg(model, ours="modcap:loss")))
        out += [study.spec(model, method=m, w_bits=w, a_bits=a, seed=s, **extra)
                for m, extra in runs for s in study.seeds_or(sweep["seeds"])]
    return out


def runs(records: Sequence[dict]) -> pd.DataFrame:
    """One row per run: model, bits, method, label, seed, top1, fp_top1, machine, and the record."""
    return pd.DataFrame(
        {"model": r["spec"]["model"], "bits": f"W{r['config']['w_bits']}A{r['config']['a_bits']}",
         "w_bits": r["config"]["w_bits"], "a_bits": r["config"]["a_bits"], "method": r["config"]["method"],
         "label": method_label(r["config"], r["spec"]["model"]), "seed": r["config"]["seed"], "top1": r["top1"],
         "fp_top1": r["fp_top1"], "machine": machine_label(r), "record": r}
        for r in records
    )


def paper_cells() -> pd.DataFrame:
    """Every MRECG-vs-baseline pair of the paper's Table 1 (48: 6 models x 4 bit-widths x 2
    baselines): model, bits, method, baseline, fp, baseline and method top-1, room, gain, fraction."""
    ref = paper.table1()
    fp = ref[ref.method == "fp"].set_index("model").top1
    top1 = ref[ref.method != "fp"].set_index(["model", "w_bits", "a_bits", "method"]).top1
    out = []
    for (model, w, a, method), value in top1.items():
        base = methods.get(method).baseline
        if base is None or (model, w, a, base) not in top1.index or math.isnan(value):
            continue
        cell = stats.PaperCell(float(fp[model]), float(top1[model, w, a, base]), float(value))
        out.append({"model": model, "bits": f"W{w}A{a}", "method": method, "baseline": base, "fp": cell.fp,
                    "baseline_top1": cell.baseline, "top1": cell.method, "room": cell.room, "gain": cell.gain,
                    "fraction": cell.fraction})
    return pd.DataFrame(out)


def _paper_cell(ref: pd.DataFrame, model: str, bits: str, method: str) -> stats.PaperCell | None:
    hit = ref[(ref.model == model) & (ref.bits == bits) & (ref.method == method)]
    if hit.empty:
        return None
    row = hit.iloc[0]
    return stats.PaperCell(row.fp, row.baseline_top1, row.top1)


def frame(records: Sequence[dict]) -> pd.DataFrame:
    """Ours (mean, std, seeds) beside the paper; for MRECG rows the room, the paired gain and the
    recovered fraction with their 95 % intervals, the paper's room, gain and fraction, the paper's
    gain scaled to our room, and the verdicts. A row whose pairs span two machines is flagged
    (``pairs``) and gets no verdict. Rows of the family (the released MRECG) carry Holm's adjusted
    p-value for ``gain > 0``; our ModCap rows are exploratory."""
    rows = runs(records)
    keys = ["model", "w_bits", "a_bits", "method", "label"]
    ours = rows.groupby(keys, sort=False).agg(bits=("bits", "first"), ours=("top1", "mean"), ours_std=("top1", "std"),
                                              seeds=("top1", "size"), ours_fp=("fp_top1", "first"),
                                              machines=("machine", lambda m: " + ".join(sorted(set(m))))).reset_index()
    ref = paper.table1()
    fp = ref[ref.method == "fp"][["model", "top1"]].rename(columns={"top1": "paper_fp"})
    ref = ref[ref.method != "fp"][["model", "w_bits", "a_bits", "method", "top1"]].rename(columns={"top1": "paper"})
    table = ours.merge(ref, on=["model", "w_bits", "a_bits", "method"], how="left").merge(fp, on="model", how="left")
    pcells = paper_cells()
    cells = []
    for row in table.itertuples():
        base = methods.get(row.method).baseline
        if base is None:
            cells.append({})
            continue
        cell = rows[(rows.model == row.model) & (rows.bits == row.bits)]
        pairs = stats.by_seed(cell[cell.label == row.label].record.tolist(), cell[cell.method == base].record.tolist())
        mixed = stats.mixed_pairs(pairs)
        r = stats.room_scaled([m["top1"] for m, _ in pairs], [b["top1"] for _, b in pairs],
                              [b["fp_top1"] for _, b in pairs], _paper_cell(pcells, row.model, row.bits, row.method))
        excluded = f"excluded: mixed machines ({len(mixed)} of {len(pairs)} seeds)" if mixed else ""
        cells.append({"room": r.room, "gain_ours": r.gain.mean, "gain_lo": r.gain.lo, "gain_hi": r.gain.hi,
                      "fraction": r.fraction.mean, "fraction_lo": r.fraction.lo, "fraction_hi": r.fraction.hi,
                      "paper_room": r.paper.room if r.paper else np.nan,
                      "gain_paper": r.paper.gain if r.paper else np.nan,
                      "paper_fraction": r.paper.fraction if r.paper else np.nan, "scaled_gain": r.scaled,
                      "vs_zero": excluded or stats.against_zero(r.gain),
                      "vs_paper": excluded or stats.against_paper(r.gain, r.scaled),
                      "p_one_sided": np.nan if mixed else r.gain.p_above_zero(), "pairs": excluded or "same machine",
                      "family": not mixed and "(ours" not in row.label,
                      "seed_gains": tuple(m["top1"] - b["top1"] for m, b in pairs)})
    table = pd.concat([table, pd.DataFrame(cells, index=table.index)], axis=1)
    in_family = table.family.fillna(False).astype(bool)
    table["p_holm"] = np.nan
    table.loc[in_family, "p_holm"] = stats.holm(table.loc[in_family, "p_one_sided"].tolist())
    table["order"] = table.method.map({m: i for i, m in enumerate(METHODS)})
    table = table.sort_values(["model", "w_bits", "a_bits", "order", "label"],
                              ascending=[True, False, False, True, True])
    columns = ["model", "bits", "label", "ours", "ours_std", "seeds", "ours_fp", "paper", "paper_fp", "room",
               "gain_ours", "gain_lo", "gain_hi", "fraction", "fraction_lo", "fraction_hi", "paper_room", "gain_paper",
               "paper_fraction", "scaled_gain", "vs_zero", "p_holm", "vs_paper", "pairs", "machines"]
    table = table.reindex(columns=columns + ["family", "seed_gains"]).rename(columns={"label": "method"})
    return table.reset_index(drop=True)


def shown(table: pd.DataFrame) -> pd.DataFrame:
    """The table as saved and displayed (without the bookkeeping columns)."""
    return table.drop(columns=["family", "seed_gains"])


HELD_OUT_MARK = " †"


def layout(table: pd.DataFrame, held_out: Collection[tuple[str, str]] = ()) -> pd.DataFrame:
    """Table 1 in the paper's own layout, every one of its 24 cells: a row per model and method (full
    precision first), a column per bit-width, each entry ours with the paper's ImageNet top-1 in
    brackets ("--" where we have not run it). Cells of ``held_out`` (model, ``W2A4``) are marked
    :data:`HELD_OUT_MARK`. Only the released methods: our ModCap rows are not the paper's."""
    ref = paper.table1()
    columns = ["full precision"] + [f"W{w}A{a}" for w, a in BITS]
    released = table[~table.method.str.contains("(ours", regex=False)]
    ours = {(r.model, r.method.split(" ")[0], r.bits): r for r in released.itertuples()}
    fp = {r.model: r.ours_fp for r in released.itertuples()}
    held_out, rows, index = set(held_out), [], []
    for model in NAMES:
        paper_fp = ref[(ref.model == model) & (ref.method == "fp")].top1.iloc[0]
        index.append((model, "full precision"))
        rows.append({"full precision": f"{fp[model]:.2f} ({paper_fp:.2f})" if model in fp else f"-- ({paper_fp:.2f})"})
        for method in METHODS:
            entries = {}
            for bits in columns[1:]:
                w, a = int(bits[1]), int(bits[3])
                hit = ref[(ref.model == model) & (ref.method == method) & (ref.w_bits == w) & (ref.a_bits == a)]
                theirs = f"{hit.top1.iloc[0]:.2f}" if len(hit) else "--"
                mine = ours.get((model, method, bits))
                mark = HELD_OUT_MARK if (model, bits) in held_out else ""
                entries[bits] = f"{mine.ours:.2f} ({theirs}){mark}" if mine is not None else f"-- ({theirs}){mark}"
            index.append((model, method))
            rows.append(entries)
    names = pd.DataFrame(index, columns=["model", "method"])
    return pd.concat([names, pd.DataFrame(rows, columns=columns).fillna("")], axis=1)


def comparisons(table: pd.DataFrame) -> pd.DataFrame:
    """The MRECG rows (one per cell and baseline) with their room-scaled columns; ``method_name``
    is the method without the label's note."""
    rows = table.dropna(subset=["gain_ours"]).reset_index(drop=True)
    return rows.assign(method_name=rows.method.str.split(" ").str[0])


def family(table: pd.DataFrame, cells: Collection[tuple[str, str]] | None = None) -> dict[str, stats.Pooled]:
    """The family-level answer: the recovered fraction pooled over every same-machine released-MRECG
    cell of ours (or only the (model, bits) ``cells``, e.g. a preregistered held-out set), over the
    paper's 48 pairs, and over the paper's pairs at our cells."""
    rows = comparisons(table)
    mine = rows[rows.family.astype(bool) & rows.fraction.notna()]  # a cell without room has no fraction
    if cells is not None:
        mine = mine[[(m, b) in set(cells) for m, b in zip(mine.model, mine.bits)]]
    ref = paper_cells()
    at_ours = ref.merge(mine[["model", "bits", "method_name"]].rename(columns={"method_name": "method"}),
                        on=["model", "bits", "method"])
    return {"ours": stats.pooled(mine.fraction.tolist(), mine.gain_ours.tolist(),
                                 [g for gains in mine.seed_gains for g in gains]),
            "paper": stats.pooled(ref.fraction.tolist(), ref.gain.tolist()),
            "paper at our cells": stats.pooled(at_ours.fraction.tolist(), at_ours.gain.tolist())}


def excluded(table: pd.DataFrame) -> pd.DataFrame:
    """The MRECG rows left out of the verdicts because their pairs span two machines."""
    rows = comparisons(table)
    return rows[rows.pairs != "same machine"]


def mixed_records(records: Sequence[dict]) -> list[tuple[str, str, str, str, int, str, str]]:
    """Every mixed-machine pair of the grid: (model, bits, method, baseline, seed, method record
    key, baseline record key), for the recompute."""
    rows = runs(records)
    out = []
    for (model, bits, label), g in rows.groupby(["model", "bits", "label"]):
        base = methods.get(g.method.iloc[0]).baseline
        if base is None:
            continue
        cell = rows[(rows.model == model) & (rows.bits == bits) & (rows.method == base)]
        for a, b in stats.mixed_pairs(stats.by_seed(g.record.tolist(), cell.record.tolist())):
            out.append((model, bits, label, base, a["config"]["seed"], a["key"], b["key"]))
    return out


def _group_rows(source: str, group: str, pairs: pd.DataFrame) -> dict:
    f = stats.mean_interval(pairs.fraction.tolist(), unit="cells")
    return {"source": source, "group": group, "cells": len(pairs), "room": pairs.room.mean(), "gain": pairs.gain.mean(),
            "fraction": f.mean, "fraction_lo": f.lo, "fraction_hi": f.hi}


def qualitative(table: pd.DataFrame) -> pd.DataFrame:
    """The paper's two qualitative claims asked as fraction and as room: mean room, gain and
    recovered fraction per bit-width and per model family, for the paper's Table 1 (all cells, and
    the cells we have) and for ours (same-machine released-MRECG cells), with the interval over cells."""
    mine = comparisons(table)
    mine = mine[mine.family.astype(bool) & mine.fraction.notna()].rename(columns={"gain_ours": "gain"})
    ref = paper_cells()
    at_ours = ref.merge(mine[["model", "bits", "method_name"]].rename(columns={"method_name": "method"}),
                        on=["model", "bits", "method"])
    out = []
    for source, pairs in (("paper", ref), ("paper at our cells", at_ours), ("ours", mine)):
        for bits in ("W4A4", "W2A4", "W3A3", "W2A2"):
            if (sel := pairs[pairs.bits == bits]).size:
                out.append(_group_rows(source, bits, sel))
        fam = pairs.model.map(model_family).replace({"resnet50": "resnet", "resnet18": "resnet"})
        for name in ("mobilenetv2", "resnet"):
            if (sel := pairs[fam == name]).size:
                out.append(_group_rows(source, name, sel))
    return pd.DataFrame(out)


def _row_name(row) -> str:
    return f"{row.model} {row.bits} {row.method} vs {methods.get(row.method_name).baseline}"


def verdict_lines(table: pd.DataFrame) -> list[str]:
    """The family-level answer first, then one line per MRECG row: ours in its room beside the paper."""
    pooled = family(table)
    lines = [f"family (released MRECG over its baseline, same-machine cells): ours {pooled['ours']}; paper "
             f"{pooled['paper']}; paper at our cells {pooled['paper at our cells']}"]
    for row in comparisons(table).itertuples():
        gain = stats.Paired(row.gain_ours, row.gain_lo, row.gain_hi, int(row.seeds))
        paper_part = ("paper: no cell" if np.isnan(row.gain_paper) else
                      f"paper {row.gain_paper:+.2f} pt of {row.paper_room:.2f} ({row.paper_fraction:.0%}), "
                      f"scaled to our room {row.scaled_gain:+.2f} pt")
        holm = "" if np.isnan(row.p_holm) else f", Holm p = {row.p_holm:.3f}"
        tag = "" if row.family else " [exploratory]" if row.pairs == "same machine" else ""
        fraction = (f"{row.fraction:.0%} [{row.fraction_lo:.0%}, {row.fraction_hi:.0%}]"
                    if row.fraction_lo == row.fraction_lo
                    else "no room, no fraction" if row.fraction != row.fraction else f"{row.fraction:.0%}")
        lines.append(f"{_row_name(row)}{tag}: room {row.room:.2f} pt; ours {gain}, fraction {fraction}; {paper_part}; "
                     f"against zero: {row.vs_zero}{holm}; against the paper: {row.vs_paper}")
    return lines


def plot_claims(table: pd.DataFrame, stem: str | os.PathLike) -> list[Path]:
    """The forest plot: every MRECG-vs-baseline cell's gain with its 95 % interval, the paper's gain
    scaled to our room as a diamond, the room in the row's name; right, the same as fractions."""
    import matplotlib.pyplot as plt

    rows = comparisons(table)
    n = len(rows)
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 0.32 * n + 1.8), sharey=True)
    y = np.arange(n)[::-1]
    for yi, row in zip(y, rows.itertuples()):
        mixed = row.pairs != "same machine"
        face = "white" if mixed or not row.family else colour(row.method)
        for ax, mean, lo, hi, mark in ((left, row.gain_ours, row.gain_lo, row.gain_hi, row.scaled_gain),
                                       (right, row.fraction, row.fraction_lo, row.fraction_hi, row.paper_fraction)):
            ax.errorbar(mean, yi, xerr=[[mean - lo], [hi - mean]], fmt="o", color=colour(row.method), mfc=face,
                        capsize=3, alpha=0.5 if mixed else 1)
            ax.scatter(mark, yi, marker="D", s=28, color=colour("paper"), zorder=3)
    names = [f"{_row_name(r)}, room {r.room:.2f}" + (" [mixed machines]" if r.pairs != "same machine" else "")
             for r in rows.itertuples()]
    left.set_yticks(y, names, fontsize=7)
    for ax in (left, right):
        ax.axvline(0, color="0.5", lw=0.8)
    left.set_xlabel("MRECG - baseline, top-1 (pt): mean and 95 % interval over seeds")
    right.set_xlabel("recovered fraction: gain / room")
    right.xaxis.set_major_formatter(plt.matplotlib.ticker.PercentFormatter(1.0))
    left.scatter([], [], marker="D", color=colour("paper"),
                 label="paper's fraction x our room (left) / paper's fraction")
    left.errorbar([], [], xerr=[], fmt="o", color="black", mfc="white", label="hollow: ours (ModCap) or mixed machines")
    left.legend(fontsize=7, loc="lower right")
    pooled = family(table)
    fig.suptitle(f"Table 1 in each cell's room. Recovered fraction pooled: ours {pooled['ours']}; "
                 f"paper {pooled['paper']}", fontsize=8)
    fig.tight_layout()
    paths = save_figure(fig, stem)
    plt.close(fig)
    return paths


def plot_gain_vs_room(table: pd.DataFrame, stem: str | os.PathLike,
                      held_out: Collection[tuple[str, str]] = ()) -> list[Path]:
    """Gain against room on log axes: the paper's 48 pairs and ours, with lines of constant recovered
    fraction; ``held_out`` cells (model, bits), e.g. a preregistered test's, get their own black
    outline. Gains at or below zero cannot sit on a log axis: they are drawn on the bottom edge."""
    import matplotlib.pyplot as plt

    rows = comparisons(table)
    rows = rows[rows.family.astype(bool) | (rows.pairs != "same machine")]
    ref = paper_cells()
    fig, ax = plt.subplots(figsize=(7, 5.5))
    floor = 0.01
    for base, marker in (("brecq", "s"), ("qdrop", "^")):
        p = ref[ref.baseline == base]
        ax.scatter(p.room, p.gain.clip(lower=floor), marker=marker, facecolors="none", edgecolors=colour("paper"),
                   label=f"paper, MRECG+{base.upper()} (ImageNet)")
        o = rows[rows.method.str.startswith(f"mrecg+{base}")]
        same = o.pairs == "same machine"
        for sel, face in ((same, None), (~same, "white")):
            pts = o[sel]
            if pts.empty:
                continue
            ax.errorbar(pts.room, pts.gain_ours.clip(lower=floor),
                        yerr=[(pts.gain_ours - pts.gain_lo.clip(lower=floor)).clip(lower=0),
                              pts.gain_hi - pts.gain_ours], fmt=marker, color=colour(f"mrecg+{base}"),
                        mfc=face or colour(f"mrecg+{base}"), capsize=2,
                        label=f"ours, MRECG+{base.upper()}" + (" (mixed machines)" if face else ""))
    held = rows[[(m, b) in set(held_out) for m, b in zip(rows.model, rows.bits)]]
    if not held.empty:
        ax.scatter(held.room, held.gain_ours.clip(lower=floor), s=160, facecolors="none", edgecolors="black",
                   linewidths=1.2, zorder=4, label="held-out cells (preregistered)")
    lims = np.array([0.1, 100.0])
    for f in (0.01, 0.03, 0.1, 0.3, 1.0):
        ax.plot(lims, f * lims, ":", color="0.7", lw=0.8)
        ax.annotate(f"{f:.0%}", (lims[1], f * lims[1]), fontsize=7, color="0.5", xytext=(-18, 2),
                    textcoords="offset points")
    ax.axhline(floor, color="0.8", lw=0.6)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(*lims)
    ax.set_ylim(floor * 0.8, 30)
    ax.set_xlabel("room: float - baseline top-1 (pt)")
    ax.set_ylabel(f"gain: MRECG - baseline (pt); at or below zero drawn at {floor}")
    ax.set_title("Table 1: gain against room; dotted lines: constant recovered fraction")
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    paths = save_figure(fig, stem)
    plt.close(fig)
    return paths
