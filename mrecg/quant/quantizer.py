"""Uniform affine fake quantization and its range search.

A ``b``-bit asymmetric quantizer maps ``x`` to the integer grid ``0 .. 2^b - 1`` with a step
``s`` and an integer zero point ``z``::

    q(x) = s * (clamp(round(x / s) + z, 0, 2^b - 1) - z)

Weights use one ``(s, z)`` per output channel, activations one per tensor. Ranges are
initialised as in BRECQ / QDrop / MQBench: shrink the observed ``[min, max]`` (always widened to
contain 0) step by step and keep the candidate that minimises the L_p error with p = 2.4, a
value between the MSE's and the L3's that those codes found to clip outliers well.
Activation steps are then learned (LSQ-style straight-through gradient) during reconstruction.
"""

from __future__ import annotations

import weakref

import torch
from torch import nn

LP_NORM = 2.4
SEARCH_STEPS = 80  # candidates [min, max] * (1 - 0.01 i), i < 80, as BRECQ/QDrop
SEARCH_SAMPLE = 1 << 18  # per-tensor searches look at a seeded sample of this many elements


def qrange(bits: int) -> tuple[int, int]:
    if not 2 <= bits <= 8:
        raise ValueError(f"bits must be in 2..8, got {bits}")
    return 0, 2**bits - 1


def scale_and_zero(lo: torch.Tensor, hi: torch.Tensor, bits: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Step and zero point that put ``[lo, hi]`` (lo <= 0 <= hi) on the ``bits`` grid."""
    qmin, qmax = qrange(bits)
    scale = ((hi - lo) / (qmax - qmin)).clamp_min(1e-8)
    zero = (qmin - lo / scale).round().clamp(qmin, qmax)
    return scale, zero


def fake_quantize(x: torch.Tensor, scale: torch.Tensor, zero: torch.Tensor, bits: int) -> torch.Tensor:
    """Round-to-nearest fake quantization (no gradient trickery; see :class:`FakeQuantSTE`)."""
    qmin, qmax = qrange(bits)
    return (torch.round(x / scale) + zero).clamp(qmin, qmax).sub(zero).mul(scale)


def lp_search(x: torch.Tensor, bits: int, channel_dim: int | None, p: float = LP_NORM) -> tuple[torch.Tensor, torch.Tensor]:
    """Range search: the ``(scale, zero)`` of the shrunken ``[min, max]`` with least L_p error.

    ``channel_dim=None`` gives one pair for the whole tensor, otherwise one per channel along
    ``channel_dim`` (returned with shape ``[C]``).
    """
    x = x.detach().float()
    if channel_dim is None:
        flat = x.reshape(1, -1)
        if flat.shape[1] > SEARCH_SAMPLE:  # a seeded sample keeps the search cheap and deterministic
            gen = torch.Generator().manual_seed(flat.shape[1])
            flat = flat[:, torch.randint(flat.shape[1], (SEARCH_SAMPLE,), generator=gen)]
    else:
        flat = x.transpose(0, channel_dim).reshape(x.shape[channel_dim], -1)
    lo0 = flat.min(1).values.clamp(max=0)
    hi0 = flat.max(1).values.clamp(min=0)
    best_err = torch.full_like(lo0, float("inf"))
    best_lo, best_hi = lo0.clone(), hi0.clone()
    qmin, qmax = qrange(bits)
    for i in range(SEARCH_STEPS):
        shrink = 1 - 0.01 * i
        lo, hi = lo0 * shrink, hi0 * shrink
        scale, zero = scale_and_zero(lo, hi, bits)
        s, z = scale[:, None], zero[:, None]
        # fake_quantize(flat) - flat, in place on one buffer
        err = torch.mul(flat, 1 / s).round_().add_(z).clamp_(qmin, qmax).sub_(z).mul_(s).sub_(flat)
        err = err.abs_().pow_(p).mean(1)
        better = err < best_err
        best_err = torch.where(better, err, best_err)
        best_lo, best_hi = torch.where(better, lo, best_lo), torch.where(better, hi, best_hi)
    scale, zero = scale_and_zero(best_lo, best_hi, bits)
    return (scale[0], zero[0]) if channel_dim is None else (scale, zero)


class FakeQuantSTE(torch.autograd.Function):
    """Per-tensor fake quantization with a learnable step, in one fused autograd node.

    Straight-through rounding: d q / d x = 1 where round(x / s) is inside the grid, else 0;
    LSQ-style, d q / d s = q/s - x/s inside the grid and the clamp bound outside, so that

        dL/ds = sum(g * q) / s - sum(g * inside * x / s),    g = dL/dq.

    ``scale`` is a tensor and is never read back to the host (on a GPU that would wait for the
    device every step). ``lo`` and ``hi`` are the clamp bounds of ``round(x / s)``: ``qmin - z``
    and ``qmax - z``, host numbers because the zero point ``z`` is fixed during reconstruction
    (see :meth:`ActQuantizer.bounds`). Keeping ``t = x / s`` for the backward makes the mask a
    comparison with those constants: ``hardtanh_backward`` passes ``g`` where lo - 1/2 < t <
    hi + 1/2, one fused kernel. Autograd's own graph for the same formula records ~8 element-wise
    ops (bool masks and ``where`` among them, which measure 5-20x slower than a multiply on this
    CPU); bounds as tensors cost two more passes per call here (a clamp with tensor bounds
    measured 5x slower than one with numbers, and the mask one more kernel).
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, scale: torch.Tensor, lo: float, hi: float) -> torch.Tensor:
        t = torch.mul(x, scale.reciprocal())
        out = torch.round(t).clamp_(lo, hi).mul_(scale)
        ctx.save_for_backward(t, out, scale)
        ctx.bounds = (lo - 0.5, hi + 0.5)
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        t, out, scale = ctx.saved_tensors
        grad_x = torch.ops.aten.hardtanh_backward(grad, t, *ctx.bounds)
        grad_s = None
        if ctx.needs_input_grad[1]:
            g, o, tt, gx = grad.reshape(-1), out.reshape(-1), t.reshape(-1), grad_x.reshape(-1)
            grad_s = torch.dot(g, o) / scale - torch.dot(gx, tt)
        return (grad_x if ctx.needs_input_grad[0] else None), grad_s, None, None


