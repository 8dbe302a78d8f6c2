"""One module per table and figure of the paper, each with its sweep per preset, its specs, its
frame, its plot and its verdicts; one notebook each shows it. :data:`FIGURES` maps every notebook
to its module, in run order: the reproduction collects every module's specs first and computes
the missing runs in one pool (:mod:`mrecg.reproduce`).

A new figure is one module here (``specs(study)``, a frame, a plot, a verdict) plus one notebook
source in ``notebooks/``, and one line in :data:`FIGURES`.
"""

from __future__ import annotations

from types import ModuleType

from ..study.runs import RunSpec
from ..study.sweeps import Study


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


__all__ = ["FIGURES", "all_specs", "machine_label", "method_label"]
