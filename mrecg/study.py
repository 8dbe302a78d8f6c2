"""What the notebooks run and how they show it: sweeps per preset, tidy frames, figures.

Notebooks stay narrative: they pick a sweep here, run it through the cached runner
(:mod:`mrecg.experiments`), and call the frame and plot helpers below.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from . import paper
from .config import EXPANDED, PRESETS
from .experiments import RunSpec, run
from .models import NAMES

TABLE1_METHODS = ("adaround", "brecq", "qdrop", "mrecg+brecq", "mrecg+qdrop")
BASELINE_OF = {"mrecg+brecq": "brecq", "mrecg+qdrop": "qdrop"}

# Which Table 1 cells (model, (w_bits, a_bits)) each preset fills. The mini preset fills the cells
# with the paper's largest effects (MobileNetV2 x0.5 at W4A4 and W2A4) and ResNet-18 at W2A4 as the
# ResNet contrast; the other cells are skipped to stay within the CPU budget (see
# notebooks/01_table1_accuracy.ipynb).
TABLE1_CELLS = {
    "smoke": dict(cells=(("resnet18", (4, 4)),), seeds=(0,)),
    "mini": dict(cells=(("mobilenetv2_x0.5", (4, 4)), ("mobilenetv2_x0.5", (2, 4)), ("resnet18", (2, 4))),
                 seeds=(0,)),
    "paper": dict(cells=tuple((m, b) for m in NAMES for b in ((4, 4), (2, 4), (3, 3), (2, 2))), seeds=(0,)),
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

# Table 2: MRECG's two components switched on one at a time (label, method, expanded batch).
TABLE2_ROWS = (
    ("BRECQ", "brecq", False),
    ("+ mixed granularity", "mrecg+brecq", False),
    ("+ expanded batch", "brecq", True),
    ("+ both (MRECG)", "mrecg+brecq", True),
)
TABLE2_SEEDS = {"smoke": (0,), "mini": (0, 1, 2), "paper": (0, 1, 2)}
# Fig. 4: random mixed-granularity schemes (as many merges as MRECG makes) per MobileNetV2 width.
FIG4_SWEEP = {
    "smoke": dict(models=("mobilenetv2_x0.5",), schemes=2),
    "mini": dict(models=("mobilenetv2_x0.5",), schemes=5),
    "paper": dict(models=("mobilenetv2_x1.0", "mobilenetv2_x0.75", "mobilenetv2_x0.5", "mobilenetv2_x0.35"),
                  schemes=20),
}
# Fig. 5: reconstruction batch size, BRECQ W4A4, MobileNetV2 x0.5, same calibration set.
FIG5_SWEEP = {
    "smoke": dict(batch_sizes=(8, 16), seeds=(0,)),
    "mini": dict(batch_sizes=(16, 32, 64), seeds=(0, 1, 2)),
    "paper": dict(batch_sizes=(16, 32, 64, 128, 256), seeds=(0, 1, 2)),
}
# Iteration budget (beyond the paper): MRECG's gain over BRECQ at W2A4 against iterations per unit.
BUDGET_SWEEP = {
    "smoke": dict(models=("mobilenetv2_x0.5",), iters=(10, 20, 40), seeds=(0,)),
    "mini": dict(models=("mobilenetv2_x0.5", "resnet18"), iters=(500, 1000, 2000), seeds=(0, 1, 2)),
    "paper": dict(models=("mobilenetv2_x0.5", "resnet18"), iters=(2500, 5000, 10_000, 20_000), seeds=(0, 1, 2)),
}


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
    return [
        RunSpec(model, preset, method, w, a, seed, data_root=data_root, device=device)
        for model, (w, a) in TABLE1_CELLS[preset]["cells"] for method in TABLE1_METHODS
        for seed in seeds_for(preset, seeds)
    ]


def fig6_specs(preset: str, bits: tuple[int, int] = (2, 4), seeds: Sequence[int] | None = None,
               data_root: str | None = None, device: str = "cpu") -> list[RunSpec]:
    return [
        RunSpec(model, preset, method, *bits, seed, modcap=modcap, data_root=data_root, device=device)
        for model in FIG6_MODELS[preset] for _, method, modcap in FIG6_RUNS for seed in seeds_for(preset, seeds)
    ]


def table2_specs(preset: str, seeds: Sequence[int] | None = None, data_root: str | None = None,
                 device: str = "cpu") -> list[RunSpec]:
    """MobileNetV2 x0.5 W4A4. Rows without the expanded batch pin the preset's baseline sizes;
    rows with it use the preset's expanded sizes (the MRECG default, so "+ both" is Table 1's run)."""
    base, expanded = PRESETS[preset], EXPANDED[preset]
    specs = []
    for seed in (tuple(seeds) if seeds is not None else TABLE2_SEEDS[preset]):
        for _, method, expand in TABLE2_ROWS:
            sizes = {}
            if method.startswith("mrecg") and not expand:
                sizes = dict(calib_size=base["calib_size"], batch_size=base["batch_size"])
            elif expand and not method.startswith("mrecg"):
                sizes = dict(calib_size=expanded["calib_size"], batch_size=expanded["batch_size"])
            specs.append(RunSpec("mobilenetv2_x0.5", preset, method, 4, 4, seed, data_root=data_root,
                                 device=device, **sizes))
    return specs


def fig4_specs(preset: str, seeds: Sequence[int] | None = None, data_root: str | None = None,
               device: str = "cpu") -> list[RunSpec]:
    """Per width: BRECQ (no merges), MRECG's selected scheme at BRECQ's batch (granularity
    alone, like the random schemes), and ``schemes`` random schemes with MRECG's merge count."""
    sweep, base = FIG4_SWEEP[preset], PRESETS[preset]
    seed = seeds_for(preset, seeds)[0]
    specs = []
    for model in sweep["models"]:
        common = dict(w_bits=4, a_bits=4, seed=seed, data_root=data_root, device=device)
        specs.append(RunSpec(model, preset, "brecq", **common))
        specs.append(RunSpec(model, preset, "mrecg+brecq", calib_size=base["calib_size"],
                             batch_size=base["batch_size"], **common))
        specs += [RunSpec(model, preset, "brecq", scheme=f"random:{i}", **common) for i in range(sweep["schemes"])]
    return specs


