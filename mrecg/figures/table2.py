"""Table 2: what each of MRECG's two components contributes on MobileNetV2 x0.5.

The paper's claim (BRECQ baseline, W4A4): mixed reconstruction granularity +1.08 pt, the expanded
batch +0.74 pt, both together +2.24 pt, of the 11.58 pt BRECQ loses there. Ours is at W3A3 (at
W4A4 the mini model leaves under 2 pt of room): each row minus BRECQ per seed, with its 95 %
interval, as a fraction of our room, and against the paper's fraction scaled to our room. "+ both"
is Table 1's W3A3 MRECG+BRECQ cell: its verdict is Table 1's, not counted again here. Every row
but BRECQ runs as the released code runs an ablation: the MRECG method with its joint stem and head
units, "+ expanded batch" with no blocks merged. So each component's gain over BRECQ includes the
edge units, as the paper's does.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from .. import methods, models
from ..config import PRESETS
from ..merging.modcap import block_sizes
from ..study import paper, stats
from ..study.runs import RunSpec
from ..study.sweeps import Study
from . import machine_label

# (label, blocks merged, expanded batch): one component switched on at a time
ROWS = (
    ("BRECQ", False, False),
    ("+ mixed granularity", True, False),
    ("+ expanded batch", False, True),
    ("+ both (MRECG)", True, True),
)
MODEL = "mobilenetv2_x0.5"
# the paper's cell is W4A4 on ImageNet; on Fashion-MNIST W4A4 leaves about 1 pt to recover, W3A3 several
SWEEP = {"smoke": dict(seeds=(0,), bits=(4, 4)), "mini": dict(seeds=(0, 1, 2), bits=(3, 3)),
            "paper": dict(seeds=(0, 1, 2), bits=(4, 4))}


def specs(study: Study) -> list[RunSpec]:
    """BRECQ, then the released MRECG method with the released merges or none (a scheme of single
    blocks), at the baseline sizes or the expanded ones (so "+ both" is Table 1's MRECG run and
    "BRECQ" Table 1's BRECQ run)."""
    sweep = study.sweep(SWEEP)
    w, a = sweep["bits"]
    single_blocks = tuple((i,) for i in range(len(block_sizes(models.build(MODEL, models.variant(study.preset))))))
    out = []
    for seed in study.seeds_or(sweep["seeds"]):
        out.append(study.spec(MODEL, method="brecq", w_bits=w, a_bits=a, seed=seed))
        for _, merged, expand in ROWS[1:]:
            out.append(study.spec(MODEL, method="mrecg+brecq", w_bits=w, a_bits=a, seed=seed,
                                  **study.mrecg(MODEL, expand), **({} if merged else {"scheme": single_blocks})))
    return out


def row_of(record: dict) -> str:
    cfg = record["config"]
    if methods.get(cfg["method"]).selection is None:  # the baseline: the method merges nothing of its own
        return ROWS[0][0]
    merged = any(len(group) > 1 for group in record["scheme"])
    expand = cfg["batch_size"] > PRESETS[cfg["preset"]]["batch_size"]
    return {(m, e): label for label, m, e in ROWS}[(merged, expand)]


def paper_room() -> float:
    """What BRECQ* loses to quantization in the paper's Table 2 cell (MobileNetV2 x0.5, W4A4)."""
    t1 = paper.table1()
    cell = t1[(t1.model == MODEL) & (((t1.w_bits == 4) & (t1.a_bits == 4)) | (t1.method == "fp"))]
    top1 = cell.set_index("method").top1
    return float(top1["fp"] - top1["brecq"])


def frame(records: Sequence[dict]) -> pd.DataFrame:
    """Per row: mean, spread and seeds of ours; the paired gain over BRECQ with its 95 % interval,
    as a fraction of our room; the paper's gain and fraction (its cell, W4A4) and its fraction
    scaled to our room; the verdicts (none for a row whose pairs span two machines)."""
    by_row: dict[str, list[dict]] = {}
    for r in records:
        by_row.setdefault(row_of(r), []).append(r)
    base = by_row["BRECQ"]
    room = float(np.mean([r["fp_top1"] - r["top1"] for r in base]))
    paper_gain, theirs = paper.table2_gains(), paper_room()
    cfg = base[0]["config"]
    out = []
    for label, *_ in ROWS:
        mine = by_row[label]
        d, mixed = stats.compared(mine, base)
        fraction = stats.room_scaled([a["top1"] for a, _ in stats.by_seed(mine, base)],
                                     [b["top1"] for _, b in stats.by_seed(mine, base)],
                                     [b["fp_top1"] for _, b in stats.by_seed(mine, base)]).fraction
        scaled = paper_gain[label] / theirs * room
        if label == "BRECQ":
            zero = versus = ""
        elif label == ROWS[-1][0]:
            zero = versus = f"Table 1's W{cfg['w_bits']}A{cfg['a_bits']} cell"
        elif mixed:
            zero = versus = stats.excluded(mixed, d.n)
        else:
            zero, versus = stats.against_zero(d), stats.against_paper(d, scaled)
        out.append({"row": label, "cell": f"W{cfg['w_bits']}A{cfg['a_bits']}",
                    "ours": np.mean([r["top1"] for r in mine]),
                    "ours_std": np.std([r["top1"] for r in mine], ddof=1) if len(mine) > 1 else np.nan,
                    "seeds": len(mine), "room": room, "gain_ours": d.mean, "gain_lo": d.lo, "gain_hi": d.hi,
                    "fraction": fraction.mean, "fraction_lo": fraction.lo, "fraction_hi": fraction.hi,
                    "paper_cell": "W4A4", "gain_paper": paper_gain[label], "paper_fraction": paper_gain[label] / theirs,
                    "scaled_gain": scaled, "vs_zero": zero, "vs_paper": versus,
                    "machines": " + ".join(sorted({machine_label(r) for r in mine}))})
    return pd.DataFrame(out)


def mixed_records(records: Sequence[dict]) -> list[tuple[str, int, str, str]]:
    """Every component row's seed pairs with BRECQ that span two machines (comparison, seed, keys)."""
    by_row: dict[str, list[dict]] = {}
    for r in records:
        by_row.setdefault(row_of(r), []).append(r)
    return [m for label, *_ in ROWS[1:] for m in stats.mixed_keys(f"{label} vs BRECQ", by_row.get(label, []),
                                                                 by_row.get("BRECQ", []))]


def verdict_lines(table: pd.DataFrame) -> list[str]:
    """One line per component row: ours at our cell beside the paper's at its cell, in the room."""
    out = []
    for row in table.iloc[1:].itertuples():
        d = stats.Paired(row.gain_ours, row.gain_lo, row.gain_hi, row.seeds)
        out.append(f"{row.row} ({row.cell}; paper {row.paper_cell}): paper {row.gain_paper:+.2f} pt "
                   f"({row.paper_fraction:.0%} of its room), scaled to our {row.room:.2f} pt {row.scaled_gain:+.2f}; "
                   f"ours {d}, fraction {row.fraction:.0%}; against zero: {row.vs_zero}; "
                   f"against the paper: {row.vs_paper}")
    return out
