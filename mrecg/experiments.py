"""Cached experiment runs: one spec in, one stored record out.

``run(spec)`` quantizes and evaluates a model as ``spec`` says and stores the record as JSON under
``results_dir/<preset>/<key>.json``. The key hashes what determines the numbers, once: the model,
its weights, the dataset and the *resolved* configuration (every default filled in, knobs that
cannot matter cleared, where it ran left out), so a spec that spells out a default shares its
key with one that does not. A second call returns the stored record; writes are atomic, so a
killed run leaves no partial record and the rerun starts that run again.

Each record says what computed it: the code fingerprint (:mod:`mrecg.fingerprint`, a hash of the
package's numerical sources and the data they read), the CPU model, the thread count, torch and the device. A record
whose fingerprint differs from the current code is *stale*: it is still read (and reported as
such by ``mrecg reproduce``), and recomputed only when asked (``recompute_stale=True``), so
that an edit never silently recomputes hours of work nor silently mixes old numbers with new.
"""

from __future__ import annotations

import hashlib
import json
import platform
import tempfile
import time
import warnings
from dataclasses import asdict
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch

from . import __version__, data, models, paths, selection
from .config import ConfigError, PTQConfig, knobs
from .evaluation import evaluate
from .fingerprint import code_fingerprint, computed_by
from .storage import save_json

KNOBS = {f.name for f in knobs()}
NOT_RECORDS = ("manifest.json", "noise.json")  # files beside the records in results/<preset>/


class ExperimentError(ValueError):
    """A bad spec or an unusable results folder; one line that names the fix."""


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


@lru_cache(maxsize=None)
def _file_digest(path: str, mtime: float, size: int) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:16]


def weights_identity(weights: str | None) -> str | None:
    """A weights file by its content (so the same file under another path shares keys), a
    torchvision weights name by its name, the committed mini checkpoint as None."""
    if weights is None or not Path(weights).is_file():
        return weights
    st = Path(weights).stat()
    return "sha256:" + _file_digest(str(Path(weights).resolve()), st.st_mtime, st.st_size)


class RunSpec:
    """A run: the model, the preset, where its weights and data come from, and overrides of the
    preset's :class:`~mrecg.config.PTQConfig` (any of its fields, e.g. ``method="qdrop"``,
    ``w_bits=2``, ``seed=1``). Validated on construction, so a sweep fails before its first run."""

    __slots__ = ("model", "preset", "weights", "data_root", "overrides")

    def __init__(self, model: str, preset: str = "mini", *, weights: str | None = None,
                 data_root: str | None = None, **overrides: Any):
        unknown = sorted(set(overrides) - KNOBS)
        if unknown:
            raise ExperimentError(f"unknown setting {unknown[0]!r}; settings are {', '.join(sorted(KNOBS))}")
        models.check_name(model)
        if isinstance(overrides.get("scheme"), list):
            overrides["scheme"] = tuple(tuple(g) for g in overrides["scheme"])
        for name, value in (("model", model), ("preset", preset), ("weights", weights), ("data_root", data_root),
                            ("overrides", tuple(sorted(overrides.items())))):
            object.__setattr__(self, name, value)
        self.config()  # validate now, not halfway through a sweep

    def __setattr__(self, name, value):
        raise AttributeError("RunSpec is immutable")

    def __reduce__(self):  # pickled by value (worker processes)
        return RunSpec.from_dict, (self.to_dict(),)

    def __getattr__(self, name: str) -> Any:
        """Configuration fields read through: ``spec.method``, ``spec.seed`` (resolved values)."""
        if name in KNOBS:
            return getattr(self.resolved(), name)
        raise AttributeError(name)

    def __repr__(self) -> str:
        extra = "".join(f", {k}={v!r}" for k, v in self.overrides)
        return f"RunSpec({self.model!r}, {self.preset!r}{extra})"

    def __eq__(self, other) -> bool:
        """Equal when they compute the same thing (however the overrides are spelled)."""
        return isinstance(other, RunSpec) and self.preset == other.preset and self.key() == other.key()

    def __hash__(self) -> int:
        return hash(self.key())

    def with_(self, **overrides: Any) -> "RunSpec":
        return RunSpec(self.model, self.preset, weights=self.weights, data_root=self.data_root,
                       **{**dict(self.overrides), **overrides})

    def config(self) -> PTQConfig:
        """The preset's configuration with the overrides (defaults not yet resolved)."""
        return PTQConfig.preset_config(self.preset, model=self.model, **dict(self.overrides))

    def resolved(self) -> PTQConfig:
        return selection.resolve_config(self.config(), selection.family_of(self.model))

    def to_dict(self) -> dict:
        overrides = {k: ([list(g) for g in v] if k == "scheme" and isinstance(v, tuple) else v)
                     for k, v in self.overrides}
        return {"model": self.model, "preset": self.preset, "weights": self.weights, "data_root": self.data_root,
                "overrides": overrides}

    @classmethod
    def from_dict(cls, d: dict) -> "RunSpec":
        return cls(d["model"], d["preset"], weights=d.get("weights"), data_root=d.get("data_root"), **d["overrides"])

    def key(self) -> str:
        """Stable across processes and machines: what determines the numbers, hashed once."""
        what = {"model": self.model, "weights": weights_identity(self.weights),
                "data": "imagenet" if self.preset == "paper" else "fashion-mnist", "config": self.resolved().key_dict()}
        return hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()[:16]

    def modcap_pass(self) -> "RunSpec | None":
        """The block-wise pass that the data-dependent ModCap of this run needs (cached like a run)."""
        cfg = self.resolved()
        if cfg.scheme != "modcap:loss":
            return None
        base = selection.modcap_pass_config(cfg)
        return RunSpec(self.model, self.preset, weights=self.weights, data_root=self.data_root,
                       **{k: v for k, v in base.to_dict().items() if k in KNOBS})