def fig5_specs(preset: str, seeds: Sequence[int] | None = None, data_root: str | None = None,
               device: str = "cpu") -> list[RunSpec]:
    sweep = FIG5_SWEEP[preset]
    return [RunSpec("mobilenetv2_x0.5", preset, "brecq", 4, 4, seed, batch_size=b, data_root=data_root, device=device)
            for b in sweep["batch_sizes"] for seed in (tuple(seeds) if seeds is not None else sweep["seeds"])]


def budget_specs(preset: str, seeds: Sequence[int] | None = None, data_root: str | None = None,
                 device: str = "cpu") -> list[RunSpec]:
    """BRECQ and MRECG+BRECQ at W2A4 for each iteration count; the preset's own count uses
    ``iters=None`` so that those runs are Table 1's."""
    sweep, default = BUDGET_SWEEP[preset], PRESETS[preset]["iters"]
    return [RunSpec(model, preset, method, 2, 4, seed, iters=None if it == default else it,
                    data_root=data_root, device=device)
            for model in sweep["models"] for it in sweep["iters"] for method in ("brecq", "mrecg+brecq")
            for seed in (tuple(seeds) if seeds is not None else sweep["seeds"])]


def _run_in_worker(spec: RunSpec, results_dir: str, force: bool, threads: int) -> dict:
    import torch

    torch.set_num_threads(threads)
    return run(spec, results_dir, force=force, progress=False)


