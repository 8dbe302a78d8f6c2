"""Table 2: what each of MRECG's two components contributes on MobileNetV2 x0.5.

The paper's claim (BRECQ baseline): mixed reconstruction granularity +1.08 pt, the expanded batch
+0.74 pt, both together +2.24 pt. Ours: each row minus BRECQ, per seed, with its 95 % interval.
"""

from __future__ import annotations

from typing import Sequence

import pandas as pd

from .. import methods
from ..config import PRESETS
from ..study import paper, stats
from ..study.runs import RunSpec
from ..study.sweeps import Study
from . import machine_label

# (label, method, expanded batch): one component switched on at a time
ROWS = (
    ("BRECQ", "brecq", False),
    ("+ mixed granularity", "mrecg+brecq", False),
    ("+ expanded batch", "brecq", True),
    ("+ both (MRECG)", "mrecg+brecq", True),
)
MODEL = "mobilenetv2_x0.5"
# the paper's cell is W4A4 on ImageNet; on Fashion-MNIST W4A4 leaves about 1 pt to recover, W3A3 several
SWEEP = {"smoke": dict(seeds=(0,), bits=(4, 4)), "mini": dict(seeds=(0, 1, 2), bits=(3, 3)),
            "paper": dict(seeds=(0, 1, 2), bits=(4, 4))}


def specs(study: Study) -> list[RunSpec]:
    """Rows without the expanded batch use the baseline sizes, rows with it the expanded ones
    (so "+ both" is Table 1's MRECG run and "BRECQ" Table 1's BRECQ run)."""
    sweep = study.sweep(SWEEP)
    w, a = sweep["bits"]
    out = []
    for seed in study.seeds_or(sweep["seeds"]):
        for _, method, expand in ROWS:
            mrecg = study.mrecg(MODEL, expand)
            if methods.get(method).selection is None:  # the baseline, with MRECG's sizes for "+ expanded batch"
                full = study.spec(MODEL, method="mrecg+brecq", w_bits=w, a_bits=a, seed=seed, **mrecg).resolved()
                mrecg = dict(calib_size=full.calib_size, batch_size=full.batch_size) if expand else {}
            out.append(study.spec(MODEL, method=method, w_bits=w, a_bits=a, seed=seed, **mrecg))
    return out


def row_of(record: dict) -> str:
    cfg = record["config"]
    expand = cfg["batch_size"] > PRESETS[cfg["preset"]]["batch_size"]
    return {(m, e): label for label, m, e in ROWS}[(cfg["method"], expand)]


def frame(records: Sequence[dict], floor: float) -> pd.DataFrame:
    """Per row: mean, spread and seeds of ours; the paired gain over BRECQ with its 95 % interval
    and verdict; the paper's gain; the machines that computed the row."""
    df = pd.DataFrame({"row": row_of(r), "seed": r["config"]["seed"], "top1": r["top1"], "machine": machine_label(r)}
                      for r in records)
    wide = df.pivot_table(index="seed", columns="row", values="top1")
    paper_gain = paper.table2_gains()
    out = []
    for label, *_ in ROWS:
        a, b = wide[label], wide["BRECQ"]
        seeds = a.notna() & b.notna()
        d = stats.paired(a[seeds].tolist(), b[seeds].tolist())
        out.append({"row": label, "ours": wide[label].mean(), "ours_std": wide[label].std(),
                    "seeds": int(wide[label].count()), "gain_ours": d.mean, "gain_lo": d.lo, "gain_hi": d.hi,
                    "gain_paper": paper_gain[label], "verdict": stats.verdict(d, floor) if label != "BRECQ" else "",
                    "machines": " + ".join(sorted(set(df[df.row == label].machine)))})
    return pd.DataFrame(out)


def verdict_lines(table: pd.DataFrame, floor: float) -> list[str]:
    return [f"{row.row}: paper {row.gain_paper:+.2f} pt; ours "
            f"{stats.explain(stats.Paired(row.gain_ours, row.gain_lo, row.gain_hi, row.seeds), floor)}"
            for row in table.iloc[1:].itertuples()]
