"""A study: the few choices every sweep of a reproduction shares (preset, seeds, data, device),
from which each figure module builds its run specs."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Sequence

from ..config import ACT_INITS, PRESETS
from .runs import RunSpec

# The range setup every run of the tables and figures uses (``PTQConfig.act_init``), the same for
# every method: issue #22 decides it from MRECG's paired gains per setup (benchmarks/act_init_gains.py,
# the README's "Which range setup the tables use"). A notebook's ``act_init`` parameter overrides it.
TABLES_ACT_INIT = "ours"


class StudyError(ValueError):
    """A bad notebook parameter; the message is one line naming the fix."""


def parse_seeds(seeds: Sequence[int] | int | str) -> tuple[int, ...]:
    """Seeds as given: a sequence of integers, one integer, or the text papermill's ``-p`` passes
    for a list (``-p seeds '[0, 1]'``). Anything else fails in one line."""
    given = seeds
    if isinstance(seeds, str):
        try:
            seeds = json.loads(seeds)
        except json.JSONDecodeError:
            seeds = None
    if isinstance(seeds, int) and not isinstance(seeds, bool):
        seeds = [seeds]
    if not isinstance(seeds, (list, tuple)) or not seeds or \
            not all(isinstance(s, int) and not isinstance(s, bool) and 0 <= s < 2**63 for s in seeds):
        raise StudyError("seeds must be a list of integers in 0..2^63-1, e.g. -p seeds '[0, 1]' or "
                         f"-y 'seeds: [0, 1]' with papermill; got {given!r}")
    return tuple(seeds)


@dataclass(frozen=True)
class Study:
    """What every sweep needs to build its specs: the preset, the seeds (None: the sweep's own),
    where ImageNet lives (paper preset), the device, where the reconstruction caches live, and the
    range setup of every run (``act_init``; the records of another setup are other runs, with other keys).

    MRECG rows are the released method (official schemes, MQBench's partition, the paper's x4 / x8
    expansion); our ModCap selections are extra rows, labelled as ours.
    """

    preset: str = "mini"
    seeds: tuple[int, ...] | None = None
    data_root: str | None = None
    device: str = "cpu"
    cache_device: str = "auto"
    act_init: str = TABLES_ACT_INIT

    def __post_init__(self):
        if self.preset not in PRESETS:
            raise StudyError(f"unknown preset {self.preset!r}; choose one of {', '.join(PRESETS)}")
        if self.act_init not in ACT_INITS:
            raise StudyError(f"act_init must be one of {', '.join(ACT_INITS)}, got {self.act_init!r}")
        if self.seeds is not None:
            object.__setattr__(self, "seeds", parse_seeds(self.seeds))

    def seeds_or(self, default: Sequence[int]) -> tuple[int, ...]:
        return self.seeds if self.seeds is not None else tuple(default)

    def spec(self, model: str, **overrides) -> RunSpec:
        setup = {} if self.act_init == "ours" else {"act_init": self.act_init}  # ours: the key of every record so far
        return RunSpec(model, self.preset, data_root=self.data_root, device=self.device, cache_device=self.cache_device,
                       **setup, **overrides)

    def mrecg(self, model: str, expanded: bool = True, ours: str | None = None) -> dict:
        """Overrides of an MRECG run: the released method (``ours``: our ModCap selection,
        ``"modcap:loss"`` or ``"modcap:params"``), with or without the expanded batch."""
        base = PRESETS[self.preset]
        sizes = {} if expanded else dict(calib_size=base["calib_size"], batch_size=base["batch_size"])
        return {**sizes, **({"scheme": ours} if ours else {})}

    def sweep(self, sweeps: dict) -> dict:
        """A module's sweep (its ``SWEEP``, per preset) for this preset."""
        return sweeps[self.preset]

    def bits(self, sweeps: dict) -> str:
        """The bit-widths of a one-cell sweep as the paper writes them (``W3A3``)."""
        w, a = self.sweep(sweeps)["bits"]
        return f"W{w}A{a}"