class ScaleGrad(torch.autograd.Function):
    """Identity forward; the gradient times ``factor`` (LSQ's step-gradient scaling, which the
    released QDrop applies as 1 / sqrt(numel * qmax); under Adam it matters only near eps)."""

    @staticmethod
    def forward(ctx, t: torch.Tensor, factor: float) -> torch.Tensor:
        ctx.factor = factor
        return t.view_as(t)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return grad * ctx.factor, None


def mix(quantized: torch.Tensor, fp: torch.Tensor, keep_prob: float) -> torch.Tensor:
    """QDrop: each element keeps its quantized value with probability ``keep_prob``.

    ``fp + m * (q - fp)`` with a float Bernoulli mask costs two passes; a boolean mask and
    ``torch.where`` measure several times slower on CPU.
    """
    keep = torch.empty_like(fp).bernoulli_(keep_prob)
    return torch.addcmul(fp, keep, quantized - fp)


class ActQuantizer(nn.Module):
    """Per-tensor activation quantizer with a learned step (zero point fixed after init).

    ``keep_prob`` < 1 is QDrop: during reconstruction each element keeps its quantized value
    with that probability and its float value otherwise. The first forward in ``observe`` mode
    initialises the range from the data by :func:`lp_search`.
    """

    def __init__(self, bits: int):
        super().__init__()
        qrange(bits)
        self.bits = bits
        self.scale = nn.Parameter(torch.tensor(1.0))
        self.register_buffer("zero", torch.tensor(0.0))
        self.enabled = True
        self.observe = False
        self.initialized = False
        self.keep_prob = 1.0
        self.grad_scaled = False  # LSQ's step-gradient factor (the released QDrop's), see ScaleGrad
        self._zero_seen: tuple[weakref.ref, int, float] | None = None  # (tensor, version, value) of ``zero``

    def bounds(self) -> tuple[float, float]:
        """``(qmin - z, qmax - z)`` as host numbers.

        The zero point is a buffer like the step, but unlike the step it is fixed once the range
        is initialised, so its value is read to the host once and reused while the buffer is
        unchanged (the same tensor object at the same in-place version: ``copy_`` and
        ``load_state_dict`` bump the version, ``.to()`` makes a new tensor). No read per step, hence
        no device sync.
        """
        z, seen = self.zero, self._zero_seen
        if seen is None or seen[0]() is not z or seen[1] != z._version:
            self._zero_seen = seen = (weakref.ref(z), z._version, float(z))
        qmin, qmax = qrange(self.bits)
        return qmin - seen[2], qmax - seen[2]

    def __getstate__(self) -> dict:
        return {**super().__getstate__(), "_zero_seen": None}  # a weak reference does not pickle

    def set_bits(self, bits: int) -> None:
        qrange(bits)
        self.bits, self.initialized = bits, False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.enabled:
            return x
        if self.observe or not self.initialized:
            if not self.observe:
                raise RuntimeError("activation quantizer used before its range was initialised")
            scale, zero = lp_search(x, self.bits, channel_dim=None)
            self.scale.data.copy_(scale)
            self.zero.copy_(zero)
            self.initialized, self.observe = True, False
        lo, hi = self.bounds()
        if torch.is_grad_enabled():
            scale = self.scale
            if self.grad_scaled:
                scale = ScaleGrad.apply(scale, (x.numel() * qrange(self.bits)[1]) ** -0.5)
            out = FakeQuantSTE.apply(x, scale, lo, hi)
        else:  # inference: the same values in one buffer, nothing kept for a backward
            out = torch.mul(x, self.scale.reciprocal()).round_().clamp_(lo, hi).mul_(self.scale)
        if self.keep_prob < 1.0 and self.training:
            out = mix(out, x, self.keep_prob)
        return out

    def extra_repr(self) -> str:
        return f"bits={self.bits}, scale={float(self.scale):.4g}, zero={float(self.zero):.0f}"
