"""The released codes' range setups, as options beside ours (``PTQConfig.act_init``).

``ours`` (the default, :func:`mrecg.ptq._init_ranges`) searches each activation range unit by
unit on the partly quantized network. The released codes set every activation range *up front*,
on the float network (weights and activations unquantized), and differ in the search:

* ``qdrop`` (wimh966/QDrop, ``MSEObserver``): one forward of ``init_size`` images. A tensor that is
  one-sided (all >= 0, or all <= 0) gets a 1-D search over the clip ``range * i / 100``,
  i = 1..100, with the other end at 0; a two-sided one a 2-D search over the same 100 widths times
  every zero point of the grid. The whole tensor is scored by the mean of ``|q(x) - x|^2.4``.
  Weights get the 2-D search per output channel (ours shrinks ``[min, max]`` instead).
* ``mqbench`` (ModelTC/MQBench ``EMAMSEObserver``, the released MRECG's activation observer):
  every calibration image, in batches of :data:`MQBENCH_BATCH`; per batch ``[min, max]`` shrunk
  by ``1 - i / 100``, i < 95, scored by the same L_2.4 mean, and the chosen ends averaged over
  batches by an EMA with ratio 0.9. Weights as ours (MQBench's ``MSEObserver``: 80 shrinks).

Candidates are scored with the released arithmetic (``round(x / s) + z``, clamped, then
``(q - z) * s``; ``s = max((hi - lo) / (qmax - qmin), eps)``, ``z = qmin - round(lo / s)``) and
the first best candidate wins ties, as in the released loops.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from ..config import ACT_INITS
from ..quant.adaround import WeightQuantizer
from ..quant.quantizer import LP_NORM, ActQuantizer, qrange

QDROP_STEPS = 100  # clip widths range * i / 100, i = 1..100
MQBENCH_SHRINKS = 95  # [min, max] * (1 - i / 100), i < 95
MQBENCH_EMA = 0.9
MQBENCH_BATCH = 256  # the released MRECG's calibration loader batch
QDROP_EPS = 1e-8  # the released QDrop observer's floor on the step
MQBENCH_EPS = torch.finfo(torch.float32).eps  # MQBench's (torch's) floor on the step
VECTOR_LIMIT = 1 << 24  # elements up to which the 2-D search scores all zero points at once


def released_qparams(lo: torch.Tensor, hi: torch.Tensor, bits: int, eps: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Step and zero point of ``[lo, hi]`` as the released observers compute them (range widened to 0)."""
    qmin, qmax = qrange(bits)
    lo, hi = lo.clamp(max=0), hi.clamp(min=0)
    scale = ((hi - lo) / float(qmax - qmin)).clamp_min(eps)
    zero = (qmin - torch.round(lo / scale)).clamp(qmin, qmax)
    return scale, zero


def lp_error(x: torch.Tensor, scale: torch.Tensor, zero: torch.Tensor, bits: int, p: float = LP_NORM) -> torch.Tensor:
    """Mean ``|q(x) - x|^p`` per row of ``x`` (rows: channels; one row: the whole tensor)."""
    qmin, qmax = qrange(bits)
    s, z = scale[:, None], zero[:, None]
    q = (torch.round(x / s) + z).clamp(qmin, qmax).sub(z).mul(s)
    return (q - x).abs().pow(p).mean(1)