def record_path(spec: RunSpec, results_dir: str | Path | None = None) -> Path:
    return paths.results_dir(results_dir) / spec.preset / f"{spec.key()}.json"


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


def machine(device: str) -> dict:
    return {"cpu": cpu_model(), "threads": torch.get_num_threads(), "torch": torch.__version__,
            "device": torch.cuda.get_device_name(torch.device(device)) if device.startswith("cuda") else "cpu",
            "platform": platform.platform()}


def compute(spec: RunSpec, progress: bool = True, results_dir: str | Path | None = None) -> dict:
    """Quantize and evaluate (this run is not cached): the record of one run. With ``results_dir``,
    the data-dependent ModCap pass it needs is read from (or stored in) the cache."""
    from .ptq import quantize

    cfg = spec.config()
    model = models.load(spec.model, models.variant(spec.preset), spec.weights)
    calib, loader = datasets(spec, cfg)
    manifest = models.mini_manifest().get(spec.model) if spec.preset != "paper" and not spec.weights else None
    fp_top1 = manifest["fp_top1"] if manifest else round(evaluate(model, loader, cfg.device), 2)
    start = time.perf_counter()

    def pass_losses(_: PTQConfig) -> list[float]:
        record = run(spec.modcap_pass(), results_dir, progress=progress)
        return [u["loss"] for u in record["units"] if u["blocks"]]

    cfg, chosen = selection.select(model, calib, cfg, progress, losses=pass_losses if results_dir is not None else None)
    qmodel, report = quantize(model, calib, cfg, progress=progress)
    top1 = evaluate(qmodel, loader, cfg.device)
    record = {
        "key": spec.key(),
        "spec": spec.to_dict(),
        "config": spec.resolved().to_dict(),
        "top1": round(top1, 2),
        "fp_top1": fp_top1,
        "seconds": round(time.perf_counter() - start, 2),
        "scheme": report.scheme,
        "scheme_source": chosen.source,
        "modcap": chosen.modcap,
        "units": [asdict(u) for u in report.units],
        "errors": [asdict(e) for e in report.errors],
        "code": {"fingerprint": code_fingerprint(), "version": __version__},
        "machine": machine(cfg.device),
    }
    return json.loads(json.dumps(record))  # exactly what a cache hit will read back


