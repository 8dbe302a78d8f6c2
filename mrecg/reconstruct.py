"""The reconstruction loop: one optimisation problem per unit, whatever the unit is.

Given a unit (any module: one layer, one block, several blocks), its cached inputs from the
partially quantized network, its cached float inputs and its float outputs, learn the AdaRound
variables of its weights and the steps of its activation quantizers, jointly, with Adam:

    loss = || unit(x) - target ||^2  +  lambda * sum_layers sum(1 - |2 h(V) - 1|^beta)

``||.||^2`` follows the released BRECQ/QDrop/MQBench code (``lp_loss``): squared error summed
over channels and averaged over batch and spatial positions. For linear outputs this is "summed
over elements, averaged over the batch"; for conv outputs it is that divided by H*W, and it is
the scale at which the released ``lambda`` values were tuned.
QDrop: each element of the unit's input keeps its quantized value with probability
``keep_prob`` (else takes the float value), and so does every activation quantizer inside.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Callable, Iterator

import torch
from torch import nn
from torch.nn import functional as F

from .adaround import BetaSchedule
from .layers import QuantLayer
from .quantizer import ActQuantizer, mix


def recon_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Squared error summed over channels (dim 1), averaged over everything else.

    Written as one fused ``mse_loss`` (sum) rescaled, rather than ``.pow(2).sum(1).mean()``:
    same value, one kernel forward and backward.
    """
    return F.mse_loss(pred, target, reduction="sum") * (pred.shape[1] / pred.numel())


def flush_denormal_enabled() -> bool:
    """Whether the CPU currently flushes denormal floats to zero (torch has no getter)."""
    return (torch.tensor([1e-40], dtype=torch.float32) * 1.0).item() == 0.0


@contextlib.contextmanager
def flush_denormal() -> Iterator[None]:
    """Flush denormals to zero inside, restore the caller's setting after.

    AdaRound's rectified sigmoid saturates: its gradients become denormal floats, which the
    CPU handles in microcode -- a unit measured here ran 100x slower without this.
    """
    before = flush_denormal_enabled()
    torch.set_flush_denormal(True)
    try:
        yield
    finally:
        torch.set_flush_denormal(before)


@dataclass
class Trace:
    """Loss values every ``trace_every`` iterations: (iteration, reconstruction, rounding)."""

    points: list[tuple[int, float, float]] = field(default_factory=list)


def quant_parameters(module: nn.Module) -> tuple[list[QuantLayer], list[ActQuantizer]]:
    layers = [m for m in module.modules() if isinstance(m, QuantLayer) and m.wq is not None]
    acts = [m for m in module.modules() if isinstance(m, ActQuantizer)]
    return layers, acts


@torch.no_grad()
def cached_loss(module: nn.Module, x: torch.Tensor, target: torch.Tensor, device: str, chunk: int = 256) -> float:
    """Reconstruction loss of ``module`` (eval mode) over a whole cache, in chunks."""
    module.eval()
    total = 0.0
    for s in range(0, len(x), chunk):
        xb, tb = x[s : s + chunk].to(device, torch.float32), target[s : s + chunk].to(device, torch.float32)
        total += recon_loss(module(xb), tb).item() * len(xb)
    return total / len(x)


def reconstruct(
    module: nn.Module,
    x_q: torch.Tensor,
    x_fp: torch.Tensor,
    target: torch.Tensor,
    *,
    iters: int,
    batch_size: int,
    keep_prob: float,
    w_lr: float,
    a_lr: float,
    round_lambda: float,
    warmup: float,
    device: str,
    generator: torch.Generator,
    trace_every: int,
    on_trace: Callable[[int, float], None] | None = None,
    loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = recon_loss,
) -> Trace:
    """Optimise ``module`` in place; return its loss trace. Rounding is hard afterwards."""
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
            rec = loss(module(x), target[idx].to(device, torch.float32))
            reg = torch.zeros((), device=device)
            if beta.active(t) and round_lambda > 0:
                b = beta(t)
                reg = round_lambda * sum(layer.wq.regularizer(b) for layer in layers)
            for opt in (opt_w, opt_a):
                if opt:
                    opt.zero_grad(set_to_none=True)
            (rec + reg).backward()
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
