"""Notebook 00: the toy of :mod:`mrecg.study.toy` cached like every run, its figure, the same measures
on the real networks' records and the paper's Fig. 6, and the interactive control.

Each toy run (one setting, one seed) is stored as ``<results>/<preset>/toy/<key>.json`` with the code
fingerprint and the machine; :func:`records` is the one place that reads or computes them.
"""

from __future__ import annotations

import atexit
import hashlib
import io
import json
import math
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from .. import models
from ..merging.modcap import data_free
from ..study import oscillation, paper, stats, toy
from ..study import records as stored_records
from ..study.fingerprint import TOY
from ..study.sweeps import TABLES_ACT_INIT, Study
from ..study.toy import Setting
from .saving import save_figure

# the default sweep: contrasts from 0 up at the low blocks' bits, block by block and with k pairs merged.
# k = 1 leaves three units of the four blocks, so the oscillation can be compared at the units' ends; k = 2
# leaves two, which cannot oscillate, and is compared at the block ends only.
SWEEP = {"smoke": dict(contrasts=(0, 2), bits=2, ks=(1,)),
         "mini": dict(contrasts=(0, 1, 2), bits=2, ks=(1, 2)),
         "paper": dict(contrasts=(0, 1, 2), bits=2, ks=(1, 2))}
REAL = dict(models=("mobilenetv2_x0.5", "resnet18"), w_bits=2, a_bits=4)  # Fig. 6's cell of the mini grid
PAPER_MODEL = "mobilenetv2_x1.0"  # the network of the paper's Fig. 6


def settings(study: Study) -> list[Setting]:
    sweep = study.sweep(SWEEP)
    return [Setting(c, sweep["bits"], k) for c in sweep["contrasts"] for k in (0, *sweep["ks"])]


def seeds(study: Study) -> tuple[int, ...]:
    return study.seeds_or(toy.PRESETS[study.preset].seeds)


def record_path(preset: str, results_dir: str | os.PathLike, setting: Setting, seed: int) -> Path:
    what = {"toy": asdict(toy.PRESETS[preset]) | {"seeds": None}, "model": [toy.N_BLOCKS, toy.WIDTH, toy.EXPANSION],
            "train": toy.TRAIN, "setting": asdict(setting), "seed": seed}
    key = hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()[:16]
    return Path(results_dir) / preset / "toy" / f"{key}.json"


def _computed(setting: Setting, seed: int, preset: str, data_root: str | None) -> dict:
    """One toy run with its stamp: on one thread wherever it runs, so every process gives the same numbers."""
    with toy.one_thread():
        return {**toy.run(setting, seed, preset, data_root), **stored_records.stamp("cpu", TOY)}


_POOL: ProcessPoolExecutor | None = None


def _pool() -> ProcessPoolExecutor:
    """One worker per core, kept for the session: each trains the float toy once (its
    ``trained_model`` cache), so a later setting costs only its runs. Spawned, not forked: a fork
    copies torch's thread pool state."""
    global _POOL
    if _POOL is None:
        _POOL = ProcessPoolExecutor(os.cpu_count() or 1, mp_context=multiprocessing.get_context("spawn"))
        atexit.register(_POOL.shutdown, cancel_futures=True)
    return _POOL


def records(study: Study, results_dir: str | os.PathLike, chosen: Sequence[Setting], force: bool = False,
            recompute_stale: bool = False, spread: bool = True) -> list[dict]:
    """The records of ``chosen`` settings at every seed: read from the cache, or computed and
    stored. The missing ones are computed together, spread over the cores when there are several
    (``spread=False``: one after another in this process)."""
    pairs = [(setting, seed) for setting in chosen for seed in seeds(study)]
    path = {pair: record_path(study.preset, results_dir, *pair) for pair in pairs}
    todo = [pair for pair in pairs if stored_records.needs_computing(path[pair], force, recompute_stale, TOY)]
    if todo:
        stored_records.check_writable(path[todo[0]].parent)
    args = [(setting, seed, study.preset, study.data_root) for setting, seed in todo]
    if spread and len(todo) > 1 and (os.cpu_count() or 1) > 1:
        computed = dict(zip(todo, _pool().map(_computed, *zip(*args))))
    else:
        computed = {pair: _computed(*a) for pair, a in zip(todo, args)}
    return [stored_records.read_or_compute(path[pair], lambda pair=pair: computed[pair], pair in computed,
                                           recompute_stale, TOY) for pair in pairs]


