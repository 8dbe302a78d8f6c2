"""Cached experiment runs: one frozen spec in, one stored record out.

``run(spec)`` quantizes and evaluates a model as ``spec`` says, and stores the record as JSON
under ``results_dir/<preset>/<key>.json``, where ``key`` is a stable hash of the spec and the
package version. A second call returns the stored record without recomputing; writes are atomic
(temporary file + rename), so a killed run leaves no partial record and the rerun simply
starts that run again. ``load_results`` gathers every record into one tidy DataFrame.
"""

from __future__ import annotations

import hashlib
import json
import platform
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import torch

from . import __version__, data, models
from .config import PTQConfig
from .evaluation import evaluate
from .storage import save_json


@dataclass(frozen=True)
class RunSpec:
    """Everything that determines a result. ``None`` sizes take the preset's values."""

    model: str
    preset: str = "mini"
    method: str = "brecq"
    w_bits: int = 4
    a_bits: int = 4
    seed: int = 0
    iters: int | None = None
    batch_size: int | None = None
    calib_size: int | None = None
    scheme: str | tuple[tuple[int, ...], ...] | None = None
    modcap: str | None = None
    k: int | None = None
    weights: str | None = None
    data_root: str | None = None
    device: str = "cpu"

    def __post_init__(self):
        models.check_name(self.model)
        if isinstance(self.scheme, list):
            object.__setattr__(self, "scheme", tuple(tuple(g) for g in self.scheme))
        self.config()  # validate now, not halfway through a sweep

    def config(self) -> PTQConfig:
        optional = {"iters": self.iters, "batch_size": self.batch_size, "calib_size": self.calib_size,
                    "scheme": self.scheme, "modcap": self.modcap, "k": self.k}
        return PTQConfig.preset_config(
            self.preset, model=self.model, method=self.method, w_bits=self.w_bits, a_bits=self.a_bits,
            seed=self.seed, device=self.device, **{k: v for k, v in optional.items() if v is not None},
        )

    def to_dict(self) -> dict:
        d = asdict(self)
        if self.scheme is not None and not isinstance(self.scheme, str):
            d["scheme"] = [list(g) for g in self.scheme]
        return d

    def key(self) -> str:
        """Stable across processes and machines: a hash of the canonical JSON of the spec, the
        configuration it resolves to (so a changed preset never reads a stale record) and the version."""
        config = asdict(self.config())
        text = json.dumps({"spec": self.to_dict(), "config": config, "version": __version__}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def record_path(spec: RunSpec, results_dir: str | Path) -> Path:
    return Path(results_dir) / spec.preset / f"{spec.key()}.json"


def datasets(spec: RunSpec, cfg: PTQConfig):
    """Calibration tensor (calibration + hold-out images, drawn with the seed) and test loader."""
    n = cfg.calib_size + cfg.holdout_size
    if spec.preset == "paper":
        if not spec.data_root:
            raise data.DataError("the paper preset needs ImageNet: set data_root to the folder holding train/ and val/")
        calib = data.calibration_set(data.imagenet(spec.data_root, "train"), n, cfg.seed)
        loader = torch.utils.data.DataLoader(data.imagenet(spec.data_root, "val"), batch_size=100, num_workers=4)
    else:
        calib = data.calibration_set(data.fashion_mnist("train", spec.data_root), n, cfg.seed)
        loader = data.TensorLoader(data.fashion_mnist("test", spec.data_root), batch_size=500)
    return calib, loader


def compute(spec: RunSpec, progress: bool = True) -> dict:
    """Quantize and evaluate (no caching): the record of one run."""
    from .ptq import quantize

    cfg = spec.config()
    model = models.load(spec.model, "paper" if spec.preset == "paper" else "mini", spec.weights)
    calib, loader = datasets(spec, cfg)
    manifest = models.mini_manifest().get(spec.model) if spec.preset != "paper" and not spec.weights else None
    fp_top1 = manifest["fp_top1"] if manifest else round(evaluate(model, loader, spec.device), 2)
    start = time.perf_counter()
    qmodel, report = quantize(model, calib, cfg, progress=progress)
    top1 = evaluate(qmodel, loader, spec.device)
    record = {
        "key": spec.key(),
        "spec": spec.to_dict(),
        "config": report.config,
        "top1": round(top1, 2),
        "fp_top1": fp_top1,
        "seconds": round(time.perf_counter() - start, 2),
        "scheme": report.scheme,
        "scheme_source": report.scheme_source,
        "modcap": report.modcap,
        "units": [asdict(u) for u in report.units],
        "errors": [asdict(e) for e in report.errors],
        "version": __version__,
        "torch": torch.__version__,
        "machine": f"{platform.machine()}, {torch.get_num_threads()} threads",
    }
    return json.loads(json.dumps(record))  # exactly what a cache hit will read back


def run(spec: RunSpec, results_dir: str | Path = "results", force: bool = False, progress: bool = True) -> dict:
    """The record of ``spec``: read from ``results_dir`` if stored (unless ``force``), else
    computed and stored atomically."""
    path = record_path(spec, results_dir)
    if path.is_file() and not force:
        return json.loads(path.read_text())
    record = compute(spec, progress)
    save_json(record, path)
    return record


def load_records(results_dir: str | Path = "results", preset: str | None = None) -> list[dict]:
    folder = Path(results_dir)
    pattern = f"{preset}/*.json" if preset else "*/*.json"
    return [json.loads(p.read_text()) for p in sorted(folder.glob(pattern)) if p.name != "manifest.json"]


def load_results(results_dir: str | Path = "results", preset: str | None = None):
    """One row per run (spec columns + top1, fp_top1, seconds, scheme, ...); the per-unit and
    per-block details stay in the ``units`` and ``errors`` columns as lists of dicts."""
    import pandas as pd

    rows = []
    for r in load_records(results_dir, preset):
        spec = {f.name: r["spec"].get(f.name) for f in fields(RunSpec)}  # columns in RunSpec's order
        row = {**spec, **{k: r[k] for k in ("key", "top1", "fp_top1", "seconds", "scheme_source", "version")}}
        row["scheme"] = json.dumps(r["scheme"])
        row["merges"] = sum(len(g) - 1 for g in r["scheme"])
        row["units"], row["errors"] = r["units"], r["errors"]
        rows.append(row)
    return pd.DataFrame(rows)
