"""Depthwise convolution whose weight gradient is two matrix products on small maps.

On this CPU, oneDNN's weight gradient of a depthwise 3x3 convolution on 2x2 and 1x1 maps measured
20-70x slower than its forward (1.8-6.7 ms against ~0.1 ms at batch 32 with 192-480 channels),
and the late MobileNetV2 blocks of the mini models, which see exactly those maps, spent most of
their reconstruction step there. On small maps the same gradient is, per channel ``c``,

    dL/dw[c, k] = sum_{l, p} S[l, p, k] * sum_n g[n, c, l] x[n, c, p]

with ``S`` the constant 0/1 table of which input position ``p`` meets which output position
``l`` through kernel tap ``k``: one batched matrix product over the batch, one product with
``S``. Larger maps keep oneDNN's kernel, which is as fast there.
Forward and input gradient are oneDNN's either way; the weight gradient is the same sum in
another order (float rounding differs in the last bits).
"""

from __future__ import annotations

from functools import lru_cache

import torch
from torch.nn import functional as F

# (output positions) x (input positions) up to which the matrix form is used: 2x2 and 1x1 maps, and
# 4x4 with stride 2. benchmarks/step_parts.py (forward + weight gradient, 192 channels at 2x2: 0.26
# vs 2.19 ms, 480 at 1x1: 0.24 vs 4.23 ms) found no gain at 4x4 stride 1 (256) or 8x8 stride 2 (1024).
SMALL_MAP = 64

Pair = tuple[int, int]


def _pair(v: int | Pair) -> Pair:
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[1]))


def _out_size(size: int, k: int, s: int, p: int, d: int) -> int:
    return (size + 2 * p - d * (k - 1) - 1) // s + 1


@lru_cache(maxsize=128)
def tap_table(in_hw: Pair, kernel: Pair, stride: Pair, padding: Pair, dilation: Pair, device: str, dtype: torch.dtype) -> torch.Tensor:
    """``S`` as a ``(L * P) x (kh * kw)`` matrix: row ``l * P + p``, column ``i * kw + j`` is 1
    where input position ``p`` is tap ``(i, j)`` of output position ``l``."""
    (h, w), (kh, kw), (sh, sw), (ph, pw), (dh, dw) = in_hw, kernel, stride, padding, dilation
    oh, ow = _out_size(h, kh, sh, ph, dh), _out_size(w, kw, sw, pw, dw)
    table = torch.zeros(oh * ow, h * w, kh * kw)
    for y in range(oh):
        for x in range(ow):
            for i in range(kh):
                for j in range(kw):
                    r, c = y * sh - ph + i * dh, x * sw - pw + j * dw
                    if 0 <= r < h and 0 <= c < w:
                        table[y * ow + x, r * w + c, i * kw + j] = 1.0
    return table.reshape(-1, kh * kw).to(device, dtype)


class _DepthwiseConv(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, w: torch.Tensor, bias: torch.Tensor | None, stride: Pair, padding: Pair, dilation: Pair):
        ctx.save_for_backward(x, w)
        ctx.conf = (stride, padding, dilation)
        ctx.has_bias = bias is not None
        return F.conv2d(x, w, bias, stride, padding, dilation, w.shape[0])

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        x, w = ctx.saved_tensors
        stride, padding, dilation = ctx.conf
        channels = w.shape[0]
        grad_x = grad_w = grad_b = None
        if ctx.needs_input_grad[0]:
            grad_x = torch.ops.aten.convolution_backward(
                grad, x, w, None, stride, padding, dilation, False, (0, 0), channels, (True, False, False)
            )[0]
        if ctx.needs_input_grad[1]:
            n, l, p = x.shape[0], grad.shape[2] * grad.shape[3], x.shape[2] * x.shape[3]
            outer = torch.bmm(grad.reshape(n, channels, l).permute(1, 2, 0), x.reshape(n, channels, p).permute(1, 0, 2))
            table = tap_table(tuple(x.shape[2:]), tuple(w.shape[2:]), stride, padding, dilation, str(x.device), x.dtype)
            grad_w = torch.mm(outer.reshape(channels, l * p), table).view_as(w)
        if ctx.has_bias and ctx.needs_input_grad[2]:
            grad_b = grad.sum((0, 2, 3))
        return grad_x, grad_w, grad_b, None, None, None


def depthwise_conv2d(
    x: torch.Tensor,
    w: torch.Tensor,
    bias: torch.Tensor | None,
    stride: int | Pair = 1,
    padding: int | Pair = 0,
    dilation: int | Pair = 1,
) -> torch.Tensor:
    """``F.conv2d(x, w, bias, stride, padding, dilation, groups=channels)`` for a depthwise
    ``w`` (``C x 1 x kh x kw``), with the matrix-form weight gradient where the map is small."""
    if isinstance(padding, str) or not (torch.is_grad_enabled() and w.requires_grad):
        return F.conv2d(x, w, bias, stride, padding, dilation, w.shape[0])
    stride, padding, dilation = _pair(stride), _pair(padding), _pair(dilation)
    (h, wd), (kh, kw) = x.shape[2:], w.shape[2:]
    positions_in = h * wd
    positions_out = _out_size(h, kh, stride[0], padding[0], dilation[0]) * _out_size(wd, kw, stride[1], padding[1], dilation[1])
    if positions_in * positions_out > SMALL_MAP:
        return F.conv2d(x, w, bias, stride, padding, dilation, w.shape[0])
    return _DepthwiseConv.apply(x, w, bias, stride, padding, dilation)