def record_paths(study: Study, results_dir: str | os.PathLike, chosen: Sequence[Setting]) -> list[Path]:
    return [record_path(study.preset, results_dir, s, seed) for s in chosen for seed in seeds(study)]


def is_stored(study: Study, results_dir: str | os.PathLike, chosen: Sequence[Setting]) -> bool:
    return all(p.is_file() for p in record_paths(study, results_dir, chosen))


# ----------------------------------------------------------------------------- from toy to real


def _real_pairs(results_dir: str | os.PathLike, preset: str, act_init: str) -> dict[tuple[str, int], dict[str, dict]]:
    """(model, seed) -> {"BRECQ": record, "MRECG": record} for Fig. 6's cell of the grid, in one range setup."""
    pairs: dict[tuple[str, int], dict[str, dict]] = {}
    for r in stored_records.load_records(results_dir, preset):
        cfg = r["config"]
        if r["spec"]["model"] not in REAL["models"] or (cfg["w_bits"], cfg["a_bits"]) != (REAL["w_bits"], REAL["a_bits"]) \
                or cfg.get("act_init", "ours") != act_init:
            continue
        label = {("brecq", None): "BRECQ", ("mrecg+brecq", "official"): "MRECG"}.get((cfg["method"], cfg["scheme"]))
        if label:
            pairs.setdefault((r["spec"]["model"], cfg["seed"]), {})[label] = r
    return {k: v for k, v in pairs.items() if len(v) == 2}


def real_frame(results_dir: str | os.PathLike, preset: str, act_init: str = TABLES_ACT_INIT) -> pd.DataFrame:
    """BRECQ and released MRECG on the real networks, per model and seed: the toy's measures on the
    normalised per-block error, at every block end and at MRECG's unit ends (the same points in
    both runs), and the output error."""
    rows = []
    for (model, seed), runs in sorted(_real_pairs(results_dir, preset, act_init).items()):
        ends = oscillation.unit_ends(runs["MRECG"]["scheme"])
        for label, r in runs.items():
            curve = oscillation.block_values(r["errors"])
            rows.append({"model": model, "seed": seed, "label": label, "excess": oscillation.excess_variation(curve),
                         "excess at unit ends": oscillation.excess_variation([curve[b] for b in ends]),
                         "share": oscillation.oscillation_share(curve), "output": oscillation.output_error(r["errors"]),
                         "top1": r["top1"]})
    return pd.DataFrame(rows)


def real_claims(real: pd.DataFrame) -> pd.DataFrame:
    """Claim (c) on the real networks: BRECQ minus MRECG (released), paired over seeds."""
    out = []
    for model, g in real.groupby("model", sort=False):
        b, m = (g[g.label == x].set_index("seed").sort_index() for x in ("BRECQ", "MRECG"))
        for measure, claim in (("excess", "MRECG lowers the oscillation at every block end"),
                               ("excess at unit ends", "MRECG lowers the oscillation at its unit ends"),
                               ("output", "MRECG lowers the output error")):
            d = stats.paired(list(b[measure]), list(m[measure]))
            out.append({"model": model, "claim": claim, "mean": d.mean, "lo": d.lo, "hi": d.hi, "seeds": d.n,
                        "verdict": oscillation.claim_verdict(d)})
    return pd.DataFrame(out)


