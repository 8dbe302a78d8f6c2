"""PTQConfig: every knob of a quantization run, validated, with named presets.

Hyper-parameters of the ``paper`` preset are the released ones (BRECQ/QDrop/MRECG configs, see
``shared/reference/paper_notes.md``): 20k Adam iterations per unit, batch 32 from 1024
calibration images, rounding lr 1e-3, activation-step lr 4e-5 with cosine decay, rounding
regulariser weight 0.01 (ResNets) or 0.1 (MobileNetV2).

The ``mini`` preset keeps all of these except the iterations (1000 per unit) and therefore the
rounding lr, which it raises to 1e-2. Why: Adam moves each AdaRound variable by at most about lr per
step, and turning a rounding decision around takes a move of a few units, so lr x iters bounds what
reconstruction can change (paper: 1e-3 x 20k = 20). At 1000 iterations and lr 1e-3 BRECQ W2A4 was far
from converged (MobileNetV2 x0.5: 85.8 % at 1000, 87.0 % at 2000 iterations, 3 seeds); at lr 1e-2 it
is converged at 1000 (87.45 / 87.48 % at 1000 / 2000), see ``benchmarks/convergence_probe.py`` and
notebook 06, which checks it on every mini run. The activation-step lr is kept: raising it tenfold did
not help. ``smoke`` is a pipeline check and keeps the defaults.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, replace

# method -> (granularity, probability of keeping activation quantization during reconstruction)
METHODS = {
    "nearest": ("block", 1.0),  # round-to-nearest with the same quantizers, no reconstruction
    "adaround": ("layer", 1.0),
    "brecq": ("block", 1.0),
    "qdrop": ("block", 0.5),
    "mrecg+brecq": ("block", 1.0),  # MRECG's mixed granularity on top of BRECQ
    "mrecg+qdrop": ("block", 0.5),  # ... and on top of QDrop
}

PRESETS = {
    "smoke": dict(iters=40, batch_size=16, calib_size=128, holdout_size=64, init_size=64, modcap_iters=10),
    "mini": dict(iters=1000, w_lr=1e-2, batch_size=32, calib_size=1024, holdout_size=256, init_size=256, modcap_iters=200),
    "paper": dict(iters=20_000, batch_size=32, calib_size=1024, holdout_size=256, init_size=256, modcap_iters=2000),
}
# MRECG's expanded batch: the released code reconstructs from 4096 images with batch 256
# (ResNet-50: 2048 / 128) where the baselines use 1024 / 32. The CPU presets scale it down.
EXPANDED = {
    "smoke": dict(calib_size=256, batch_size=32),
    "mini": dict(calib_size=2048, batch_size=64),
    "paper": dict(calib_size=4096, batch_size=256),
    "paper/resnet50": dict(calib_size=2048, batch_size=128),
}


class ConfigError(ValueError):
    """An invalid configuration value; the message names the fix."""


@dataclass(frozen=True)
class PTQConfig:
    """One quantization run. ``keep_prob`` and ``round_lambda`` default from the method and
    model family; ``scheme`` groups blocks into jointly reconstructed units."""

    method: str = "brecq"
    w_bits: int = 4
    a_bits: int = 4
    iters: int = 1000
    batch_size: int = 32
    calib_size: int = 1024
    holdout_size: int = 256
    init_size: int = 256
    w_lr: float = 1e-3
    a_lr: float = 4e-5
    round_lambda: float | None = None
    warmup: float = 0.2
    keep_prob: float | None = None
    scheme: tuple[tuple[int, ...], ...] | str | None = None
    modcap: str | None = None
    k: int | None = None
    modcap_iters: int = 200
    stride_exponent: float = 2.0
    seed: int = 0
    device: str = "cpu"
    cache_dtype: str = "float32"
    cache_device: str = "cpu"
    trace_every: int = 50
    preset: str = field(default="custom", compare=False)

    def __post_init__(self):
        if self.method not in METHODS:
            raise ConfigError(f"unknown method {self.method!r}; choose one of {', '.join(METHODS)}")
        if not 2 <= self.w_bits <= 8:
            raise ConfigError(f"w_bits must be in 2..8, got {self.w_bits}")
        if not 2 <= self.a_bits <= 8:
            raise ConfigError(f"a_bits must be in 2..8, got {self.a_bits}")
        for name in ("iters", "batch_size", "calib_size", "init_size", "trace_every"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be > 0, got {getattr(self, name)}")
        if self.holdout_size < 0:
            raise ConfigError(f"holdout_size must be >= 0, got {self.holdout_size}")
        if self.calib_size < self.batch_size:
            raise ConfigError(
                f"calibration set ({self.calib_size}) is smaller than the batch ({self.batch_size}); "
                "raise calib_size or lower batch_size"
            )
        if self.keep_prob is not None and not 0 < self.keep_prob <= 1:
            raise ConfigError(f"keep_prob must be in (0, 1], got {self.keep_prob}")
        if self.w_lr <= 0 or self.a_lr < 0 or not 0 <= self.warmup < 1:
            raise ConfigError("w_lr must be > 0, a_lr >= 0 and warmup in [0, 1)")
        if self.round_lambda is not None and self.round_lambda < 0:
            raise ConfigError(f"round_lambda must be >= 0, got {self.round_lambda}")
        if not (self.cache_device in ("cpu", "disk") or self.cache_device.startswith("cuda")):
            raise ConfigError(f"cache_device must be 'cpu', 'disk' or a cuda device, got {self.cache_device!r}")
        if self.cache_dtype not in ("float32", "float16"):
            raise ConfigError(f"cache_dtype must be 'float32' or 'float16', got {self.cache_dtype!r}")
        if isinstance(self.scheme, str):
            if self.scheme != "official" and not re.fullmatch(r"random:\d+", self.scheme):
                raise ConfigError(f"scheme {self.scheme!r} must be 'official', 'random:SEED' or a list of block groups")
        elif self.scheme is not None:
            object.__setattr__(self, "scheme", tuple(tuple(g) for g in self.scheme))
        mrecg = self.method.startswith("mrecg")
        if mrecg and self.modcap is None:
            object.__setattr__(self, "modcap", "loss")
        if self.modcap is not None and self.modcap not in ("loss", "params"):
            raise ConfigError(f"unknown ModCap kind {self.modcap!r}; choose 'loss' (data-dependent) or 'params' (data-free)")
        if (self.modcap is not None and not mrecg) or (self.k is not None and not mrecg):
            raise ConfigError(f"modcap and k select MRECG's merges: use them with mrecg+brecq or mrecg+qdrop, not {self.method}")
        if self.k is not None and self.k < 0:
            raise ConfigError(f"k must be >= 0, got {self.k}")
        if self.modcap_iters <= 0:
            raise ConfigError(f"modcap_iters must be > 0, got {self.modcap_iters}")

    @classmethod
    def preset_config(cls, preset: str, model: str | None = None, **overrides) -> "PTQConfig":
        """The named preset (``smoke``, ``mini``, ``paper``) with ``overrides`` applied.

        MRECG methods get the preset's expanded calibration and batch sizes (``EXPANDED``);
        ``model`` picks ResNet-50's smaller expansion at the paper preset.
        """
        if preset not in PRESETS:
            raise ConfigError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
        values = dict(PRESETS[preset])
        if str(overrides.get("method", "")).startswith("mrecg"):
            values.update(EXPANDED.get(f"{preset}/{model}", EXPANDED[preset]))
        return cls(**{**values, **overrides, "preset": preset})

    @property
    def granularity(self) -> str:
        return METHODS[self.method][0]

    @property
    def optimizes(self) -> bool:
        return self.method != "nearest"

    def keep(self) -> float:
        return self.keep_prob if self.keep_prob is not None else METHODS[self.method][1]

    def lambda_for(self, family: str) -> float:
        """0.1 for MobileNetV2, 0.01 otherwise (the released configs), unless set."""
        if self.round_lambda is not None:
            return self.round_lambda
        return 0.1 if family.startswith("mobilenetv2") else 0.01

    def with_(self, **changes) -> "PTQConfig":
        return replace(self, **changes)

    def to_dict(self) -> dict:
        d = asdict(self)
        if self.scheme is not None and not isinstance(self.scheme, str):
            d["scheme"] = [list(g) for g in self.scheme]
        return d
