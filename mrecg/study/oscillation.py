"""Oscillation measured the same way on any curve of per-block errors, and the theorem's claims decided
on the toy's records (:mod:`mrecg.study.toy`) with paired intervals over seeds.

These functions read records; they do not change a record's numbers, so they are not part of the
code fingerprint (as :mod:`mrecg.figures` is not).
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import pandas as pd

from . import stats


def oscillation(values: Sequence[float]) -> dict:
    """Total variation (sum of ``|steps|``) and the number of strict interior local maxima."""
    v = np.asarray(values, dtype=float)
    maxima = int(np.sum((v[1:-1] > v[:-2]) & (v[1:-1] > v[2:]))) if len(v) > 2 else 0
    return {"total_variation": float(np.abs(np.diff(v)).sum()), "local_maxima": maxima}


def excess_variation(values: Sequence[float]) -> float:
    """Total variation beyond the net change: 0 for a monotone curve, twice the total fall of a
    rising one. Oscillation that a trend alone cannot produce."""
    steps = [b - a for a, b in zip(values, values[1:])]
    return sum(abs(s) for s in steps) - abs(sum(steps))


def oscillation_share(values: Sequence[float]) -> float:
    """:func:`excess_variation` over the total variation (0 monotone, towards 1 a pure zigzag):
    scale-free, so a raw loss and a normalised error can be put on one axis."""
    tv = sum(abs(b - a) for a, b in zip(values, values[1:]))
    return excess_variation(values) / tv if tv > 0 else 0.0


def block_values(errors: Sequence[dict], value: str = "normalised") -> list[float]:
    """Each block's error on the held-out batch in network order: raw (``error``, summed over
    channels) or ``normalised`` by the float output's energy."""
    blocks = sorted((e for e in errors if e["block"] is not None), key=lambda e: e["block"])
    return [e["error"] / e["fp_energy"] if value == "normalised" else e["error"] for e in blocks]


def output_error(errors: Sequence[dict]) -> float:
    """The network output's (logits') error normalised by their energy: what PTQ exists to reduce."""
    return errors[-1]["error"] / errors[-1]["fp_energy"]


def unit_ends(scheme: Sequence[Sequence[int]]) -> list[int]:
    """The block at which each unit of a block scheme ends: the points two partitions share."""
    return [group[-1] for group in scheme]


def capacity_contrast(values: Sequence[float], comparable: Sequence[bool] | None = None) -> float:
    """Mean ``|log2|`` ratio of adjacent (comparable) blocks' ModCap: 0 when all are equal; the toy's
    is ``log2((bits + contrast) / bits)``."""
    comparable = list(comparable) if comparable is not None else [True] * (len(values) - 1)
    logs = [abs(math.log2(b / a)) for a, b, ok in zip(values, values[1:], comparable) if ok]
    return sum(logs) / len(logs) if logs else 0.0


def step_means(record: dict, value: str = "normalised") -> dict:
    """Mean error step where ModCap rises and where it drops, and the steps that follow the
    theorem's sign (a rise lowers the loss, a drop raises it) as a share of the capacity steps."""
    v, cap = block_values(record["errors"], value), record["modcap"]
    pairs = [(b - a, c2 - c1) for a, b, c1, c2 in zip(v, v[1:], cap, cap[1:])]
    rises, drops = [d for d, c in pairs if c > 0], [d for d, c in pairs if c < 0]
    signed = [(d < 0) if c > 0 else (d > 0) for d, c in pairs if c != 0]
    mean = lambda xs: sum(xs) / len(xs) if xs else math.nan  # noqa: E731
    return {"rise": mean(rises), "drop": mean(drops), "agree": mean([float(s) for s in signed])}


def frame(records: Sequence[dict], value: str = "normalised") -> pd.DataFrame:
    """One row per toy run: setting, seed, the block curve, its excess variation, output error, top-1."""
    rows = []
    for r in records:
        curve = block_values(r["errors"], value)
        rows.append({**r["setting"], "seed": r["seed"], "curve": curve, "excess": excess_variation(curve),
                     "output": output_error(r["errors"]), "top1": r["top1"], "scheme": r["scheme"],
                     **{f"step_{k}": v for k, v in step_means(r, value).items()}})
    return pd.DataFrame(rows)


def claim_verdict(d: stats.Paired) -> str:
    """A claim that ``d > 0``: ``supported`` when its interval lies above zero, ``contradicted`` below,
    else ``undecided`` (always with one seed)."""
    return {"above zero": "supported", "below zero": "contradicted"}.get(stats.against_zero(d), "undecided")


def _row(claim: str, setting: tuple, a: Sequence[float], b: Sequence[float]) -> dict:
    d = stats.paired(list(a), list(b))
    return {"claim": claim, "contrast": setting[0], "bits": setting[1], "k": setting[2], "mean": d.mean, "lo": d.lo,
            "hi": d.hi, "seeds": d.n, "verdict": claim_verdict(d)}


