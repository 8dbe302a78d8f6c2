"""PTQConfig: every knob of a quantization run, declared once, validated, with named presets.

Each field carries its help text; the command line (:mod:`mrecg.cli`) and the experiment specs
(:mod:`mrecg.study.runs`) are derived from these fields, so a knob is added here and nowhere else.

Hyper-parameters of the ``paper`` preset are the released ones (BRECQ/QDrop/MRECG configs): 20k
Adam iterations per unit, batch 32 from 1024 calibration images, rounding lr 1e-3,
activation-step lr 4e-5 with cosine decay, rounding regulariser weight 0.01 (ResNets) or 0.1
(MobileNetV2). MRECG's expanded batch multiplies the calibration images by 4 and the batch by 8
(ResNet-50: 2 and 4).

The ``mini`` preset keeps these except the iterations (1000 per unit) and the learning rates that
the budget bounds. Adam moves each variable by at most about lr per step, so lr x iterations
bounds what reconstruction can change (the paper: 20k iterations). The rule: with 20 times fewer
iterations, both learning rates are raised tenfold (rounding 1e-2, activation step 4e-4), the
factor at which ``benchmarks/convergence_probe.py`` found BRECQ converged (docs/presets.md, "Presets").
``smoke`` is a pipeline check and keeps the defaults.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from . import methods

PRESETS = {
    "smoke": dict(iters=40, batch_size=16, calib_size=128, holdout_size=64, init_size=64, modcap_iters=10),
    "mini": dict(iters=1000, w_lr=1e-2, a_lr=4e-4, batch_size=32, calib_size=1024, holdout_size=256, init_size=256,
                 modcap_iters=200),
    "paper": dict(iters=20_000, batch_size=32, calib_size=1024, holdout_size=256, init_size=256, modcap_iters=2000),
}
# MRECG's expanded batch as (calibration images, batch) multipliers of the preset's baseline sizes:
# the released code goes from 1024 / 32 to 4096 / 256, and to 2048 / 128 for ResNet-50.
EXPANSION = {"default": (4, 8), "resnet50": (2, 4)}

# Fields that do not change a run's numbers (where it runs, how often it logs, the preset's name):
# left out of a record's key, so that the same computation has one key wherever it ran.
NOT_IN_KEY = ("device", "cache_device", "trace_every", "preset")
# Fields added after records were stored: at these values they are left out of a record's key, so
# that every record computed before the field existed keeps its key.
IN_KEY_WHEN_NOT = {"act_init": "ours"}
ACT_INITS = ("ours", "qdrop", "mqbench")

SCHEME_HELP = ("merge scheme: official (the authors' released one), modcap:loss / modcap:params (our ModCap "
               "top-k selection, data-dependent / data-free), random:SEED, or block groups like [[0],[1,2],...]")


class ConfigError(ValueError):
    """An invalid configuration value; the message names the fix."""


def knob(default: Any, help: str) -> Any:
    return field(default=default, metadata={"help": help})


@dataclass(frozen=True)
class PTQConfig:
    """One quantization run. ``None`` means "the method's (or model family's) default", filled
    in by :meth:`resolved`."""

    method: str = knob("brecq", "PTQ method (see mrecg.methods)")
    w_bits: int = knob(4, "weight bits")
    a_bits: int = knob(4, "activation bits")
    iters: int = knob(1000, "Adam iterations per reconstruction unit")
    batch_size: int = knob(32, "reconstruction batch size")
    calib_size: int = knob(1024, "calibration images")
    holdout_size: int = knob(256, "held-out images on which per-block errors are measured")
    init_size: int = knob(256, "images for the activation range search")
    w_lr: float = knob(1e-3, "Adam lr of the AdaRound variables")
    a_lr: float = knob(4e-5, "Adam lr of the activation steps (cosine decay)")
    round_lambda: float | None = knob(None, "weight of the rounding regulariser (default: 0.1 MobileNetV2, 0.01 else)")
    warmup: float = knob(0.2, "fraction of iterations before the rounding regulariser starts")
    keep_prob: float | None = knob(None, "QDrop keep probability (default: the method's)")
    scheme: tuple[tuple[int, ...], ...] | str | None = knob(None, SCHEME_HELP)
    k: int | None = knob(None, "merged adjacent pairs for modcap/random schemes (default: the official count)")
    modcap_iters: int = knob(200, "iterations per block of the data-dependent ModCap pass")
    stride_exponent: float = knob(2.0, "gamma of the data-free ModCap's stride scaling")
    seed: int = knob(0, "seed of the calibration draw and the reconstruction batches")
    device: str = knob("cpu", "where to compute: cpu or cuda[:N]")
    cache_dtype: str = knob("float32", "dtype of the reconstruction caches: float32 or float16")
    cache_device: str = knob("auto", "where the reconstruction caches live: auto (the run's device when they fit), "
                                     "cpu, disk or cuda[:N]")
    act_init: str = knob("ours", "range setup: ours (L2.4 shrink search per unit on the partly quantized "
                                 "network), qdrop (released QDrop: up front on the float network, a grid of 100 "
                                 "clips, per-channel 2-D weight search) or mqbench (released MRECG: EMA of "
                                 "per-batch MSE ranges)")
    trace_every: int = knob(50, "record the loss every this many iterations")
    preset: str = field(default="custom", compare=False, metadata={"help": "preset name (label only)"})

    def __post_init__(self):
        method = methods.get(self.method) if self.method in methods.METHODS else None
        if method is None:
            raise ConfigError(f"unknown method {self.method!r}; choose one of {', '.join(methods.METHODS)}")
        for name in ("w_bits", "a_bits"):
            if not 2 <= getattr(self, name) <= 8:
                raise ConfigError(f"{name} must be in 2..8, got {getattr(self, name)}")
        for name in ("iters", "batch_size", "calib_size", "init_size", "trace_every", "modcap_iters"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be > 0, got {getattr(self, name)}")
        if not 0 <= self.seed < 2**63:
            raise ConfigError(f"seed must be in 0..2^63-1, got {self.seed}")
        if self.holdout_size < 0:
            raise ConfigError(f"holdout_size must be >= 0, got {self.holdout_size}")
        if self.calib_size < self.batch_size:
            raise ConfigError(
                f"calibration set ({self.calib_size}) is smaller than the batch ({self.batch_size}); "
                "raise calib_size or lower batch_size"
            )
        if self.init_size > self.calib_size:
            raise ConfigError(f"init_size ({self.init_size}) is larger than the calibration set ({self.calib_size}); "
                              "lower init_size or raise calib_size")
        for name in ("w_lr", "a_lr", "round_lambda", "warmup", "keep_prob", "stride_exponent"):
            if getattr(self, name) is not None and not math.isfinite(getattr(self, name)):
                raise ConfigError(f"{name} must be a finite number, got {getattr(self, name)}")
        if self.keep_prob is not None and not 0 < self.keep_prob <= 1:
            raise ConfigError(f"keep_prob must be in (0, 1], got {self.keep_prob}")
        if self.w_lr <= 0 or self.a_lr < 0 or not 0 <= self.warmup < 1:
            raise ConfigError("w_lr must be > 0, a_lr >= 0 and warmup in [0, 1)")
        if self.round_lambda is not None and self.round_lambda < 0:
            raise ConfigError(f"round_lambda must be >= 0, got {self.round_lambda}")
        for name in ("device", "cache_device"):
            value = getattr(self, name)
            allowed = ("auto", "cpu", "disk") if name == "cache_device" else ("cpu",)
            if value not in allowed and not re.fullmatch(r"cuda(:\d+)?", value):
                raise ConfigError(f"{name} must be {' or '.join(repr(a) for a in allowed)} or cuda[:N], got {value!r}")
        if self.act_init not in ACT_INITS:
            raise ConfigError(f"act_init must be one of {', '.join(ACT_INITS)}, got {self.act_init!r}")
        if self.cache_dtype not in ("float32", "float16"):
            raise ConfigError(f"cache_dtype must be 'float32' or 'float16', got {self.cache_dtype!r}")
        if isinstance(self.scheme, str):
            if self.scheme not in ("official", "modcap:loss", "modcap:params") and not re.fullmatch(r"random:\d+", self.scheme):
                raise ConfigError(f"scheme {self.scheme!r} must be official, modcap:loss, modcap:params, random:SEED "
                                  "or a list of block groups")
        elif self.scheme is not None:
            object.__setattr__(self, "scheme", tuple(tuple(g) for g in self.scheme))
        if self.scheme is not None and method.granularity != "block":
            raise ConfigError(f"a merge scheme groups blocks: {self.method} reconstructs layer by layer")
        if self.k is not None and self.k < 0:
            raise ConfigError(f"k must be >= 0, got {self.k}")
        selection = self.scheme if self.scheme is not None else method.selection
        if self.k is not None and not (isinstance(selection, str) and selection != "official"):
            uses = "merges no blocks" if selection is None else f"uses the {selection} scheme"
            raise ConfigError(f"k counts the merges of a modcap:* or random:* scheme; {self.method} {uses}, so there "
                              "is nothing to count: drop k or pass scheme modcap:loss, modcap:params or random:SEED")

    @classmethod
    def preset_config(cls, preset: str, model: str | None = None, **overrides) -> "PTQConfig":
        """The named preset (``smoke``, ``mini``, ``paper``) with ``overrides`` applied.

        Methods with the expanded batch get the preset's sizes times :data:`EXPANSION` (``model``
        picks ResNet-50's smaller factors) unless ``overrides`` set them.
        """
        if preset not in PRESETS:
            raise ConfigError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
        values = dict(PRESETS[preset])
        method = overrides.get("method", cls.method)
        if method in methods.METHODS and methods.get(method).expanded_batch:
            values.update(expanded_sizes(preset, model))
        return cls(**{**values, **overrides, "preset": preset})

    @property
    def recipe(self) -> methods.Method:
        return methods.get(self.method)

    @property
    def granularity(self) -> str:
        return self.recipe.granularity

    @property
    def optimizes(self) -> bool:
        return self.recipe.reconstructs

    def keep(self) -> float:
        return self.keep_prob if self.keep_prob is not None else self.recipe.keep_prob

    def lambda_for(self, family: str) -> float:
        """0.1 for MobileNetV2, 0.01 otherwise (the released configs), unless set."""
        if self.round_lambda is not None:
            return self.round_lambda
        return 0.1 if family == "mobilenetv2" else 0.01

    def selection(self) -> tuple[tuple[int, ...], ...] | str | None:
        """The scheme asked for, or the method's default selection."""
        return self.scheme if self.scheme is not None else self.recipe.selection

    def resolved(self, family: str, default_k: int) -> "PTQConfig":
        """Every default filled in and every knob that cannot matter cleared, so that two configs
        that compute the same thing are equal (and so are their record keys). ``family`` is the
        model family (``resnet18``, ``resnet50``, ``mobilenetv2``), ``default_k`` its official merge count."""
        scheme = self.selection()
        selects = isinstance(scheme, str) and scheme != "official"
        return replace(
            self,
            keep_prob=self.keep(),
            round_lambda=self.lambda_for(family),
            scheme=scheme,
            k=(self.k if self.k is not None else default_k) if selects else None,
            modcap_iters=self.modcap_iters if scheme == "modcap:loss" else PTQConfig.modcap_iters,
            stride_exponent=self.stride_exponent if scheme == "modcap:params" else PTQConfig.stride_exponent,
        )

    def with_(self, **changes) -> "PTQConfig":
        return replace(self, **changes)

    def to_dict(self) -> dict:
        d = asdict(self)
        if self.scheme is not None and not isinstance(self.scheme, str):
            d["scheme"] = [list(g) for g in self.scheme]
        return d

    def key_dict(self) -> dict:
        """The fields that determine the numbers (see :data:`NOT_IN_KEY` and :data:`IN_KEY_WHEN_NOT`)."""
        return {k: v for k, v in self.to_dict().items()
                if k not in NOT_IN_KEY and not (k in IN_KEY_WHEN_NOT and v == IN_KEY_WHEN_NOT[k])}


