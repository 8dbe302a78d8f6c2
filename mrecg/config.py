"""PTQConfig: every knob of a quantization run, validated, with named presets.

Hyper-parameters of the ``paper`` preset are the released ones (BRECQ/QDrop/MRECG configs, see
``shared/reference/paper_notes.md``): 20k Adam iterations per unit, batch 32 from 1024
calibration images, rounding lr 1e-3, activation-step lr 4e-5 with cosine decay, rounding
regulariser weight 0.01 (ResNets) or 0.1 (MobileNetV2).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

# method -> (granularity, probability of keeping activation quantization during reconstruction)
METHODS = {
    "nearest": ("block", 1.0),  # round-to-nearest with the same quantizers, no reconstruction
    "adaround": ("layer", 1.0),
    "brecq": ("block", 1.0),
    "qdrop": ("block", 0.5),
}

PRESETS = {
    "smoke": dict(iters=40, batch_size=16, calib_size=128, holdout_size=64, init_size=64),
    "mini": dict(iters=1000, batch_size=32, calib_size=1024, holdout_size=256, init_size=256),
    "paper": dict(iters=20_000, batch_size=32, calib_size=1024, holdout_size=256, init_size=256),
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
    scheme: tuple[tuple[int, ...], ...] | None = None
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
        if self.cache_dtype not in ("float32", "float16"):
            raise ConfigError(f"cache_dtype must be 'float32' or 'float16', got {self.cache_dtype!r}")
        if self.scheme is not None:
            object.__setattr__(self, "scheme", tuple(tuple(g) for g in self.scheme))

    @classmethod
    def preset_config(cls, preset: str, **overrides) -> "PTQConfig":
        """The named preset (``smoke``, ``mini``, ``paper``) with ``overrides`` applied."""
        if preset not in PRESETS:
            raise ConfigError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
        return cls(**{**PRESETS[preset], **overrides, "preset": preset})

    @property
    def granularity(self) -> str:
        return METHODS[self.method][0]

    @property
    def optimizes(self) -> bool:
        return self.method != "nearest"

    def keep(self) -> float:
        return self.keep_prob if self.keep_prob is not None else METHODS[self.method][1]

    def lambda_for(self, model_name: str | None) -> float:
        """0.1 for MobileNetV2, 0.01 otherwise (the released configs), unless set."""
        if self.round_lambda is not None:
            return self.round_lambda
        return 0.1 if model_name and model_name.startswith("mobilenetv2") else 0.01

    def with_(self, **changes) -> "PTQConfig":
        return replace(self, **changes)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["scheme"] = [list(g) for g in self.scheme] if self.scheme else None
        return d
