"""What the notebooks run and how they show it: sweeps per preset, tidy frames, figures.

Notebooks stay narrative: they pick a sweep here, run it through the cached runner
(:mod:`mrecg.experiments`), and call the frame and plot helpers below.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from . import paper
from .config import PRESETS
from .experiments import RunSpec, run
from .models import NAMES

TABLE1_METHODS = ("adaround", "brecq", "qdrop", "mrecg+brecq", "mrecg+qdrop")
BASELINE_OF = {"mrecg+brecq": "brecq", "mrecg+qdrop": "qdrop"}

# Which Table 1 cells each preset fills. The mini preset fills the cells with the paper's largest
# effects (MobileNetV2 x0.5 and ResNet-18 at W4A4 and W2A4); the others are skipped to stay within
# the CPU budget (see notebooks/01_table1_accuracy.ipynb).
TABLE1_CELLS = {
    "smoke": dict(models=("resnet18",), bits=((4, 4),), seeds=(0,)),
    "mini": dict(models=("mobilenetv2_x0.5", "resnet18"), bits=((4, 4), (2, 4)), seeds=(0,)),
    "paper": dict(models=NAMES, bits=((4, 4), (2, 4), (3, 3), (2, 2)), seeds=(0,)),
}
FIG6_RUNS = (  # label, method, modcap
    ("round-to-nearest", "nearest", None),
    ("AdaRound", "adaround", None),
    ("BRECQ", "brecq", None),
    ("MRECG data-free", "mrecg+brecq", "params"),
    ("MRECG data-dependent", "mrecg+brecq", "loss"),
)
FIG6_MODELS = {"smoke": ("mobilenetv2_x0.5",), "mini": ("mobilenetv2_x0.5", "resnet18"),
               "paper": ("mobilenetv2_x1.0", "resnet18")}


class StudyError(ValueError):
    """A bad notebook parameter; the message is one line naming the fix."""


def check_parameters(preset: str, data_root: str | None = None) -> None:
    """Fail in a notebook's first cell, with one clear line, on a parameter that cannot work."""
    if preset not in PRESETS:
        raise StudyError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    if preset == "paper" and not (data_root and Path(data_root, "val").is_dir()):
        raise StudyError("the paper preset needs ImageNet: pass -p data_root /path/to/imagenet (with train/ and val/)")


def seeds_for(preset: str, seeds: Sequence[int] | None) -> tuple[int, ...]:
    return tuple(seeds) if seeds is not None else TABLE1_CELLS[preset]["seeds"]


def table1_specs(preset: str, seeds: Sequence[int] | None = None, data_root: str | None = None,
                 device: str = "cpu") -> list[RunSpec]:
    cells = TABLE1_CELLS[preset]
    return [
        RunSpec(model, preset, method, w, a, seed, data_root=data_root, device=device)
        for model in cells["models"] for (w, a) in cells["bits"] for method in TABLE1_METHODS
        for seed in seeds_for(preset, seeds)
    ]


def fig6_specs(preset: str, bits: tuple[int, int] = (2, 4), seeds: Sequence[int] | None = None,
               data_root: str | None = None, device: str = "cpu") -> list[RunSpec]:
    return [
        RunSpec(model, preset, method, *bits, seed, modcap=modcap, data_root=data_root, device=device)
        for model in FIG6_MODELS[preset] for _, method, modcap in FIG6_RUNS for seed in seeds_for(preset, seeds)
    ]


def run_specs(specs: Iterable[RunSpec], results_dir: str | os.PathLike, force: bool = False) -> list[dict]:
    """Run (or read back) every spec, with one progress bar over the runs."""
    specs = list(specs)
    return [run(s, results_dir, force=force, progress=False) for s in tqdm(specs, desc="runs")]


# ----------------------------------------------------------------------------- Table 1


def table1_frame(records: Sequence[dict]) -> pd.DataFrame:
    """Ours (mean, std, n over seeds) beside the paper, with MRECG's gains over its baseline."""
    rows = pd.DataFrame(
        {"model": r["spec"]["model"], "method": r["spec"]["method"], "w_bits": r["spec"]["w_bits"],
         "a_bits": r["spec"]["a_bits"], "top1": r["top1"], "fp_top1": r["fp_top1"]} for r in records
    )
    keys = ["model", "w_bits", "a_bits", "method"]
    ours = rows.groupby(keys).agg(ours=("top1", "mean"), ours_std=("top1", "std"), seeds=("top1", "size"),
                                  ours_fp=("fp_top1", "first")).reset_index()
    ref = paper.table1()
    fp = ref[ref.method == "fp"][["model", "top1"]].rename(columns={"top1": "paper_fp"})
    ref = ref[ref.method != "fp"][keys + ["top1"]].rename(columns={"top1": "paper"})
    table = ours.merge(ref, on=keys, how="left").merge(fp, on="model", how="left")
    for col in ("ours", "paper"):
        base = table.set_index(["model", "w_bits", "a_bits", "method"])[col]
        table[f"gain_{col}"] = [
            getattr(row, col) - base.get((row.model, row.w_bits, row.a_bits, BASELINE_OF[row.method]), np.nan)
            if row.method in BASELINE_OF else np.nan
            for row in table.itertuples()
        ]
    table["bits"] = "W" + table.w_bits.astype(str) + "A" + table.a_bits.astype(str)
    table["order"] = table.method.map({m: i for i, m in enumerate(TABLE1_METHODS)})
    table = table.sort_values(["model", "w_bits", "a_bits", "order"], ascending=[True, False, False, True])
    return table[["model", "bits", "method", "ours", "ours_std", "seeds", "ours_fp", "paper", "paper_fp",
                  "gain_ours", "gain_paper"]].reset_index(drop=True)


