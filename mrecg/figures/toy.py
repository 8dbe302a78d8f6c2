"""Notebook 00: the oscillation argument on the toy chain of :mod:`mrecg.study.toy`, cached like a run.

The toy experiment (two reconstructions of the toy, block by block and with the capacity-drop
pairs merged) is stored as ``<results>/<preset>/toy/<key>.json`` with the code fingerprint and the
machine, so a re-plot computes nothing and reads the same numbers.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pandas as pd

from ..study import records, toy
from ..study.fingerprint import TOY
from ..study.oscillation import oscillation
from ..study.sweeps import Study
from .saving import save_figure

BITS = (4, 8)


def record_path(study: Study, results_dir: str | os.PathLike, seed: int) -> Path:
    what = {"toy": toy.TOY_PRESETS[study.preset], "widths": list(toy.DEFAULT_WIDTHS), "bits": list(BITS), "seed": seed}
    key = hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()[:16]
    return Path(results_dir) / study.preset / "toy" / f"{key}.json"


def experiment(study: Study, results_dir: str | os.PathLike, force: bool = False,
               recompute_stale: bool = False) -> dict:
    """ModCap values, the merged scheme and the per-block errors of both runs (read or computed)."""
    seed = study.seeds_or((0,))[0]

    def make() -> dict:
        result = toy.toy_experiment(study.preset, bits=BITS, seed=seed, data_root=study.data_root)
        return {"top1": None, "modcap": result["modcap"].values, "joint_scheme": result["joint_scheme"],
                "errors": result["errors"].to_dict(orient="records"), "seed": seed, **records.stamp("cpu", TOY)}

    return records.read_or_compute(record_path(study, results_dir, seed), make, force, recompute_stale, TOY)


def errors(record: dict) -> pd.DataFrame:
    return pd.DataFrame(record["errors"])


def measures(errors: pd.DataFrame) -> pd.DataFrame:
    """Oscillation measures (total variation, local maxima) and mean error of each run's curve."""
    return pd.DataFrame([{"run": run, **oscillation(g.error.tolist()), "mean error": g.error.mean()}
                         for run, g in errors.groupby("run")])


def plot(errors: pd.DataFrame, drops: list[int], stem: str | os.PathLike) -> list[Path]:
    """Per-block error of both runs, raw and normalised, with the capacity-drop pairs shaded."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 4))
    for ax, y in zip(axes, ("error", "normalised")):
        for run, g in errors.groupby("run"):
            ax.plot(g.block, g[y], "o-", label=run)
        for i in drops:
            ax.axvspan(i - 0.3, i + 1.3, color="tab:orange", alpha=0.12)
        ax.set_xlabel("block (shaded: capacity-drop pairs)")
        ax.set_ylabel("reconstruction error (sum over channels, mean over batch and positions)" if y == "error"
                      else "error / float output energy (ratio)")
    axes[0].legend()
    fig.tight_layout()
    paths = save_figure(fig, stem)
    plt.close(fig)
    return paths