def default_workers(specs: Sequence[RunSpec]) -> int:
    """CPU runs go one per core, one thread each: the reconstruction steps are small, so two
    single-threaded runs side by side finish sooner than two runs after each other on two
    threads (see benchmarks/parallel_runs.py). GPU runs go one at a time."""
    if any(s.device != "cpu" for s in specs):
        return 1
    return max(1, min(len(specs), os.cpu_count() or 1))


def run_specs(specs: Iterable[RunSpec], results_dir: str | os.PathLike, force: bool = False,
              workers: int | None = None) -> list[dict]:
    """Run (or read back) every spec, in order, with one progress bar over the runs.

    Stored records are read here; the missing ones are computed by ``workers`` processes
    (default :func:`default_workers`) that each store their record atomically as it finishes,
    so an interrupted sweep keeps every finished run.
    """
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from multiprocessing import get_context

    from .experiments import record_path

    specs = list(specs)
    unique = {s.key(): s for s in specs}  # a spec listed twice runs once
    todo = [k for k, s in unique.items() if force or not record_path(s, results_dir).is_file()]
    results = {k: run(s, results_dir) for k, s in unique.items() if k not in todo}
    bar = tqdm(total=len(unique), initial=len(results), desc="runs")
    workers = workers or default_workers([unique[k] for k in todo])
    if workers == 1 or len(todo) <= 1:
        for k in todo:
            results[k] = run(unique[k], results_dir, force=force, progress=False)
            bar.update()
    else:
        threads = max(1, (os.cpu_count() or 1) // workers)
        with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
            futures = {pool.submit(_run_in_worker, unique[k], str(results_dir), force, threads): k for k in todo}
            for future in as_completed(futures):
                results[futures[future]] = future.result()
                bar.update()
    bar.close()
    return [results[s.key()] for s in specs]


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


# ----------------------------------------------------------------------------- Table 2


def table2_frame(records: Sequence[dict]) -> pd.DataFrame:
    """One row per component row: mean, spread and seeds of ours, our gain over BRECQ (mean of
    the per-seed differences) and its spread, and the paper's gain."""
    labels = {(method, expand): label for label, method, expand in TABLE2_ROWS}
    rows = []
    for r in records:
        cfg = r["config"]
        expand = cfg["batch_size"] == EXPANDED[cfg["preset"]]["batch_size"]
        rows.append({"label": labels[(r["spec"]["method"], expand)], "seed": r["spec"]["seed"], "top1": r["top1"]})
    df = pd.DataFrame(rows)
    wide = df.pivot_table(index="seed", columns="label", values="top1")
    paper_gain = paper.table2_gains()
    out = []
    for label, *_ in TABLE2_ROWS:
        gain = wide[label] - wide["BRECQ"]
        out.append({"row": label, "ours": wide[label].mean(), "ours_std": wide[label].std(), "seeds": int(wide[label].count()),
                    "gain_ours": gain.mean(), "gain_std": gain.std(), "gain_paper": paper_gain[label]})
    return pd.DataFrame(out)


# ----------------------------------------------------------------------------- Fig. 4


def fig4_frame(records: Sequence[dict]) -> pd.DataFrame:
    """model, kind (BRECQ / MRECG / random), top1, seconds, merges and the largest unit's
    weight count (the model-size cost of a scheme)."""
    from . import models
    from .modcap import block_sizes
    from .schemes import largest_unit

    sizes = {}
    rows = []
    for r in records:
        spec = r["spec"]
        if spec["model"] not in sizes:
            sizes[spec["model"]] = block_sizes(models.build(spec["model"], "paper" if spec["preset"] == "paper" else "mini"))
        kind = "MRECG" if spec["method"].startswith("mrecg") else ("random" if spec["scheme"] else "BRECQ")
        rows.append({"model": spec["model"], "kind": kind, "scheme": r["scheme_source"], "top1": r["top1"],
                     "seconds": r["seconds"], "merges": sum(len(g) - 1 for g in r["scheme"]),
                     "largest_unit": largest_unit(r["scheme"], sizes[spec["model"]])})
    return pd.DataFrame(rows)


def pareto_front(df: pd.DataFrame, cost: str = "largest_unit", value: str = "top1") -> pd.DataFrame:
    """Points not dominated by another (no other point is at most as costly and more accurate)."""
    ordered = df.sort_values([cost, value], ascending=[True, False])
    best, keep = -np.inf, []
    for idx, row in ordered.iterrows():
        if row[value] > best:
            keep.append(idx)
            best = row[value]
    return df.loc[keep]


def plot_fig4(frame: pd.DataFrame, stem: str | os.PathLike) -> list[Path]:
    """Left: accuracy of random schemes per width with BRECQ and MRECG marked. Right: accuracy
    against the largest unit's weight count, with each width's Pareto front."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 4.8))
    order = list(dict.fromkeys(frame.model))
    random = frame[frame.kind == "random"]
    sns.stripplot(data=random, x="model", y="top1", order=order, color="0.6", size=6, jitter=0.15, ax=left,
                  label="random schemes")
    for kind, marker, color in (("BRECQ", "s", "tab:blue"), ("MRECG", "*", "tab:red")):
        pts = frame[frame.kind == kind]
        left.scatter([order.index(m) for m in pts.model], pts.top1, marker=marker, s=160, color=color, zorder=3, label=kind)
    handles, labels = left.get_legend_handles_labels()
    seen = dict(zip(labels, handles))
    left.legend(seen.values(), seen.keys(), fontsize=8)
    left.set_title("W4A4 BRECQ with mixed granularity: random schemes vs MRECG")
    left.set_ylabel("top-1 (%)")
    for model, g in frame.groupby("model", sort=False):
        right.scatter(g.largest_unit, g.top1, s=[160 if k != "random" else 30 for k in g.kind], alpha=0.8,
                      marker="o", label=model)
        front = pareto_front(g).sort_values("largest_unit")
        right.step(front.largest_unit, front.top1, where="post", alpha=0.6)
        for kind in ("BRECQ", "MRECG"):
            for row in g[g.kind == kind].itertuples():
                right.annotate(kind, (row.largest_unit, row.top1), fontsize=8, xytext=(4, 4), textcoords="offset points")
    right.set_xlabel("largest reconstruction unit (weights)")
    right.set_ylabel("top-1 (%)")
    right.set_title("accuracy vs reconstruction cost, Pareto front per width")
    right.legend(fontsize=8)
    fig.tight_layout()
    paths = save_figure(fig, stem)
    plt.close(fig)
    return paths


# ----------------------------------------------------------------------------- Fig. 5


def fig5_frame(records: Sequence[dict]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per run (batch size, seed, top1) and per batch size (median, min, max, std, count)."""
    rows = pd.DataFrame({"batch_size": r["config"]["batch_size"], "seed": r["spec"]["seed"], "top1": r["top1"],
                         "seconds": r["seconds"]} for r in records)
    summary = rows.groupby("batch_size").top1.agg(["median", "min", "max", "std", "count"]).reset_index()
    return rows, summary


def plot_fig5(rows: pd.DataFrame, summary: pd.DataFrame, stem: str | os.PathLike) -> list[Path]:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    ax.scatter(rows.batch_size, rows.top1, color="0.6", label="one seed")
    ax.plot(summary.batch_size, summary["median"], "o-", color="tab:red", label="median over seeds")
    ax.fill_between(summary.batch_size, summary["min"], summary["max"], color="tab:red", alpha=0.15, label="range")
    ax.set_xscale("log", base=2)
    ax.set_xticks(summary.batch_size, [str(b) for b in summary.batch_size])
    ax.set_xlabel("reconstruction batch size")
    ax.set_ylabel("top-1 (%)")
    ax.set_title("BRECQ W4A4, MobileNetV2 x0.5: batch size")
    ax.legend()
    fig.tight_layout()
    paths = save_figure(fig, stem)
    plt.close(fig)
    return paths


# ----------------------------------------------------------------------------- iteration budget


def budget_frame(records: Sequence[dict]) -> pd.DataFrame:
    """model, method, iters, seed, top1, seconds, and the total optimisation steps (iterations
    times the number of reconstruction units: merged runs have fewer units)."""
    return pd.DataFrame(
        {"model": r["spec"]["model"], "method": r["spec"]["method"], "iters": r["config"]["iters"],
         "seed": r["spec"]["seed"], "top1": r["top1"], "seconds": r["seconds"],
         "units": len(r["units"]), "total_steps": r["config"]["iters"] * len(r["units"])}
        for r in records
    )


def budget_gains(frame: pd.DataFrame) -> pd.DataFrame:
    """Per model and iteration count: BRECQ and MRECG means, MRECG's gain (mean and spread of
    the per-seed differences), and BRECQ's distance to its best-budget accuracy."""
    wide = frame.pivot_table(index=["model", "iters", "seed"], columns="method", values="top1").reset_index()
    wide["gain"] = wide["mrecg+brecq"] - wide["brecq"]
    out = wide.groupby(["model", "iters"]).agg(brecq=("brecq", "mean"), brecq_std=("brecq", "std"),
                                               mrecg=("mrecg+brecq", "mean"), gain=("gain", "mean"),
                                               gain_std=("gain", "std"), seeds=("gain", "count")).reset_index()
    out["brecq_below_best"] = out.groupby("model").brecq.transform("max") - out.brecq
    return out


def gain_verdict(gain: float, spread: float, seeds: int) -> str:
    """How to read a mean gain over ``seeds`` runs whose seed-to-seed spread (std) is ``spread``.

    Only a gain larger than the spread counts as a difference; one seed has no spread to judge by,
    so it never counts as a win however large the number."""
    if seeds < 2 or not math.isfinite(spread):
        return "one seed: no spread to judge it by"
    if abs(gain) > spread:
        return f"larger than the seed spread: a real {'gain' if gain > 0 else 'loss'}"
    return "within the seed spread: not distinguishable from noise"


def converged_iters(gains: pd.DataFrame, tolerance: float = 1.0) -> dict[str, int]:
    """Per model, the fewest iterations at which BRECQ is within ``tolerance`` points of its best
    mean accuracy over the sweep."""
    return {m: int(g[g.brecq_below_best <= tolerance].iters.min()) for m, g in gains.groupby("model")}


def plot_budget(frame: pd.DataFrame, gains: pd.DataFrame, stem: str | os.PathLike) -> list[Path]:
    """Left: MRECG's gain over BRECQ against iterations per unit (mean and seed spread). Right:
    top-1 against total optimisation steps, so the methods are compared at matched compute."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 4.8))
    for model, g in gains.groupby("model"):
        left.errorbar(g.iters, g.gain, yerr=g.gain_std.fillna(0), marker="o", capsize=4, label=model)
    left.axhline(0, color="0.5", lw=0.8)
    left.set_xscale("log", base=2)
    left.set_xticks(sorted(gains.iters.unique()), [str(i) for i in sorted(gains.iters.unique())])
    left.set_xlabel("iterations per unit")
    left.set_ylabel("MRECG+BRECQ - BRECQ (pt), W2A4")
    left.set_title("gain against iteration budget (bars: seed spread)")
    left.legend()
    sns.lineplot(data=frame, x="total_steps", y="top1", hue="model", style="method", markers=True, errorbar="sd",
                 ax=right)
    right.set_xscale("log")
    right.set_xlabel("total optimisation steps (iterations x units)")
    right.set_ylabel("top-1 (%)")
    right.set_title("accuracy at matched total compute")
    fig.tight_layout()
    paths = save_figure(fig, stem)
    plt.close(fig)
    return paths


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