def qdrop_search(x: torch.Tensor, bits: int, channel_dim: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    """QDrop's grid search: ``(scale, zero)`` for the whole tensor, or per channel along ``channel_dim``.

    One-sided data (judged on the whole tensor) gets the 1-D search from 0, two-sided data the
    2-D search over width and zero point.
    """
    x = x.detach().float()
    rows = x.reshape(1, -1) if channel_dim is None else x.transpose(0, channel_dim).reshape(x.shape[channel_dim], -1)
    side = "pos" if bool(x.min() >= 0) else "neg" if bool(x.max() <= 0) else "both"
    lo0, hi0 = rows.min(1).values, rows.max(1).values
    qmin, qmax = qrange(bits)
    best = torch.full_like(lo0, 1e10)
    best_lo, best_hi = lo0.clone(), hi0.clone()

    def consider(lo: torch.Tensor, hi: torch.Tensor, err: torch.Tensor) -> None:
        nonlocal best, best_lo, best_hi
        better = err < best
        best_lo, best_hi = torch.where(better, lo, best_lo), torch.where(better, hi, best_hi)
        best = torch.minimum(err, best)

    if side == "both":
        lo0, hi0 = lo0.clamp(max=0), hi0.clamp(min=0)
        width = hi0 - lo0
        zps = torch.arange(qmin, qmax + 1, dtype=rows.dtype)[:, None]
        together = len(zps) * rows.numel() <= VECTOR_LIMIT  # all zero points in one pass, else one by one
        for i in range(1, QDROP_STEPS + 1):
            top = width / QDROP_STEPS * i
            step = top / float(qmax - qmin)
            los, his = -zps * step, top - zps * step  # [zero points, channels]
            if together:
                flat = released_qparams(los.flatten(), his.flatten(), bits, QDROP_EPS)
                errs = lp_error(rows.repeat(len(zps), 1), *flat, bits).reshape(los.shape)
            else:
                errs = torch.stack([lp_error(rows, *released_qparams(lo, hi, bits, QDROP_EPS), bits)
                                    for lo, hi in zip(los, his)])
            # the released loop walks the zero points in order and keeps the first strictly better one
            first = (errs == errs.min(0).values).to(torch.uint8).argmax(0, keepdim=True)
            consider(los.gather(0, first)[0], his.gather(0, first)[0], errs.gather(0, first)[0])
    else:
        reach = torch.maximum(lo0.abs(), hi0)
        for i in range(1, QDROP_STEPS + 1):
            clip = reach / QDROP_STEPS * i
            zeros = torch.zeros_like(clip)
            lo, hi = (zeros, clip) if side == "pos" else (-clip, zeros)
            consider(lo, hi, lp_error(rows, *released_qparams(lo, hi, bits, QDROP_EPS), bits))
    scale, zero = released_qparams(best_lo, best_hi, bits, QDROP_EPS)
    return (scale[0], zero[0]) if channel_dim is None else (scale, zero)


def mqbench_batch_range(x: torch.Tensor, bits: int) -> tuple[torch.Tensor, torch.Tensor]:
    """MQBench's per-batch choice: the shrunk ``[min, max]`` with least L_2.4 error (ends not widened)."""
    row = x.detach().float().reshape(1, -1)
    lo0, hi0 = row.min(1).values, row.max(1).values
    best, best_lo, best_hi = 1e10, lo0, hi0
    for i in range(MQBENCH_SHRINKS):
        lo, hi = lo0 * (1.0 - i * 0.01), hi0 * (1.0 - i * 0.01)
        scale, zero = released_qparams(lo, hi, bits, MQBENCH_EPS)
        err = float(torch.fake_quantize_per_tensor_affine(row, float(scale), int(zero), *qrange(bits)).sub(row)
                    .abs().pow(LP_NORM).mean())
        if err < best:
            best, best_lo, best_hi = err, lo, hi
    return best_lo[0], best_hi[0]


class EmaRange:
    """MQBench's ``EMAMSEObserver``: per-batch ranges averaged with ratio :data:`MQBENCH_EMA`."""

    def __init__(self, bits: int):
        self.bits = bits
        self.lo: torch.Tensor | None = None
        self.hi: torch.Tensor | None = None

    def observe(self, x: torch.Tensor) -> None:
        lo, hi = mqbench_batch_range(x, self.bits)
        if self.lo is None:
            self.lo, self.hi = lo, hi
        else:
            self.lo = self.lo * MQBENCH_EMA + lo * (1.0 - MQBENCH_EMA)
            self.hi = self.hi * MQBENCH_EMA + hi * (1.0 - MQBENCH_EMA)

    def qparams(self) -> tuple[torch.Tensor, torch.Tensor]:
        return released_qparams(self.lo, self.hi, self.bits, MQBENCH_EPS)


@torch.no_grad()
def _float_pass(chain: nn.Module, images: torch.Tensor, batch: int, device: str,
                seen: Callable[[ActQuantizer, torch.Tensor], None]) -> None:
    """Run ``chain`` with every weight and activation in float; ``seen(aq, x)`` gets each
    activation quantizer's input."""
    acts = [m for m in chain.modules() if isinstance(m, ActQuantizer)]
    owners = [m for m in chain.modules() if getattr(m, "wq", None) is not None]
    enabled = [aq.enabled for aq in acts]
    hooks = [aq.register_forward_hook(lambda m, i, o: seen(m, i[0])) for aq in acts]
    try:
        for aq in acts:
            aq.enabled = False
        for owner in owners:
            owner.quant_weights = False
        chain.eval()
        for s in range(0, len(images), batch):
            chain(images[s : s + batch].to(device, torch.float32))
    finally:
        for h in hooks:
            h.remove()
        for aq, was in zip(acts, enabled):
            aq.enabled = was
        for owner in owners:
            owner.quant_weights = True


def _set_act(aq: ActQuantizer, scale: torch.Tensor, zero: torch.Tensor) -> None:
    aq.scale.data.copy_(scale.reshape(()))
    aq.zero.copy_(zero.reshape(()))
    aq.initialized, aq.observe = True, False


def setup_qdrop(chain: nn.Module, images: torch.Tensor, device: str) -> None:
    """QDrop's setup: weights per channel, then activations on one float pass of ``images``."""
    for wq, weight in _weight_quantizers(chain):
        scale, zero = qdrop_search(weight, wq.bits, channel_dim=0)
        wq.scale.copy_(scale.reshape(wq.scale.shape))
        wq.zero.copy_(zero.reshape(wq.zero.shape))
    _float_pass(chain, images, len(images), device,
                lambda aq, x: _set_act(aq, *qdrop_search(x, aq.bits, channel_dim=None)))


def setup_mqbench(chain: nn.Module, images: torch.Tensor, device: str) -> None:
    """MQBench's EMA-MSE setup of the activations over ``images`` (weights keep ours)."""
    ranges: dict[ActQuantizer, EmaRange] = {}
    _float_pass(chain, images, MQBENCH_BATCH, device,
                lambda aq, x: ranges.setdefault(aq, EmaRange(aq.bits)).observe(x))
    for aq, ema in ranges.items():
        _set_act(aq, *ema.qparams())


def _weight_quantizers(chain: nn.Module) -> list[tuple[WeightQuantizer, torch.Tensor]]:
    return [(m.wq, m.weight) for m in chain.modules() if getattr(m, "wq", None) is not None]


def setup_ranges(act_init: str, chain: nn.Module, init_images: torch.Tensor, calib: torch.Tensor, device: str) -> None:
    """Set every range of ``chain`` up front the way the released ``act_init`` code does
    (``ours`` sets them unit by unit during :func:`mrecg.ptq.quantize` instead)."""
    if act_init == "qdrop":
        setup_qdrop(chain, init_images, device)
    elif act_init == "mqbench":
        setup_mqbench(chain, calib, device)
    elif act_init != "ours":
        raise ValueError(f"act_init must be one of {', '.join(ACT_INITS)}, got {act_init!r}")
