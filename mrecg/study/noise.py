"""How far a reader's rerun may land: how much the same run's top-1 moves across machines.

Seeds give one source of spread (the paired interval accounts for it); the other is that the
same configuration and seed, run on another CPU, device or thread count, gives slightly
different numbers: floating-point sums taken in another order flip a few AdaRound decisions, and
the flips compound along depth. ``benchmarks/run_to_run.py`` measures it and stores the rows in
``results/<preset>/noise.json``; the spread is the largest top-1 range over the measured
configurations, read from those rows here, never typed in.

It is not a threshold on paired gains: a paired comparison is made between runs of one machine
(:func:`mrecg.study.stats.require_same_machine`), where this spread does not enter. It says how
far a reader's own rerun of a committed record, on their machine, may land from ours.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

FILE = "noise.json"


@dataclass(frozen=True)
class NoiseFloor:
    points: float
    source: str

    def __str__(self) -> str:
        return f"a rerun on another machine may land up to {self.points:.2f} pt from ours: {self.source}"


def rows(results_dir: str | os.PathLike, preset: str) -> list[dict]:
    path = Path(results_dir) / preset / FILE
    return json.loads(path.read_text())["rows"] if path.is_file() else []


def floor(results_dir: str | os.PathLike, preset: str) -> NoiseFloor:
    """The largest top-1 range among runs of one configuration on different machines or thread
    counts (0 with a note where the preset has no measurement)."""
    from .fingerprint import computed_by

    by_config: dict[tuple, list[dict]] = defaultdict(list)
    for row in rows(results_dir, preset):  # the same configuration computed by the same code
        by_config[(row["key"], computed_by(row["fingerprint"]))].append(row)
    ranges = {k: max(r["top1"] for r in v) - min(r["top1"] for r in v) for k, v in by_config.items() if len(v) > 1}
    if not ranges:
        return NoiseFloor(0.0, f"not measured for the {preset} preset, so verdicts rest on the seed interval alone")
    worst = max(ranges, key=ranges.get)
    variants = {(r["cpu"], r.get("device", "cpu"), r["threads"], r.get("torch"), r.get("note", ""))
                for v in by_config.values() for r in v}
    return NoiseFloor(round(ranges[worst], 2), f"largest top-1 range of one configuration over {len(variants)} "
                                                f"machine, device, thread, torch and kernel variants ({len(ranges)} "
                                                f"configurations measured, results/{preset}/{FILE})")
