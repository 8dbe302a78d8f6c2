"""Paired differences over seeds, room-scaled gains, and the verdicts worded from them.

Methods are compared per seed on the same calibration images (a seed draws the calibration set),
so the quantity of interest is the mean of the per-seed differences, with Student's t interval
``mean +- t(0.975, n - 1) * sd / sqrt(n)``.

A gain alone cannot be compared with the paper's: a cell where the baseline loses 0.4 pt to
quantization cannot show a 2 pt gain. So every MRECG-vs-baseline cell is read in its *room*:

* ``room_s = float - baseline_s``, ``gain_s = method_s - baseline_s``, ``fraction_s = gain_s / room_s``
  per seed ``s``, the fraction being the share of the baseline's loss that the method recovers;
* the paper's room, gain and fraction for the same cell, and the paper's fraction times our mean
  room: the gain the paper predicts for our cell (``scaled``).

Verdicts (:func:`against_zero`, :func:`against_paper`):

* against zero: the gain's interval lies above zero, below it, or contains it;
* against the paper: the interval contains the scaled gain (``consistent``), lies below it
  (``smaller``) or above it (``larger``); where the interval's half-width exceeds the scaled gain
  no outcome could tell the paper's effect from none, and the cell reads ``too little room to test``.

A paired comparison is only made between runs of one machine (CPU model, thread count, device):
the same run differs across machines by up to half a point (``results/<preset>/noise.json``), which
is as large as many gains. :func:`require_same_machine` refuses the rest.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Sequence

# t(0.975, df) for df = 1..30; beyond, the normal quantile is within 2 %.
T_975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
         2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042)
TOO_LITTLE_ROOM = "too little room to test"
ONE_SEED = "one seed: no interval"


def t_quantile(df: int) -> float:
    if df < 1:
        raise ValueError(f"a t interval needs at least 2 values (df >= 1), got df = {df}")
    return T_975[df - 1] if df <= len(T_975) else 1.96


def t_upper_tail(t: float, df: int, steps: int = 4000) -> float:
    """P(T > t) for Student's t with ``df`` degrees of freedom (Simpson's rule on the density;
    accurate to about 1e-9, enough for a multiplicity correction without a scipy dependency)."""
    if df < 1:
        raise ValueError(f"a t test needs at least 2 values (df >= 1), got df = {df}")
    if math.isinf(t):
        return 0.0 if t > 0 else 1.0
    norm = math.gamma((df + 1) / 2) / (math.sqrt(df * math.pi) * math.gamma(df / 2))
    density = lambda x: norm * (1 + x * x / df) ** (-(df + 1) / 2)  # noqa: E731
    # P(0 < T < |t|) by the substitution x = tan(u), which maps the half line onto [0, pi/2)
    top = math.atan(abs(t))
    h = top / steps
    f = lambda u: density(math.tan(u)) / math.cos(u) ** 2  # noqa: E731
    inner = f(0) + f(top) + sum((4 if i % 2 else 2) * f(i * h) for i in range(1, steps))
    between = inner * h / 3
    return 0.5 - between if t >= 0 else 0.5 + between


@dataclass(frozen=True)
class Paired:
    """Mean of per-seed differences with its 95 % interval (NaN bounds with fewer than 2 seeds).
    ``unit`` names what the differences run over where it is not seeds."""

    mean: float
    lo: float
    hi: float
    n: int
    unit: str = "seeds"
    sd: float = math.nan

    @property
    def half_width(self) -> float:
        return (self.hi - self.lo) / 2

    def p_above_zero(self) -> float:
        """One-sided t test of ``mean > 0`` (NaN with fewer than 2 values)."""
        if self.n < 2:
            return math.nan
        if self.sd == 0:
            return 0.0 if self.mean > 0 else 1.0
        return t_upper_tail(self.mean / (self.sd / math.sqrt(self.n)), self.n - 1)

    def __str__(self) -> str:
        if self.n < 2:
            return f"{self.mean:+.2f} pt (1 {self.unit.rstrip('s')}, no interval)"
        return f"{self.mean:+.2f} pt [{self.lo:+.2f}, {self.hi:+.2f}] (95 %, {self.n} {self.unit})"


def mean_interval(values: Sequence[float], unit: str = "seeds") -> Paired:
    """The mean of ``values`` with its 95 % t interval."""
    if not values:
        raise ValueError(f"an interval needs at least one value over {unit}")
    n, mean = len(values), sum(values) / len(values)
    if n < 2:
        return Paired(mean, math.nan, math.nan, n, unit)
    sd = math.sqrt(sum((x - mean) ** 2 for x in values) / (n - 1))
    half = t_quantile(n - 1) * sd / math.sqrt(n)
    return Paired(mean, mean - half, mean + half, n, unit, sd)


def paired(a: Sequence[float], b: Sequence[float], unit: str = "seeds") -> Paired:
    """``a - b`` per seed (the two lists aligned by seed), averaged, with its 95 % interval."""
    if len(a) != len(b) or not a:
        raise ValueError(f"paired values need equally many {unit} on both sides, got {len(a)} and {len(b)}")
    return mean_interval([x - y for x, y in zip(a, b)], unit)


# --- machines ----------------------------------------------------------------------------------

class MixedMachines(ValueError):
    """A paired comparison whose two sides ran on different machines."""


def machine_of(record: dict) -> tuple[str, int, str]:
    """What must be equal on both sides of a pair: CPU model, thread count, device."""
    m = record.get("machine", {})
    return m.get("cpu", "?"), int(m.get("threads", 0)), m.get("device", "cpu")


def mixed_pairs(pairs: Iterable[tuple[dict, dict]]) -> list[tuple[dict, dict]]:
    """The pairs among ``pairs`` whose two records ran on different machines."""
    return [(a, b) for a, b in pairs if machine_of(a) != machine_of(b)]


def require_same_machine(pairs: Iterable[tuple[dict, dict]]) -> None:
    """Raise :class:`MixedMachines` (one line) if any pair spans two machines."""
    if mixed := mixed_pairs(pairs):
        a, b = mixed[0]
        raise MixedMachines(f"paired runs {a.get('key', '?')} and {b.get('key', '?')} ran on different machines "
                            f"({'/'.join(map(str, machine_of(a)))} vs {'/'.join(map(str, machine_of(b)))}); "
                            f"{len(mixed)} mixed pair(s): recompute one side on the other's machine")


def by_seed(a: Sequence[dict], b: Sequence[dict]) -> list[tuple[dict, dict]]:
    """Records of two sides aligned by seed (seeds present on both sides only)."""
    left = {r["config"]["seed"]: r for r in a}
    right = {r["config"]["seed"]: r for r in b}
    return [(left[s], right[s]) for s in sorted(left.keys() & right.keys())]


def mixed_keys(name: str, a: Sequence[dict], b: Sequence[dict]) -> list[tuple[str, int, str, str]]:
    """The mixed-machine pairs of one comparison as (comparison, seed, key of a, key of b): what to
    recompute."""
    return [(name, x["config"]["seed"], x.get("key", "?"), y.get("key", "?")) for x, y in mixed_pairs(by_seed(a, b))]


def paired_runs(a: Sequence[dict], b: Sequence[dict]) -> Paired:
    """``a``'s top-1 minus ``b``'s per seed, refusing pairs from different machines."""
    pairs = by_seed(a, b)
    require_same_machine(pairs)
    return paired([x["top1"] for x, _ in pairs], [y["top1"] for _, y in pairs])


def compared(a: Sequence[dict], b: Sequence[dict]) -> tuple[Paired, int]:
    """``a``'s top-1 minus ``b``'s per seed, with how many of the pairs span two machines: for a
    committed grid that must show such a comparison flagged rather than refuse to show it."""
    pairs = by_seed(a, b)
    return paired([x["top1"] for x, _ in pairs], [y["top1"] for _, y in pairs]), len(mixed_pairs(pairs))


def excluded(mixed: int, n: int) -> str:
    """The verdict of a comparison whose pairs span two machines: none."""
    return f"excluded: mixed machines ({mixed} of {n} seeds)"


def welch(a: Sequence[float], b: Sequence[float], unit: str = "runs") -> Paired:
    """Mean of ``a`` minus mean of ``b`` for unpaired samples, with Welch's 95 % interval (the
    degrees of freedom rounded down): both sides' spreads enter the interval."""
    if len(a) < 2 or len(b) < 2:
        raise ValueError(f"an unpaired interval needs 2 values on each side, got {len(a)} and {len(b)}")
    ma, mb = sum(a) / len(a), sum(b) / len(b)
    va = sum((x - ma) ** 2 for x in a) / (len(a) - 1) / len(a)
    vb = sum((x - mb) ** 2 for x in b) / (len(b) - 1) / len(b)
    se = math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1)) if se else len(a) + len(b) - 2
    half = t_quantile(max(1, int(df))) * se
    return Paired(ma - mb, ma - mb - half, ma - mb + half, len(a) + len(b), unit)