def expanded_sizes(preset: str, model: str | None = None) -> dict:
    """MRECG's expanded calibration set and batch for ``preset`` (and ``model``)."""
    images, batch = EXPANSION.get(model or "", EXPANSION["default"])
    base = PRESETS[preset]
    return dict(calib_size=base["calib_size"] * images, batch_size=base["batch_size"] * batch)


def knobs() -> list:
    """The configurable fields, in declaration order (for the CLI and the specs)."""
    return [f for f in fields(PTQConfig) if f.name != "preset"]


def parse_bits(text: str) -> tuple[int, int]:
    """``"4/4"`` -> (4, 4): weight bits / activation bits, as the paper writes them (W4A4)."""
    try:
        w, a = (int(b) for b in text.split("/"))
    except ValueError:
        raise ConfigError(f"bits must look like W/A, e.g. 4/4 or 2/4, got {text!r}") from None
    return w, a


def parse_scheme(text: str):
    """``official``, ``modcap:loss``, ``modcap:params``, ``random:SEED``, or block groups ``[[0],[1,2],...]``."""
    if not text.startswith("["):
        return text
    try:
        groups = json.loads(text)
    except json.JSONDecodeError:
        raise ConfigError(f"scheme must be a name or a list like [[0],[1,2],[3]], got {text!r}") from None
    if not isinstance(groups, list) or not all(isinstance(g, list) for g in groups):
        raise ConfigError(f"scheme must be a list of lists of block indices, got {text!r}")
    return groups


def check_device(device: str) -> None:
    """A device that exists here: ``cpu`` or an available ``cuda[:N]`` (one line otherwise)."""
    import torch

    if device == "cpu":
        return
    if not re.fullmatch(r"cuda(:\d+)?", device):
        raise ConfigError(f"device must be cpu or cuda[:N], got {device!r}")
    if not torch.cuda.is_available():
        raise ConfigError(f"device {device} asked for, but torch sees no CUDA GPU here; use --device cpu")
    index = int(device.split(":")[1]) if ":" in device else 0
    if index >= torch.cuda.device_count():
        raise ConfigError(f"device {device} asked for, but there are {torch.cuda.device_count()} GPUs")
