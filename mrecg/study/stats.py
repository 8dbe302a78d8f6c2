"""Paired differences over seeds, their 95 % intervals, and the verdicts worded from them.

Methods are compared per seed on the same calibration images (a seed draws the calibration set),
so the quantity of interest is the mean of the per-seed differences. Its 95 % interval is
Student's t interval, ``mean +- t(0.975, n - 1) * sd / sqrt(n)``. A verdict also needs the noise
floor: how much the same run moves across machines and thread counts (measured by
``benchmarks/run_to_run.py``); an effect that the interval cannot put beyond it is not a gain.

Verdict on a claim that ``a`` beats ``b`` (difference ``a - b`` > 0), with interval ``[lo, hi]``
and noise floor ``f``:

* ``supported``: ``lo > f`` -- the whole interval is a gain larger than the noise;
* ``contradicted``: ``hi < f`` -- a gain larger than the noise is excluded (the effect is absent
  or reversed);
* ``undecided``: otherwise, and always with fewer than two seeds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

# t(0.975, df) for df = 1..30; beyond, the normal quantile is within 2 %.
T_975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
         2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042)


def t_quantile(df: int) -> float:
    if df < 1:
        raise ValueError(f"a t interval needs at least 2 values (df >= 1), got df = {df}")
    return T_975[df - 1] if df <= len(T_975) else 1.96


@dataclass(frozen=True)
class Paired:
    """Mean of per-seed differences with its 95 % interval (NaN bounds with fewer than 2 seeds).
    ``unit`` names what the differences run over where it is not seeds (Fig. 4: random schemes)."""

    mean: float
    lo: float
    hi: float
    n: int
    unit: str = "seeds"

    def __str__(self) -> str:
        if self.n < 2:
            return f"{self.mean:+.2f} pt (1 {self.unit.rstrip('s')}, no interval)"
        return f"{self.mean:+.2f} pt [{self.lo:+.2f}, {self.hi:+.2f}] (95 %, {self.n} {self.unit})"


def paired(a: Sequence[float], b: Sequence[float], unit: str = "seeds") -> Paired:
    """``a - b`` per seed (the two lists aligned by seed), averaged, with its 95 % interval."""
    if len(a) != len(b) or not a:
        raise ValueError(f"paired values need equally many {unit} on both sides, got {len(a)} and {len(b)}")
    d = [x - y for x, y in zip(a, b)]
    n, mean = len(d), sum(d) / len(d)
    if n < 2:
        return Paired(mean, math.nan, math.nan, n, unit)
    sd = math.sqrt(sum((x - mean) ** 2 for x in d) / (n - 1))
    half = t_quantile(n - 1) * sd / math.sqrt(n)
    return Paired(mean, mean - half, mean + half, n, unit)


def verdict(diff: Paired, floor: float) -> str:
    """``supported``, ``contradicted`` or ``undecided`` for the claim ``diff > 0`` (see module doc)."""
    if diff.n < 2:
        return "undecided"
    if diff.lo > floor:
        return "supported"
    if diff.hi < floor:
        return "contradicted"
    return "undecided"


def explain(diff: Paired, floor: float) -> str:
    """The verdict with its reason, in one line."""
    word = verdict(diff, floor)
    if diff.n < 2:
        why = f"one {diff.unit.rstrip('s')} has no interval"
    elif word == "supported":
        why = f"the whole interval is above the noise floor of {floor:.2f} pt"
    elif word == "contradicted":
        why = f"the interval excludes a gain larger than the noise floor of {floor:.2f} pt"
    else:
        why = f"the interval reaches both sides of the noise floor of {floor:.2f} pt"
    return f"{diff}: {word} ({why})"
