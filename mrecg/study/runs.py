"""A run: one spec in, the numbers of one quantization and evaluation out.

:class:`RunSpec` names a run -- the model, its weights, the data and the *resolved*
configuration (every default filled in, knobs that cannot matter cleared, where it runs left
out) -- and :meth:`RunSpec.key` hashes exactly that, so a spec that spells out a default shares
its key with one that does not. :func:`compute` produces the run's numbers.

This module is hashed into the code fingerprint (:mod:`mrecg.study.fingerprint`): it decides what
is computed. Storing, reading and stamping records is bookkeeping and lives apart, in
:mod:`mrecg.study.records`, so that an edit there never makes a record stale.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Sequence

from .. import data, models
from ..config import PTQConfig, knobs
from ..evaluation import evaluate
from ..merging import selection

KNOBS = {f.name for f in knobs()}


class ExperimentError(ValueError):
    """A bad spec or an unusable results folder; one line that names the fix."""


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
        return selection.resolve_config(self.config(), models.family(self.model))

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


def datasets(spec: RunSpec, cfg: PTQConfig):
    """Calibration tensor (calibration + hold-out images, drawn with the seed) and test loader."""
    n = cfg.calib_size + cfg.holdout_size
    if spec.preset == "paper":
        data.require_imagenet(spec.data_root)
        calib = data.calibration_set(data.imagenet(spec.data_root, "train"), n, cfg.seed)
    else:
        calib = data.calibration_set(data.fashion_mnist("train", spec.data_root), n, cfg.seed)
    return calib, data.evaluation_loader(spec.preset, spec.data_root)


def compute(spec: RunSpec, progress: bool = True,
            pass_losses: Callable[[RunSpec], Sequence[float]] | None = None) -> dict:
    """Quantize and evaluate: the numbers of one run (not stored; :func:`mrecg.study.records.run`
    stores them with the stamp of what computed them). ``pass_losses(pass_spec)`` supplies the
    per-block losses of the data-dependent ModCap pass (e.g. from stored records); by default the
    pass runs here."""
    from ..recon.ptq import quantize

    cfg = spec.config()
    model = models.load(spec.model, models.variant(spec.preset), spec.weights)
    calib, loader = datasets(spec, cfg)
    manifest = models.mini_manifest().get(spec.model) if spec.preset != "paper" and not spec.weights else None
    fp_top1 = manifest["fp_top1"] if manifest else round(evaluate(model, loader, cfg.device), 2)
    start = time.perf_counter()
    losses = (lambda _: pass_losses(spec.modcap_pass())) if pass_losses is not None else None
    cfg, chosen = selection.select(model, calib, cfg, progress, losses=losses)
    qmodel, report = quantize(model, calib, cfg, progress=progress)
    top1 = evaluate(qmodel, loader, cfg.device)
    numbers = {
        "top1": round(top1, 2),
        "fp_top1": fp_top1,
        "seconds": round(time.perf_counter() - start, 2),
        "scheme": report.scheme,
        "scheme_source": chosen.source,
        "modcap": chosen.modcap,
        "units": [asdict(u) for u in report.units],
        "errors": [asdict(e) for e in report.errors],
    }
    return json.loads(json.dumps(numbers))  # exactly what a stored record reads back


__all__ = ["ExperimentError", "KNOBS", "RunSpec", "compute", "datasets", "weights_identity"]
