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

import weakref
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


class SoftRound(torch.autograd.Function):
    """AdaRound's soft quantized weight, and the rounding regulariser's gradient, in one node.

    Forward: ``h = h(V)`` and ``w_q = base + gain * h``, where, per weight, ``base = s *
    clamp(floor(w/s), lo, hi)`` and ``gain = s`` if ``lo <= floor(w/s) <= hi - 1`` else 0 (``lo,
    hi = qmin - z, qmax - z``). That is the quantizer's ``s * (clamp(floor + h + z, qmin, qmax) -
    z)`` with the clamp resolved once: ``floor`` and ``z`` are fixed integers and ``h`` is in
    [0, 1], so a weight either never touches the grid's ends (gain ``s``) or always sits on one
    (gain 0); only ``h`` exactly 0 or 1 at a grid end is decided differently, where ``h``'s own
    clamp has a zero gradient anyway. Two passes after the sigmoid instead of seven.

    Backward: ``dL/dV = (g * gain + lambda * dR/dh) * dh/dV`` with ``R = sum(1 - |2h - 1|^beta)``
    (``penalty = (lambda, beta)``, or None while the regulariser is off):
    ``dR/dh = -2 beta sign(u) |u|^(beta-1) = -2 beta u |u|^(beta-2)``, ``u = 2h - 1``, which is one
    ``pow`` where autograd's graph of ``R`` evaluates two (forward and backward) and the rectified
    sigmoid twice. ``R``'s value is not needed for the gradient; :meth:`WeightQuantizer.regularizer`
    computes it when a trace asks. ``dh/dV = (zeta - gamma) sigmoid(V) (1 - sigmoid(V))`` where
    ``h`` is strictly inside (0, 1), else 0.
    """

    @staticmethod
    def forward(ctx, v: torch.Tensor, base: torch.Tensor, gain: torch.Tensor, penalty: tuple[float, float] | None):
        sig = torch.sigmoid(v)
        h = torch.mul(sig, ZETA - GAMMA).add_(GAMMA).clamp_(0, 1)
        ctx.save_for_backward(sig, h, gain)
        ctx.penalty = penalty
        return torch.addcmul(base, h, gain)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        sig, h, gain = ctx.saved_tensors
        gh = grad * gain
        if ctx.penalty is not None:
            lam, beta = ctx.penalty
            u = torch.mul(h, 2).sub_(1)
            gh.addcmul_(u, u.abs().pow_(beta - 2), value=-2 * beta * lam)
        slope = torch.addcmul(sig, sig, sig, value=-1).mul_(ZETA - GAMMA)  # dh/dV inside (0, 1)
        return torch.ops.aten.hardtanh_backward(gh, h, 0.0, 1.0).mul_(slope), None, None, None


class WeightQuantizer(nn.Module):
    """Per-output-channel asymmetric weight quantizer: round-to-nearest or AdaRound.

    ``mode`` is ``"nearest"``, ``"soft"`` (AdaRound during optimisation) or ``"hard"``
    (AdaRound's final rounding). The step and zero point are fixed after the L_p search; only
    ``V`` (``self.v``) is learned. ``penalty = (lambda, beta)`` switches the rounding
    regulariser's gradient on in soft mode (see :class:`SoftRound`); the reconstruction loop
    sets it each step.

    :meth:`freeze` stores the quantized weight of a nearest or hard quantizer so that
    evaluation does not recompute it every batch (same values, bit for bit). It is used only
    while the weight, the step, the zero point and ``V`` are the tensors it was computed from,
    unchanged in place (object identity and version counter, read on the host: no device sync),
    and the mode is unchanged.
    """

    def __init__(self, weight: torch.Tensor, bits: int):
        super().__init__()
        qrange(bits)
        self.bits = bits
        scale, zero = lp_search(weight, bits, channel_dim=0)
        view = (-1,) + (1,) * (weight.dim() - 1)
        self.register_buffer("scale", scale.reshape(view))
        self.register_buffer("zero", zero.reshape(view))
        self.register_buffer("frozen", None, persistent=False)
        self._frozen_key: tuple | None = None
        self._mode = "nearest"
        self.v: nn.Parameter | None = None
        self.penalty: tuple[float, float] | None = None

    def __getstate__(self) -> dict:
        return {**super().__getstate__(), "_frozen_key": None}  # weak references do not pickle; refreeze after

    @property
    def mode(self) -> str:
        return self._mode

    @mode.setter
    def mode(self, mode: str) -> None:
        self._mode, self.frozen, self._frozen_key = mode, None, None

    def init_adaround(self, weight: torch.Tensor) -> None:
        """Start AdaRound with ``h(V)`` equal to the fractional part of ``w / s``, so the soft
        quantized weight equals the float weight wherever the grid does not clip it."""
        scaled = weight.detach() / self.scale
        self.register_buffer("w_floor", torch.floor(scaled))
        self.v = nn.Parameter(inverse_rectified_sigmoid(scaled - self.w_floor))
        qmin, qmax = qrange(self.bits)
        lo, hi = qmin - self.zero, qmax - self.zero
        inside = (self.w_floor >= lo) & (self.w_floor <= hi - 1)
        self.register_buffer("base", torch.maximum(torch.minimum(self.w_floor, hi), lo) * self.scale)
        self.register_buffer("gain", inside * self.scale)
        self.mode = "soft"

    def harden(self) -> None:
        if self.v is not None:
            self.mode = "hard"

    def _sources(self, weight: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return (weight, self.scale, self.zero) + ((self.v,) if self.v is not None else ())

    def _frozen_is_current(self, weight: torch.Tensor) -> bool:
        """Whether the frozen weight came from these very tensors, unchanged in place since."""
        key = self._frozen_key
        sources = self._sources(weight)
        return key is not None and len(key) == len(sources) and all(
            ref() is t and version == t._version for (ref, version), t in zip(key, sources)
        )

    def freeze(self, weight: torch.Tensor) -> None:
        """Keep ``self(weight)`` (nearest or hard rounding) instead of recomputing it per call."""
        if self.mode == "soft":
            raise RuntimeError("a soft (still optimised) rounding cannot be frozen; harden() it first")
        self.frozen = None
        with torch.no_grad():
            frozen = self(weight)
        self.frozen = frozen
        self._frozen_key = tuple((weakref.ref(t), t._version) for t in self._sources(weight))

    def rounding(self) -> torch.Tensor:
        """The offset added to ``floor(w / s)``: h(V) in [0, 1] when soft, {0, 1} when hard."""
        return rectified_sigmoid(self.v) if self.mode == "soft" else (self.v >= 0).to(self.v.dtype)

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        if self.frozen is not None and self._frozen_is_current(weight):
            return self.frozen
        if self.mode == "nearest":
            return fake_quantize(weight, self.scale, self.zero, self.bits)
        if self.mode == "soft":
            return SoftRound.apply(self.v, self.base, self.gain, self.penalty)
        qmin, qmax = qrange(self.bits)
        grid = torch.clamp(self.w_floor + self.rounding() + self.zero, qmin, qmax)
        return (grid - self.zero) * self.scale

    def regularizer(self, beta: float) -> torch.Tensor:
        """``sum(1 - |2 h(V) - 1|^beta)``: zero only when every h(V) is exactly 0 or 1."""
        h = rectified_sigmoid(self.v)
        return (1 - (2 * h - 1).abs().pow(beta)).sum()

    def extra_repr(self) -> str:
        return f"bits={self.bits}, mode={self.mode}"