def claims(records: Sequence[dict], value: str = "normalised") -> pd.DataFrame:
    """The theorem's claims (a)-(c), each decided per setting by a paired 95 % interval over seeds
    (floor 0): ``supported`` when the whole interval is on the claimed side, ``contradicted`` when it
    is wholly on the other, else ``undecided``. Claim (d) is reading the rows at contrast 0.

    (a) the block-by-block curve oscillates (excess variation > 0), and more than at the next lower
    contrast of the sweep; (b) where ModCap rises the error falls (mean step < 0, stated as ``-step >
    0``), where it drops the error rises; (c) merging the top-k pairs lowers the excess variation at
    every block end and at the merged units' ends (the same points in both runs; left out where a
    scheme has fewer than three units, as two points cannot oscillate), and lowers the output error. ``mean`` is the claimed quantity (a difference where two runs are compared).
    """
    f = frame(records, value)
    seq = f[f.k == 0].set_index(["bits", "contrast", "seed"]).sort_index()
    out = []
    for bits in sorted(set(f.bits)):
        contrasts = sorted(set(seq.loc[bits].index.get_level_values(0))) if bits in seq.index else []
        for i, c in enumerate(contrasts):
            s = seq.loc[(bits, c)]
            seeds = list(s.index)
            out.append(_row("(a) the block-by-block error oscillates", (c, bits, 0), s.excess, [0.0] * len(s)))
            if i:
                prev = seq.loc[(bits, contrasts[i - 1])]
                both = [x for x in seeds if x in prev.index]
                out.append(_row(f"(a) it oscillates more than at contrast {contrasts[i - 1]}", (c, bits, 0),
                                s.excess[both], prev.excess[both]))
            if c > 0:
                out.append(_row("(b) the error falls where ModCap rises", (c, bits, 0), -s.step_rise, [0.0] * len(s)))
                out.append(_row("(b) the error rises where ModCap drops", (c, bits, 0), s.step_drop, [0.0] * len(s)))
            for k in sorted(set(f[(f.bits == bits) & (f.contrast == c) & (f.k > 0)].k)):
                merged = f[(f.bits == bits) & (f.contrast == c) & (f.k == k)].set_index("seed")
                both = [x for x in seeds if x in merged.index]
                ends = {x: unit_ends(merged.scheme[x]) for x in both}
                at_ends = lambda curves: [excess_variation([curves[x][b] for b in ends[x]]) for x in both]  # noqa: E731
                out.append(_row("(c) merging lowers the oscillation at every block end", (c, bits, k),
                                s.excess[both], merged.excess[both]))
                if min(len(e) for e in ends.values()) >= 3:  # two points cannot oscillate
                    out.append(_row("(c) merging lowers the oscillation at the merged units' ends", (c, bits, k),
                                    at_ends(s.curve), at_ends(merged.curve)))
                out.append(_row("(c) merging lowers the output error", (c, bits, k), s.output[both],
                                merged.output[both]))
    return pd.DataFrame(out)


def verdict_lines(table: pd.DataFrame) -> list[str]:
    """Each claim in one line, its interval and its verdict, with "no" spelled out."""
    words = {"supported": "yes", "contradicted": "no (the opposite holds)", "undecided": "no (not shown)"}
    lines = []
    for r in table.itertuples():
        where = f"W{r.bits}/W{r.bits + r.contrast}, contrast {r.contrast}" + (f", k = {r.k}" if r.k else "")
        spread = f"[{r.lo:+.4f}, {r.hi:+.4f}]" if r.seeds > 1 else "(1 seed, no interval)"
        lines.append(f"{where}: {r.claim}: {r.mean:+.4f} {spread} (95 %, {r.seeds} seeds): {words[r.verdict]}")
    return lines


def plainly(table: pd.DataFrame) -> list[str]:
    """One sentence per claim: the settings where the interval shows it, and those where it does not."""
    def where(r) -> str:
        return f"contrast {r.contrast}" + (f" (k = {r.k})" if r.k else "")

    out = []
    for claim in sorted(dict.fromkeys(table.claim), key=lambda c: c[:3]):  # (a), (b), (c); first seen first within
        g = table[table.claim == claim]
        yes = [where(r) for r in g.itertuples() if r.verdict == "supported"]
        opposite = [where(r) for r in g.itertuples() if r.verdict == "contradicted"]
        open_ = [where(r) for r in g.itertuples() if r.verdict == "undecided"]
        parts = [f"yes at {', '.join(yes)}" if yes else "yes nowhere"]
        parts += [f"no, the opposite holds, at {', '.join(opposite)}"] if opposite else []
        parts += [f"no, not shown by the interval, at {', '.join(open_)}"] if open_ else []
        out.append(f"{claim}: {'; '.join(parts)}.")
    return out
