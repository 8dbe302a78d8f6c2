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


PLANS = ("committed", "faithful")
# preset values that changed after the committed run, pinned so that its records keep their keys
COMMITTED_PINS = {"mini": {"a_lr": 4e-5}}


@dataclass(frozen=True)
class Study:
    """What every sweep needs to build its specs: the preset, the seeds (None: the sweep's own),
    where ImageNet lives (paper preset), the device, and the plan.

    ``plan``: ``committed`` is the grid of the committed mini run (MRECG rows select merges with our
    ModCap, x2 expansion, mostly one seed); ``faithful`` is its replacement (the released MRECG --
    official schemes, MQBench's partition, x4 / x8 expansion -- in cells where quantization hurts,
    three seeds, our ModCap rows labelled as ours). The faithful grid is computed in the background
    (``mrecg reproduce --plan faithful --compute-only``) and becomes the default once complete.
    """

    preset: str = "mini"
    seeds: tuple[int, ...] | None = None
    data_root: str | None = None
    device: str = "cpu"
    plan: str = "committed"
    cache_device: str = "auto"

    def __post_init__(self):
        if self.preset not in PRESETS:
            raise StudyError(f"unknown preset {self.preset!r}; choose one of {', '.join(PRESETS)}")
        if self.plan not in PLANS:
            raise StudyError(f"unknown plan {self.plan!r}; choose one of {', '.join(PLANS)}")
        if self.seeds is not None:
            object.__setattr__(self, "seeds", tuple(int(s) for s in self.seeds))

    def seeds_or(self, default: Sequence[int]) -> tuple[int, ...]:
        return self.seeds if self.seeds is not None else tuple(default)

    def spec(self, model: str, **overrides) -> RunSpec:
        pinned = COMMITTED_PINS.get(self.preset, {}) if self.plan == "committed" else {}
        return RunSpec(model, self.preset, data_root=self.data_root, device=self.device, cache_device=self.cache_device,
                       **{**pinned, **overrides})

    def mrecg(self, model: str, expanded: bool = True, ours: str | None = None) -> dict:
        """Overrides of an MRECG run in this plan: the released method (``ours``: our ModCap
        selection, ``"modcap:loss"`` or ``"modcap:params"``), with or without the expanded batch."""
        if self.plan == "committed":
            return {**committed_mrecg(self.preset, model, expanded), **({"scheme": ours} if ours else {})}
        base = PRESETS[self.preset]
        sizes = {} if expanded else dict(calib_size=base["calib_size"], batch_size=base["batch_size"])
        return {**sizes, **({"scheme": ours} if ours else {})}

    def sweep(self, committed: dict, faithful: dict) -> dict:
        """A module's sweep (``SWEEP`` / ``FAITHFUL``, per preset) for this preset and plan."""
        return (committed if self.plan == "committed" else faithful)[self.preset]


def committed_mrecg(preset: str, model: str, expanded: bool = True) -> dict:
    """The MRECG configuration of the committed mini run: merges selected by our data-dependent
    ModCap and the earlier x2 expansion (2 x images, 2 x batch), pinned so that the committed
    records keep their keys. The faithful grid (released schemes, x4 / x8) replaces it."""
    base = PRESETS[preset]
    sizes = dict(calib_size=base["calib_size"] * 2, batch_size=base["batch_size"] * 2) if expanded else \
        dict(calib_size=base["calib_size"], batch_size=base["batch_size"])
    return dict(scheme="modcap:loss", **sizes)


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


__all__ = ["FIGURES", "Study", "StudyError", "all_specs", "committed_mrecg", "expanded_sizes", "method_label"]
