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
    CPU with its torch. The same run on two machines may differ by up to :mod:`mrecg.study.noise`'s
    spread, which is why a paired comparison is made on one machine only."""
    machine = record.get("machine", {})
    device = machine.get("device", "cpu")
    return device if device != "cpu" else f"CPU, torch {machine.get('torch', '?').split('+')[0]}"


# The models whose released config holds their own merge scheme; other widths of a family reuse it.
RELEASED_SCHEME_MODELS = ("mobilenetv2_x0.5", "resnet18", "resnet50")


def method_label(config: dict, model: str | None = None) -> str:
    """A run's method as the tables show it: the released methods by the paper's names, our
    ModCap-selected variants marked as ours, and a released scheme applied to a width the authors
    published none for marked as such."""
    scheme = config.get("scheme")
    if isinstance(scheme, str) and scheme.startswith("modcap:"):
        kind = "data-dependent" if scheme == "modcap:loss" else "data-free"
        return f"{config['method']} (ours: {kind} ModCap)"
    if scheme == "official" and model and model.startswith("mobilenetv2") and model not in RELEASED_SCHEME_MODELS:
        return f"{config['method']} (x0.5 scheme applied)"
    return config["method"]


# One colour per method in every figure: baselines in cool colours, MRECG on each in the warm
# colour of its baseline's family, ours dashed or hollow in the same hue, the paper in grey.
COLOURS = {
    "nearest": "tab:gray",
    "adaround": "tab:olive",
    "brecq": "tab:blue",
    "qdrop": "tab:cyan",
    "mrecg+brecq": "tab:red",
    "mrecg+qdrop": "tab:orange",
    "mrecg (ours)": "tab:purple",
    "mrecg data-free (ours)": "tab:pink",
    "random": "0.6",
    "paper": "0.45",
}


def colour(method: str) -> str:
    """The colour of a method, from a method name or a figure's label (``MRECG (released)`` is
    MRECG+BRECQ, ``... (ours: ...)`` our ModCap selection)."""
    if "(ours" in method:
        return COLOURS["mrecg data-free (ours)" if "data-free" in method else "mrecg (ours)"]
    word = method.split(" ")[0].lower()
    return COLOURS.get({"round-to-nearest": "nearest", "mrecg": "mrecg+brecq"}.get(word, word), "black")


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


__all__ = ["COLOURS", "FIGURES", "all_specs", "colour", "machine_label", "method_label"]