# ----------------------------------------------------------------------------- Fig. 6


def oscillation(values: Sequence[float]) -> dict:
    """Total variation (sum of |steps|) and the number of strict interior local maxima."""
    v = np.asarray(values, dtype=float)
    maxima = int(np.sum((v[1:-1] > v[:-2]) & (v[1:-1] > v[2:]))) if len(v) > 2 else 0
    return {"total_variation": float(np.abs(np.diff(v)).sum()), "local_maxima": maxima}


def block_curves(records: Sequence[dict]) -> pd.DataFrame:
    """Long frame: model, label, seed, block, error, normalised (error / float output energy)."""
    labels = {(m, mc): label for label, m, mc in FIG6_RUNS}
    rows = []
    for r in records:
        label = labels[(r["spec"]["method"], r["spec"]["modcap"])]
        for e in r["errors"]:
            if e["block"] is not None:
                rows.append({"model": r["spec"]["model"], "label": label, "seed": r["spec"]["seed"],
                             "block": e["block"], "error": e["error"], "normalised": e["error"] / e["fp_energy"]})
    return pd.DataFrame(rows)


def oscillation_table(curves: pd.DataFrame) -> pd.DataFrame:
    """Oscillation measures of each (model, label) curve (mean over seeds), raw and normalised."""
    mean = curves.groupby(["model", "label", "block"])[["error", "normalised"]].mean().reset_index()
    out = []
    for (model, label), g in mean.groupby(["model", "label"], sort=False):
        raw, norm = oscillation(g.error.tolist()), oscillation(g.normalised.tolist())
        out.append({"model": model, "curve": label, "TV raw": raw["total_variation"], "maxima raw": raw["local_maxima"],
                    "TV normalised": norm["total_variation"], "maxima normalised": norm["local_maxima"]})
    return pd.DataFrame(out)


def plot_fig6(curves: pd.DataFrame, stem: str | os.PathLike) -> list[Path]:
    """Per-block error along depth, raw (top) and normalised (bottom), one column per model;
    the paper's MobileNetV2 curves on a secondary axis for shape comparison."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    models = list(dict.fromkeys(curves.model))
    fig, axes = plt.subplots(2, len(models), figsize=(6.5 * len(models), 7), squeeze=False)
    ref = paper.fig6_curves()
    for col, model in enumerate(models):
        data = curves[curves.model == model]
        for row, y in enumerate(("error", "normalised")):
            ax = axes[row][col]
            sns.lineplot(data=data, x="block", y=y, hue="label", marker="o", ax=ax, errorbar=None)
            ax.set_title(f"{model}: {'per-block error' if y == 'error' else 'error / float output energy'}")
            if row == 0 and model.startswith("mobilenetv2"):
                twin = ax.twinx()
                for key, style in (("brecq", ":"), ("mrecg_loss", "--")):
                    twin.plot(range(len(ref[key])), ref[key], style, color="grey", label=f"paper {key}")
                twin.set_ylabel("paper's Fig. 6 (ImageNet) loss")
                twin.legend(loc="upper center", fontsize=8)
            if row or col:
                ax.get_legend().remove() if ax.get_legend() else None
    fig.tight_layout()
    return save_figure(fig, stem)


# ----------------------------------------------------------------------------- output


def save_figure(fig, stem: str | os.PathLike) -> list[Path]:
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = [stem.with_suffix(".png"), stem.with_suffix(".pdf")]
    for p in paths:
        fig.savefig(p, dpi=130, bbox_inches="tight")
    return paths


def to_markdown(df: pd.DataFrame, digits: int = 2) -> str:
    """A GitHub Markdown table (no extra dependency)."""
    def cell(v):
        if isinstance(v, float):
            return "" if np.isnan(v) else f"{v:.{digits}f}"
        return str(v)

    lines = ["| " + " | ".join(map(str, df.columns)) + " |", "|" + "---|" * len(df.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join(lines) + "\n"


def save_table(df: pd.DataFrame, figures_dir: str | os.PathLike, name: str, title: str = "") -> list[Path]:
    """CSV + Markdown + a rendered PNG/PDF of a table."""
    import matplotlib.pyplot as plt

    folder = Path(figures_dir)
    folder.mkdir(parents=True, exist_ok=True)
    df.to_csv(folder / f"{name}.csv", index=False)
    (folder / f"{name}.md").write_text(to_markdown(df))
    shown = df.map(lambda v: "" if isinstance(v, float) and np.isnan(v) else (f"{v:.2f}" if isinstance(v, float) else v))
    fig, ax = plt.subplots(figsize=(min(2 + 1.3 * len(df.columns), 20), 0.8 + 0.3 * len(df)))
    ax.axis("off")
    ax.table(cellText=shown.values, colLabels=list(df.columns), loc="center").auto_set_font_size(True)
    if title:
        ax.set_title(title)
    paths = save_figure(fig, folder / name)
    plt.close(fig)
    return [folder / f"{name}.csv", folder / f"{name}.md", *paths]