def contrast_axis(study: Study, results_dir: str | os.PathLike, toy_records: Sequence[dict]) -> pd.DataFrame:
    """Where everything sits on one pair of axes: capacity contrast (mean ``|log2|`` ModCap ratio of
    adjacent comparable blocks, weights at W2) against oscillation share of the block curve (mean
    over seeds): the toy block by block per contrast, the real networks, and the paper's Fig. 6."""
    rows = []
    f = oscillation.frame(toy_records)
    for (c, bits), g in f[f.k == 0].groupby(["contrast", "bits"]):
        rows.append({"what": f"toy, contrast {c}", "kind": "toy", "capacity contrast": math.log2((bits + c) / bits),
                     "oscillation share": float(np.mean([oscillation.oscillation_share(v) for v in g.curve]))})
    real = real_frame(results_dir, study.preset, study.act_init)
    for model in REAL["models"]:
        cap = data_free(models.build(model, "mini"), REAL["w_bits"])
        for label in ("BRECQ", "MRECG"):
            g = real[(real.model == model) & (real.label == label)]
            if len(g):
                rows.append({"what": f"{model} {label} (ours)", "kind": label,
                             "capacity contrast": oscillation.capacity_contrast(cap.values, cap.comparable),
                             "oscillation share": float(g.share.mean())})
    cap = data_free(models.build(PAPER_MODEL, "paper"), REAL["w_bits"])
    for key, label in (("brecq", "BRECQ"), ("mrecg_loss", "MRECG")):
        rows.append({"what": f"paper's Fig. 6 {label}", "kind": f"paper {label}",
                     "capacity contrast": oscillation.capacity_contrast(cap.values, cap.comparable),
                     "oscillation share": oscillation.oscillation_share(paper.fig6_curves()[key])})
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------- plots


def _mean_ci(values: Sequence[float]) -> tuple[float, float]:
    d = stats.paired(list(values), [0.0] * len(values))
    return d.mean, (d.hi - d.mean) if d.n > 1 else 0.0


def plot(toy_records: Sequence[dict], axis: pd.DataFrame, stem: str | os.PathLike) -> list[Path]:
    """The sweep in six panels: normalised and raw block curves per contrast, block by block against
    merged at the top contrast, excess variation and output error against contrast (95 % intervals),
    and the toy, the real networks and the paper on the contrast axis."""
    import matplotlib.pyplot as plt

    norm, raw = oscillation.frame(toy_records), oscillation.frame(toy_records, "error")
    seq, merged = norm[norm.k == 0], norm[norm.k > 0]
    fig, ax = plt.subplots(2, 3, figsize=(17, 9))
    for c, g in seq.groupby("contrast"):
        ax[0][0].plot(np.mean(list(g.curve), axis=0), "o-", label=f"contrast {c}")
    for c, g in raw[raw.k == 0].groupby("contrast"):
        ax[1][0].plot(np.mean(list(g.curve), axis=0), "o-", label=f"contrast {c}")
    top = max(seq.contrast)
    partitions = [("block by block", seq)] + [(f"top-{k} pairs merged", g) for k, g in merged.groupby("k")]
    for label, g in partitions:
        g = g[g.contrast == top]
        if len(g):
            line, = ax[0][1].plot(np.mean(list(g.curve), axis=0), "o-", label=label)
            ends = oscillation.unit_ends(g.scheme.iloc[0]) if g.k.iloc[0] else []
            ax[0][1].plot(ends, np.mean(list(g.curve), axis=0)[ends], "s", ms=11, mfc="none", color=line.get_color())
    bits = sorted(set(seq.bits))[0]
    ax[0][1].set_title(f"contrast {top}: W{bits} blocks 0, 2, ..., W{bits + top} blocks 1, 3, ... (squares: unit ends)")
    for label, g in partitions:
        for a, measure in ((ax[0][2], "excess"), (ax[1][1], "output")):
            points = [(c, *_mean_ci(h[measure])) for c, h in g.groupby("contrast")]
            if points:
                a.errorbar([p[0] for p in points], [p[1] for p in points], [p[2] for p in points], marker="o",
                           capsize=4, label=label)
    for a, y in ((ax[0][0], "error / float output energy"), (ax[1][0], "error (sum over channels)"),
                 (ax[0][1], "error / float output energy")):
        a.set_xlabel("block")
        a.set_ylabel(y)
        a.legend(fontsize=8)
    ax[0][0].set_title("block by block, per contrast (mean over seeds)")
    ax[1][0].set_title("the same, raw error: it accumulates")
    ax[0][2].set_title("oscillation: total variation beyond the net change")
    ax[0][2].set_xlabel("capacity contrast (extra bits of every other block)")
    ax[0][2].set_ylabel("excess variation of the normalised curve (95 % interval)")
    ax[1][1].set_title("what PTQ is for: the output's error")
    ax[1][1].set_xlabel("capacity contrast (extra bits of every other block)")
    ax[1][1].set_ylabel("logits' error / their energy (95 % interval)")
    for a in (ax[0][2], ax[1][1]):
        a.legend(fontsize=8)
    markers = {"toy": "o", "BRECQ": "s", "MRECG": "D", "paper BRECQ": "^", "paper MRECG": "v"}
    for kind, g in axis.groupby("kind", sort=False):
        ax[1][2].scatter(g["capacity contrast"], g["oscillation share"], marker=markers[kind], s=50, label=kind)
        for r in g.itertuples():
            ax[1][2].annotate(r.what.replace(" (ours)", ""), (r[3], r[4]), fontsize=7, xytext=(3, 3),
                              textcoords="offset points")
    ax[1][2].set_title("toy to real: where the networks sit")
    ax[1][2].set_xlabel("capacity contrast: mean |log2 ModCap ratio| of adjacent blocks")
    ax[1][2].set_ylabel("oscillation share: excess / total variation")
    ax[1][2].legend(fontsize=8)
    fig.tight_layout()
    paths = save_figure(fig, stem)
    plt.close(fig)
    return paths