# --- room ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class PaperCell:
    """The paper's float, baseline and method top-1 for one cell."""

    fp: float
    baseline: float
    method: float

    @property
    def room(self) -> float:
        return self.fp - self.baseline

    @property
    def gain(self) -> float:
        return self.method - self.baseline

    @property
    def fraction(self) -> float:
        return self.gain / self.room


@dataclass(frozen=True)
class RoomScaled:
    """One method-vs-baseline cell in its room: the paired gain, the per-seed recovered fraction,
    our mean room, and the paper's cell (None where the paper has none)."""

    gain: Paired
    fraction: Paired
    room: float
    paper: PaperCell | None = None

    @property
    def scaled(self) -> float:
        """The paper's recovered fraction times our room: the gain the paper predicts here."""
        return self.paper.fraction * self.room if self.paper else math.nan


def room_scaled(method: Sequence[float], baseline: Sequence[float], fp: Sequence[float],
                paper: PaperCell | None = None) -> RoomScaled:
    """Per seed (the lists aligned by seed): the gain, the room and the recovered fraction (NaN
    where a baseline reaches the float model: it leaves nothing to recover)."""
    if not len(method) == len(baseline) == len(fp) or not method:
        raise ValueError(f"room needs equally many seeds of method, baseline and float, got "
                         f"{len(method)}, {len(baseline)} and {len(fp)}")
    rooms = [f - b for f, b in zip(fp, baseline)]
    gain = paired(method, baseline)
    if min(rooms) <= 0:  # a baseline at or above the float model: nothing to recover, no fraction
        fraction = Paired(math.nan, math.nan, math.nan, len(rooms))
    else:
        fraction = mean_interval([(m - b) / r for m, b, r in zip(method, baseline, rooms)])
    return RoomScaled(gain, fraction, sum(rooms) / len(rooms), paper)


