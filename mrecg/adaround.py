"""AdaRound: learn, per weight, whether to round down or up (Nagel et al., ICML 2020).

Each weight ``w`` with step ``s`` sits between ``floor(w/s)`` and ``floor(w/s) + 1``; a
continuous variable ``V`` chooses between them through the rectified sigmoid

    h(V) = clamp(sigmoid(V) * (zeta - gamma) + gamma, 0, 1),   zeta = 1.1, gamma = -0.1

which, unlike a plain sigmoid, reaches exactly 0 and 1. The regulariser
``lambda * sum(1 - |2 h(V) - 1|^beta)`` pushes every ``h`` to 0 or 1 as ``beta`` anneals from
20 to 2 (after a 20% warm-up with the regulariser off); at the end the rounding is made hard
(``h >= 0.5``, i.e. ``V >= 0``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .quantizer import fake_quantize, lp_search, qrange

ZETA, GAMMA = 1.1, -0.1


def rectified_sigmoid(v: torch.Tensor) -> torch.Tensor:
    return (torch.sigmoid(v) * (ZETA - GAMMA) + GAMMA).clamp(0, 1)


def inverse_rectified_sigmoid(h: torch.Tensor) -> torch.Tensor:
    """``V`` with ``rectified_sigmoid(V) == h`` for ``h`` in [0, 1) (used for the soft init)."""
    return -torch.log((ZETA - GAMMA) / (h - GAMMA) - 1)


@dataclass(frozen=True)
class BetaSchedule:
    """Annealing temperature of the rounding regulariser (BRECQ/QDrop's ``LinearTempDecay``).

    ``beta(t)`` is ``start`` during the warm-up (the first ``warmup`` fraction of ``iters``,
    where the regulariser is off), then decays linearly to ``end`` at ``t = iters``.
    """

    iters: int
    warmup: float = 0.2
    start: float = 20.0
    end: float = 2.0

    def active(self, t: int) -> bool:
        return t >= self.warmup * self.iters

    def __call__(self, t: int) -> float:
        warm = self.warmup * self.iters
        if t < warm:
            return self.start
        progress = (t - warm) / (self.iters - warm)
        return self.end + (self.start - self.end) * max(0.0, 1.0 - progress)


class WeightQuantizer(nn.Module):
    """Per-output-channel asymmetric weight quantizer: round-to-nearest or AdaRound.

    ``mode`` is ``"nearest"``, ``"soft"`` (AdaRound during optimisation) or ``"hard"``
    (AdaRound's final rounding). The step and zero point are fixed after the L_p search; only
    ``V`` (``self.v``) is learned.
    """

    def __init__(self, weight: torch.Tensor, bits: int):
        super().__init__()
        qrange(bits)
        self.bits = bits
        scale, zero = lp_search(weight, bits, channel_dim=0)
        view = (-1,) + (1,) * (weight.dim() - 1)
        self.register_buffer("scale", scale.reshape(view))
        self.register_buffer("zero", zero.reshape(view))
        self.mode = "nearest"
        self.v: nn.Parameter | None = None

    def init_adaround(self, weight: torch.Tensor) -> None:
        """Start AdaRound with ``h(V)`` equal to the fractional part of ``w / s``, so the soft
        quantized weight equals the float weight wherever the grid does not clip it."""
        scaled = weight.detach() / self.scale
        self.register_buffer("w_floor", torch.floor(scaled))
        self.v = nn.Parameter(inverse_rectified_sigmoid(scaled - self.w_floor))
        self.mode = "soft"

    def harden(self) -> None:
        if self.v is not None:
            self.mode = "hard"

    def rounding(self) -> torch.Tensor:
        """The offset added to ``floor(w / s)``: h(V) in [0, 1] when soft, {0, 1} when hard."""
        return rectified_sigmoid(self.v) if self.mode == "soft" else (self.v >= 0).to(self.v.dtype)

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        if self.mode == "nearest":
            return fake_quantize(weight, self.scale, self.zero, self.bits)
        qmin, qmax = qrange(self.bits)
        grid = torch.clamp(self.w_floor + self.rounding() + self.zero, qmin, qmax)
        return (grid - self.zero) * self.scale

    def regularizer(self, beta: float) -> torch.Tensor:
        """sum(1 - |2 h(V) - 1|^beta): zero only when every h(V) is exactly 0 or 1."""
        h = rectified_sigmoid(self.v)
        return (1 - (2 * h - 1).abs().pow(beta)).sum()

    def extra_repr(self) -> str:
        return f"bits={self.bits}, mode={self.mode}"