def read_record(path: Path) -> dict | None:
    """A stored record, or None (with a warning naming the file) when it is unreadable."""
    try:
        record = json.loads(path.read_text())
        if not isinstance(record, dict) or "top1" not in record:
            raise ValueError("not a run record")
        return record
    except (OSError, ValueError) as e:
        warnings.warn(f"skipping unreadable record {path}: {str(e).splitlines()[0]}", stacklevel=2)
        return None


def is_stale(record: dict) -> bool:
    """Whether other code computed ``record`` (records from before fingerprints count as other code)."""
    return computed_by((record.get("code") or {}).get("fingerprint")) != code_fingerprint()


def check_writable(folder: Path) -> None:
    """Fail before computing, not after, when a record could not be stored."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ExperimentError(f"cannot create the results folder {folder}: {e.strerror}; pass another results_dir") \
            from None
    try:  # a real write: permissions, read-only mounts and full disks all show here
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError:
        raise ExperimentError(f"the results folder {folder} is not writable; pass another results_dir") from None


def run(spec: RunSpec, results_dir: str | Path | None = None, force: bool = False, progress: bool = True,
        recompute_stale: bool = False) -> dict:
    """The record of ``spec``: read from ``results_dir`` (default: the repository's ``results/``) if
    stored (unless ``force``, or it is stale and ``recompute_stale``), else computed and stored atomically. An unreadable stored
    record is reported and recomputed."""
    path = record_path(spec, results_dir)
    if path.is_file() and not force:
        record = read_record(path)
        if record is not None and not (recompute_stale and is_stale(record)):
            return record
    check_writable(path.parent)
    record = compute(spec, progress, path.parent.parent)
    save_json(record, path)
    return record


def stored(spec: RunSpec, results_dir: str | Path, recompute_stale: bool = False) -> bool:
    """Whether ``run(spec)`` would read a record rather than compute one."""
    path = record_path(spec, results_dir)
    if not path.is_file():
        return False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        record = read_record(path)
    return record is not None and not (recompute_stale and is_stale(record))


def load_records(results_dir: str | Path | None = None, preset: str | None = None) -> list[dict]:
    """Every readable record (unreadable ones are skipped with a warning naming the file)."""
    folder = paths.results_dir(results_dir)
    pattern = f"{preset}/*.json" if preset else "*/*.json"
    records = [read_record(p) for p in sorted(folder.glob(pattern)) if p.name not in NOT_RECORDS]
    return [r for r in records if r is not None]


def load_results(results_dir: str | Path | None = None, preset: str | None = None):
    """One row per run: model, preset, the resolved configuration, top1, fp_top1, seconds, scheme,
    ...; the per-unit and per-block details stay in the ``units`` and ``errors`` columns."""
    import pandas as pd

    rows = []
    for r in load_records(results_dir, preset):
        # a record stored before a field existed was computed at that field's default
        config = {f.name: r["config"].get(f.name, f.default) for f in knobs()}
        row = {"model": r["spec"]["model"], "preset": r["spec"]["preset"], **config,
               **{k: r[k] for k in ("key", "top1", "fp_top1", "seconds", "scheme_source")}}
        row["scheme"] = json.dumps(r["scheme"])
        row["merges"] = sum(len(g) - 1 for g in r["scheme"])
        row["fingerprint"] = (r.get("code") or {}).get("fingerprint")
        row["stale"] = is_stale(r)
        row["units"], row["errors"] = r["units"], r["errors"]
        rows.append(row)
    return pd.DataFrame(rows)


def overrides_of(config: dict, preset: str, model: str) -> dict:
    """The overrides that turn ``preset``'s configuration into ``config`` (a stored record's)."""
    base = PTQConfig.preset_config(preset, model=model, method=config["method"]).to_dict()
    out = {k: v for k, v in config.items() if k in KNOBS and base.get(k) != v}
    if isinstance(out.get("scheme"), list):
        out["scheme"] = tuple(tuple(g) for g in out["scheme"])
    return out


__all__ = ["ConfigError", "ExperimentError", "RunSpec", "code_fingerprint", "compute", "is_stale", "load_records",
           "load_results", "record_path", "run"]