def room_scaled_runs(method: Sequence[dict], baseline: Sequence[dict], paper: PaperCell | None = None) -> RoomScaled:
    """:func:`room_scaled` on records aligned by seed, refusing pairs from different machines."""
    pairs = by_seed(method, baseline)
    require_same_machine(pairs)
    return room_scaled([m["top1"] for m, _ in pairs], [b["top1"] for _, b in pairs], [b["fp_top1"] for _, b in pairs],
                       paper)


# --- verdicts ------------------------------------------------------------------------------------

def against_zero(gain: Paired) -> str:
    """``above zero``, ``below zero`` or ``contains zero`` (one seed has no interval)."""
    if gain.n < 2:
        return ONE_SEED
    if gain.lo > 0:
        return "above zero"
    if gain.hi < 0:
        return "below zero"
    return "contains zero"


def against_paper(gain: Paired, scaled: float) -> str:
    """``consistent``, ``smaller``, ``larger`` than the paper's gain scaled to our room, or ``too
    little room to test`` where the interval is wider than the scaled gain is large."""
    if gain.n < 2:
        return ONE_SEED
    if math.isnan(scaled):
        return "no paper cell"
    if gain.half_width > abs(scaled):
        return TOO_LITTLE_ROOM
    if gain.hi < scaled:
        return "smaller"
    if gain.lo > scaled:
        return "larger"
    return "consistent"


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values (NaN stays NaN and does not count in the family)."""
    order = sorted((p, i) for i, p in enumerate(p_values) if not math.isnan(p))
    m, adjusted, running = len(order), [math.nan] * len(p_values), 0.0
    for rank, (p, i) in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p))
        adjusted[i] = running
    return adjusted


@dataclass(frozen=True)
class Pooled:
    """The family-level answer: the mean recovered fraction over cells with its interval over
    cells, how many cells' mean gains are positive, and how many per-seed differences are."""

    fraction: Paired
    cells_positive: int
    cells: int
    seeds_positive: int
    seeds: int

    def __str__(self) -> str:
        f = self.fraction
        spread = f"[{f.lo:.1%}, {f.hi:.1%}] (95 %, {f.n} {f.unit})" if f.n > 1 else f"({f.n} {f.unit})"
        seeds = f", {self.seeds_positive} of {self.seeds} per-seed differences" if self.seeds else ""
        return (f"{f.mean:.1%} {spread}; gain positive in {self.cells_positive} of {self.cells} cells{seeds}")


def pooled(fractions: Sequence[float], gains: Sequence[float], seed_gains: Sequence[float] = ()) -> Pooled:
    """Pool cells' mean fractions (each cell one value) with the sign counts of their gains."""
    fraction = mean_interval(list(fractions), unit="cells") if fractions else Paired(math.nan, math.nan, math.nan, 0,
                                                                                       "cells")
    return Pooled(fraction, sum(g > 0 for g in gains), len(gains),
                  sum(g > 0 for g in seed_gains), len(seed_gains))
