"""Table 1: top-1 after post-training quantization, ours beside the paper's.

The paper's claim: MRECG improves on its baseline (BRECQ or QDrop) at every bit-width, most on
MobileNetV2 and at low bit-widths. Ours: per cell, MRECG minus its baseline per seed (same
calibration images), with the 95 % interval and a verdict against the noise floor.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from .. import methods
from ..models import NAMES
from ..study import paper, stats
from ..study.runs import RunSpec
from ..study.sweeps import Study
from . import machine_label, method_label

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
    """One row per run: model, bits, method, label, seed, top1, fp_top1, machine."""
    return pd.DataFrame(
        {"model": r["spec"]["model"], "bits": f"W{r['config']['w_bits']}A{r['config']['a_bits']}",
         "w_bits": r["config"]["w_bits"], "a_bits": r["config"]["a_bits"], "method": r["config"]["method"],
         "label": method_label(r["config"]), "seed": r["config"]["seed"], "top1": r["top1"], "fp_top1": r["fp_top1"],
         "machine": machine_label(r)}
        for r in records
    )


def frame(records: Sequence[dict], floor: float) -> pd.DataFrame:
    """Ours (mean, std, seeds) beside the paper; for MRECG rows the paired gain over the baseline
    with its 95 % interval and verdict; the machines that computed each row."""
    rows = runs(records)
    keys = ["model", "w_bits", "a_bits", "method", "label"]
    ours = rows.groupby(keys, sort=False).agg(bits=("bits", "first"), ours=("top1", "mean"), ours_std=("top1", "std"),
                                              seeds=("top1", "size"), ours_fp=("fp_top1", "first"),
                                              machines=("machine", lambda m: " + ".join(sorted(set(m))))).reset_index()
    ref = paper.table1()
    fp = ref[ref.method == "fp"][["model", "top1"]].rename(columns={"top1": "paper_fp"})
    ref = ref[ref.method != "fp"][["model", "w_bits", "a_bits", "method", "top1"]].rename(columns={"top1": "paper"})
    table = ours.merge(ref, on=["model", "w_bits", "a_bits", "method"], how="left").merge(fp, on="model", how="left")
    gains = []
    for row in table.itertuples():
        base = methods.get(row.method).baseline
        if base is None:
            gains.append({})
            continue
        cell = rows[(rows.model == row.model) & (rows.bits == row.bits)]
        mine = cell[cell.label == row.label].set_index("seed").top1
        theirs = cell[cell.method == base].set_index("seed").top1
        seeds = sorted(set(mine.index) & set(theirs.index))
        d = stats.paired([mine[s] for s in seeds], [theirs[s] for s in seeds])
        paper_base = table[(table.model == row.model) & (table.bits == row.bits) & (table.method == base)].paper
        gains.append({"gain_ours": d.mean, "gain_lo": d.lo, "gain_hi": d.hi, "verdict": stats.verdict(d, floor),
                      "gain_paper": row.paper - paper_base.iloc[0] if len(paper_base) else np.nan})
    table = pd.concat([table, pd.DataFrame(gains, index=table.index)], axis=1)
    table["order"] = table.method.map({m: i for i, m in enumerate(METHODS)})
    table = table.sort_values(["model", "w_bits", "a_bits", "order", "label"], ascending=[True, False, False, True, True])
    columns = ["model", "bits", "label", "ours", "ours_std", "seeds", "ours_fp", "paper", "paper_fp",
               "gain_ours", "gain_lo", "gain_hi", "gain_paper", "verdict", "machines"]
    return table.reindex(columns=columns).rename(columns={"label": "method"}).reset_index(drop=True)


def verdict_lines(table: pd.DataFrame, floor: float) -> list[str]:
    """One line per MRECG row: the paper's gain, ours with its interval, the verdict."""
    out = []
    for row in table.dropna(subset=["gain_ours"]).itertuples():
        d = stats.Paired(row.gain_ours, row.gain_lo, row.gain_hi, int(row.seeds))
        paper_gain = "not reported" if np.isnan(row.gain_paper) else f"{row.gain_paper:+.2f} pt"
        out.append(f"{row.model} {row.bits} {row.method}: paper {paper_gain}; ours {stats.explain(d, floor)}")
    return out
