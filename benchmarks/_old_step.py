"""The reconstruction step as it was at commit 6584a2a, frozen for benchmarks (not package code).

``old_step()`` patches it in: the old loop (two Adams in torch's per-tensor implementation, the
rounding regulariser through autograd, ``.item()`` per trace point), the old soft weight
(``s * (clamp(floor + h + z) - z)`` through autograd), the old activation quantizer (reading the
step and the zero point back to the host every call) and oneDNN's depthwise convolution on every
map size. Everything else (range search, BN folding, caches, the units) is the current code,
which that commit shares.
"""

from __future__ import annotations

import contextlib
from typing import Callable, Iterator

import torch
from torch import nn
from torch.nn import functional as F

import mrecg.recon.loop
import mrecg.recon.ptq
from mrecg.quant.adaround import BetaSchedule, WeightQuantizer, rectified_sigmoid
from mrecg.quant.layers import QuantLayer
from mrecg.quant.quantizer import ActQuantizer, fake_quantize, lp_search, mix, qrange
from mrecg.methods import recon_loss
from mrecg.recon.loop import Trace, flush_denormal, quant_parameters


class OldFakeQuantSTE(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, scale, lo: float, hi: float):
        s = float(scale)
        out = torch.mul(x, 1.0 / s).round_().clamp_(lo, hi).mul_(s)
        ctx.save_for_backward(x, out)
        ctx.bounds = ((lo - 0.5) * s, (hi + 0.5) * s, s)
        return out

    @staticmethod
    def backward(ctx, grad):
        x, out = ctx.saved_tensors
        a, b, s = ctx.bounds
        grad_x = torch.ops.aten.hardtanh_backward(grad, x, a, b)
        grad_s = None
        if ctx.needs_input_grad[1]:
            g, o, xx, gx = grad.reshape(-1), out.reshape(-1), x.reshape(-1), grad_x.reshape(-1)
            grad_s = (torch.dot(g, o) - torch.dot(gx, xx)) / s
        return (grad_x if ctx.needs_input_grad[0] else None), grad_s, None, None


def old_act_forward(self: ActQuantizer, x: torch.Tensor) -> torch.Tensor:
    if not self.enabled:
        return x
    if self.observe or not self.initialized:
        if not self.observe:
            raise RuntimeError("activation quantizer used before its range was initialised")
        scale, zero = lp_search(x, self.bits, channel_dim=None)
        self.scale.data.copy_(scale)
        self.zero.copy_(zero)
        self.initialized, self.observe = True, False
    qmin, qmax = qrange(self.bits)
    z = float(self.zero)
    out = OldFakeQuantSTE.apply(x, self.scale, qmin - z, qmax - z)
    if self.keep_prob < 1.0 and self.training:
        out = mix(out, x, self.keep_prob)
    return out


def old_weight_forward(self: WeightQuantizer, weight: torch.Tensor) -> torch.Tensor:
    if self.mode == "nearest":
        return fake_quantize(weight, self.scale, self.zero, self.bits)
    qmin, qmax = qrange(self.bits)
    offset = rectified_sigmoid(self.v) if self.mode == "soft" else (self.v >= 0).to(self.v.dtype)
    grid = torch.clamp(self.w_floor + offset + self.zero, qmin, qmax)
    return (grid - self.zero) * self.scale


def old_layer_forward(self: QuantLayer, x: torch.Tensor) -> torch.Tensor:
    w = self.wq(self.weight) if self.quant_weights else self.weight
    if self.conv:
        y = F.conv2d(x, w, self.bias, self.stride, self.padding, self.dilation, self.groups)
    else:
        y = F.linear(x, w, self.bias)
    if self.act == "relu":
        y = F.relu(y)
    elif self.act == "relu6":
        y = F.hardtanh(y, 0.0, 6.0)
    return self.aq(y) if self.aq is not None else y


def old_reconstruct(
    module: nn.Module, x_q: torch.Tensor, x_fp: torch.Tensor, target: torch.Tensor, *, iters: int, batch_size: int,
    keep_prob: float, w_lr: float, a_lr: float, round_lambda: float, warmup: float, device: str,
    generator: torch.Generator, trace_every: int, on_trace: Callable[[int, float], None] | None = None,
    loss: Callable | None = None,
) -> Trace:
    layers, acts = quant_parameters(module)
    for p in module.parameters():
        p.requires_grad_(False)
    for layer in layers:
        layer.wq.init_adaround(layer.weight)
    v_params = [layer.wq.v for layer in layers]
    a_params = [aq.scale for aq in acts if aq.enabled]
    for p in v_params + a_params:
        p.requires_grad_(True)
    opt_w = torch.optim.Adam(v_params, lr=w_lr) if v_params else None
    opt_a = torch.optim.Adam(a_params, lr=a_lr) if a_params and a_lr > 0 else None
    sched_a = torch.optim.lr_scheduler.CosineAnnealingLR(opt_a, T_max=iters, eta_min=0.0) if opt_a else None
    beta = BetaSchedule(iters, warmup)
    for aq in acts:
        aq.keep_prob = keep_prob
    module.train()
    trace = Trace()
    n = len(x_q)
    with flush_denormal():
        for t in range(iters):
            idx = torch.randperm(n, generator=generator)[:batch_size]
            x = x_q[idx].to(device, torch.float32)
            if keep_prob < 1.0:
                x = mix(x, x_fp[idx].to(device, torch.float32), keep_prob)
            rec = recon_loss(module(x), target[idx].to(device, torch.float32))
            reg = torch.zeros((), device=device)
            if beta.active(t) and round_lambda > 0:
                b = beta(t)
                reg = round_lambda * sum(layer.wq.regularizer(b) for layer in layers)
            total = rec + reg
            for opt in (opt_w, opt_a):
                if opt:
                    opt.zero_grad(set_to_none=True)
            total.backward()
            for opt in (opt_w, opt_a):
                if opt:
                    opt.step()
            if sched_a:
                sched_a.step()
            if t % trace_every == 0 or t == iters - 1:
                trace.points.append((t, rec.item(), reg.item()))
                if on_trace:
                    on_trace(t, rec.item())
    for layer in layers:
        layer.wq.harden()
    for aq in acts:
        aq.keep_prob = 1.0
    for p in v_params + a_params:
        p.requires_grad_(False)
    module.eval()
    return trace


@contextlib.contextmanager
def old_step() -> Iterator[None]:
    """Run the old step inside: ``mrecg.recon.ptq.quantize`` and ``mrecg.recon.loop.reconstruct``
    (as called through ``mrecg.recon.ptq``) and every quantized layer's forward behave as at 6584a2a."""
    saved = [
        (mrecg.recon.ptq, "reconstruct", mrecg.recon.ptq.reconstruct),
        (mrecg.recon.loop, "reconstruct", mrecg.recon.loop.reconstruct),
        (ActQuantizer, "forward", ActQuantizer.forward),
        (WeightQuantizer, "forward", WeightQuantizer.forward),
        (QuantLayer, "forward", QuantLayer.forward),
    ]
    mrecg.recon.ptq.reconstruct = mrecg.recon.loop.reconstruct = old_reconstruct
    ActQuantizer.forward, WeightQuantizer.forward, QuantLayer.forward = old_act_forward, old_weight_forward, old_layer_forward
    try:
        yield
    finally:
        for owner, name, value in saved:
            setattr(owner, name, value)