def _setting_png(toy_records: Sequence[dict]) -> bytes:
    """One setting drawn for the control: each seed's normalised block curve, block by block and merged."""
    import matplotlib.pyplot as plt

    f = oscillation.frame(toy_records)
    fig, ax = plt.subplots(figsize=(7, 3.6))
    for label, g, color in (("block by block", f[f.k == 0], "tab:blue"), ("top-k pairs merged", f[f.k > 0], "tab:orange")):
        for curve in g.curve:
            ax.plot(curve, "-", color=color, alpha=0.25)
        if len(g):
            ax.plot(np.mean(list(g.curve), axis=0), "o-", color=color, label=f"{label} (mean of {len(g)} seeds)")
    ax.set_xlabel("block")
    ax.set_ylabel("error / float output energy")
    ax.legend(fontsize=8)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80)
    plt.close(fig)
    return buffer.getvalue()


class ToyControl:
    """Sliders for the contrast, the low blocks' bits and k: each change reads or computes the
    setting at every seed (cached like every run) and redraws the curves and the verdicts."""

    def __init__(self, study: Study, results_dir: str | os.PathLike, contrast: int = 2, bits: int = 2, k: int = 2):
        import ipywidgets as w

        self.study, self.results_dir = study, results_dir
        style = dict(continuous_update=False)
        self.contrast = w.IntSlider(contrast, 0, toy.MAX_BITS - 2, description="contrast", **style)
        self.bits = w.IntSlider(bits, 2, toy.MAX_BITS, description="bits", **style)
        self.k = w.IntSlider(k, 0, toy.N_BLOCKS - 1, description="k", **style)
        self.image = w.Image(format="png")
        self.verdicts = w.HTML()
        for slider in (self.contrast, self.bits, self.k):
            slider.observe(lambda _: self.redraw(), names="value")
        self.box = w.VBox([w.HBox([self.contrast, self.bits, self.k]), self.image, self.verdicts])
        self.redraw()

    def setting(self) -> Setting:
        return Setting(self.contrast.value, self.bits.value, self.k.value)

    def redraw(self) -> None:
        try:
            chosen = self.setting()
        except ValueError as e:
            self.verdicts.value = f"<b>{e}</b>"
            return
        self.verdicts.value = "computing..." if not is_stored(self.study, self.results_dir, [chosen]) else ""
        got = records(self.study, self.results_dir, list(dict.fromkeys([chosen.sequential(), chosen])))
        self.image.value = _setting_png(got)
        lines = oscillation.verdict_lines(oscillation.claims(got))
        self.verdicts.value = f"<b>{chosen}</b><br>" + "<br>".join(lines)

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.box)
