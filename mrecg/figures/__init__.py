"""One module per table and figure of the paper, each with its sweep per preset, its specs, its
frame, its plot and its verdicts; one notebook each shows it. :data:`FIGURES` maps every notebook
to its module, in run order: the reproduction collects every module's specs first and computes
the missing runs in one pool (:mod:`mrecg.reproduce`).

A new figure is one module here (``specs(study)``, a frame, a plot, a verdict) plus one notebook
source in ``notebooks/``, and one line in :data:`FIGURES`.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Sequence

from ..config import PRESETS, expanded_sizes
from ..experiments import RunSpec


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


def machine_label(record: dict) -> str:
    """Where a run was computed, as short as tells a grid's machines apart: the GPU's name, or the
    CPU with its torch. The same run on two machines differs by up to the noise floor."""
    machine = record.get("machine", {})
    device = machine.get("device", "cpu")
    return device if device != "cpu" else f"CPU, torch {machine.get('torch', '?').split('+')[0]}"


def method_label(config: dict) -> str:
    """A run's method as the tables show it: the released methods by the paper's names, our
    ModCap-selected variants marked as ours."""
    scheme = config.get("scheme")
    if isinstance(scheme, str) and scheme.startswith("modcap:"):
        kind = "data-dependent" if scheme == "modcap:loss" else "data-free"
        return f"{config['method']} (ours: {kind} ModCap)"
    return config["method"]


from . import budget, fig4, fig5, fig6, table1, table2, toy  # noqa: E402

FIGURES: dict[str, ModuleType] = {
    "00_oscillation_theory": toy,
    "01_table1_accuracy": table1,
    "02_table2_components": table2,
    "03_fig4_pareto": fig4,
    "04_fig5_batch_size": fig5,
    "05_fig6_loss_distribution": fig6,
    "06_iteration_budget": budget,
}


def all_specs(study: Study) -> dict[str, list[RunSpec]]:
    """Every notebook's runs (the toy of notebook 00 is not a RunSpec and caches itself)."""
    return {name: module.specs(study) for name, module in FIGURES.items() if hasattr(module, "specs")}


__all__ = ["FIGURES", "Study", "StudyError", "all_specs", "expanded_sizes", "machine_label", "method_label"]
