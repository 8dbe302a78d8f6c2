"""A study: the few choices every sweep of a reproduction shares (preset, seeds, data, device),
from which each figure module builds its run specs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from ..config import PRESETS
from .runs import RunSpec


class StudyError(ValueError):
    """A bad notebook parameter; the message is one line naming the fix."""


@dataclass(frozen=True)
class Study:
    """What every sweep needs to build its specs: the preset, the seeds (None: the sweep's own),
    where ImageNet lives (paper preset), the device and where the reconstruction caches live.

    MRECG rows are the released method (official schemes, MQBench's partition, the paper's x4 / x8
    expansion); our ModCap selections are extra rows, labelled as ours.
    """

    preset: str = "mini"
    seeds: tuple[int, ...] | None = None
    data_root: str | None = None
    device: str = "cpu"
    cache_device: str = "auto"

    def __post_init__(self):
        if self.preset not in PRESETS:
            raise StudyError(f"unknown preset {self.preset!r}; choose one of {', '.join(PRESETS)}")
        if self.seeds is not None:
            object.__setattr__(self, "seeds", tuple(int(s) for s in self.seeds))

    def seeds_or(self, default: Sequence[int]) -> tuple[int, ...]:
        return self.seeds if self.seeds is not None else tuple(default)

    def spec(self, model: str, **overrides) -> RunSpec:
        return RunSpec(model, self.preset, data_root=self.data_root, device=self.device, cache_device=self.cache_device,
                       **overrides)

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
