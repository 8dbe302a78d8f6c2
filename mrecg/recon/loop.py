"""The reconstruction loop: one optimisation problem per unit, whatever the unit is.

Given a unit (any module: one layer, one block, several blocks), its cached inputs from the
partially quantized network, its cached float inputs and its float outputs, learn the AdaRound
variables of its weights and the steps of its activation quantizers, jointly, with Adam::

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
import math
from dataclasses import dataclass, field
from typing import Callable, Iterator

import torch
from torch import nn

from ..quant.adaround import BetaSchedule
from ..quant.layers import QuantLayer, freeze
from ..quant.quantizer import ActQuantizer, mix

Loss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (prediction, target) -> scalar
# The released QDrop loop's choices where ours differ, each switchable in :func:`reconstruct`:
# batches drawn with replacement; the activation step's gradient scaled by 1 / sqrt(numel * qmax)
# (LSQ's factor); the regulariser's schedule read one step later (its counter starts at 1); two
# Adams (rounding, steps) instead of one with two groups.
RELEASED_LOOP = ("with_replacement", "step_grad_scale", "regulariser_count", "two_adams")


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
def cached_loss(module: nn.Module, x: torch.Tensor, target: torch.Tensor, device: str, loss: Loss,
                chunk: int = 256) -> float:
    """``loss`` of ``module`` (eval mode) over a whole cache, in chunks."""
    module.eval()
    total = 0.0
    for s in range(0, len(x), chunk):
        xb, tb = x[s : s + chunk].to(device, torch.float32), target[s : s + chunk].to(device, torch.float32)
        total += loss(module(xb), tb).item() * len(xb)
    return total / len(x)


def batch_generator(generator: torch.Generator, cache: torch.Tensor) -> torch.Generator:
    """The generator that draws batch indices on the device the cache lives on.

    ``generator`` itself when it is on that device (CPU caches: the same stream as always);
    otherwise a generator on the cache's device seeded from one draw of ``generator`` -- one host
    draw per unit, so the indices of a GPU cache are drawn, and the batch gathered, on the GPU.
    """
    where = cache.device
    if generator.device.type == where.type and (where.type == "cpu" or generator.device == where):
        return generator
    seed = int(torch.randint(2**62, (1,), generator=generator))
    return torch.Generator(where).manual_seed(seed)


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
    loss: Loss,
    on_trace: Callable[[int, float], None] | None = None,
    released: frozenset[str] = frozenset(),
) -> Trace:
    """Optimise ``module`` in place; return its loss trace. Rounding is hard (and frozen) afterwards.

    ``loss(prediction, target)`` is the reconstruction term; the rounding regulariser's gradient
    is added inside each layer's :class:`~mrecg.quant.adaround.SoftRound` node. Nothing in the loop
    reads a value back to the host: the trace is kept as tensors and converted once at the end,
    where ``on_trace(t, reconstruction_loss)`` is called for each trace point. One Adam holds
    both groups (rounding variables at ``w_lr``; activation steps at ``a_lr`` with cosine decay
    to 0 over ``iters``, as ``CosineAnnealingLR``), in torch's fused implementation.

    ``released`` switches on, one by one, the released QDrop loop's own choices where ours differ
    (:data:`RELEASED_LOOP`), for the side-by-side check ``benchmarks/released_xcheck.py``.
    """
    unknown = set(released) - set(RELEASED_LOOP)
    if unknown:
        raise ValueError(f"unknown released-loop choices {sorted(unknown)}; choose from {', '.join(RELEASED_LOOP)}")
    layers, acts = quant_parameters(module)
    for p in module.parameters():
        p.requires_grad_(False)
    for layer in layers:
        layer.wq.init_adaround(layer.weight)
    v_params = [layer.wq.v for layer in layers]
    a_params = [aq.scale for aq in acts if aq.enabled] if a_lr > 0 else []
    for p in v_params + a_params:
        p.requires_grad_(True)
    groups = ([dict(params=v_params, lr=w_lr)] if v_params else []) + ([dict(params=a_params, lr=a_lr)] if a_params else [])
    if "two_adams" in released:  # one default (foreach) Adam per group, stepped rounding first
        opts = [torch.optim.Adam([g]) for g in groups]
    else:
        opts = [torch.optim.Adam(groups, fused=True)] if groups else []
    act_group = opts[-1].param_groups[-1] if a_params else None
    offset = 1 if "regulariser_count" in released else 0
    for aq in acts:
        aq.grad_scaled = "step_grad_scale" in released
    beta = BetaSchedule(iters, warmup)
    for aq in acts:
        aq.keep_prob = keep_prob
    module.train()
    gen = batch_generator(generator, x_q)
    n = len(x_q)
    points: list[tuple[int, torch.Tensor, torch.Tensor]] = []
    try:
        with flush_denormal():
            for t in range(iters):
                if "with_replacement" in released:
                    idx = torch.randint(n, (batch_size,), generator=gen, device=gen.device)
                else:
                    idx = torch.randperm(n, generator=gen, device=gen.device)[:batch_size]
                x = x_q[idx].to(device, torch.float32)
                if keep_prob < 1.0:
                    x = mix(x, x_fp[idx].to(device, torch.float32), keep_prob)
                penalty = (round_lambda, beta(t + offset)) if beta.active(t + offset) and round_lambda > 0 else None
                for layer in layers:
                    layer.wq.penalty = penalty
                rec = loss(module(x), target[idx].to(device, torch.float32))
                if t % trace_every == 0 or t == iters - 1:
                    with torch.no_grad():
                        reg = (round_lambda * sum(layer.wq.regularizer(penalty[1]) for layer in layers)
                               if penalty and layers else torch.zeros((), device=rec.device))
                    points.append((t, rec.detach(), reg))
                if not opts:
                    continue
                for opt in opts:
                    opt.zero_grad(set_to_none=True)
                rec.backward()
                if act_group is not None:
                    act_group["lr"] = a_lr * (1 + math.cos(math.pi * t / iters)) / 2
                for opt in opts:
                    opt.step()
    finally:
        for layer in layers:
            layer.wq.penalty = None
        for aq in acts:
            aq.grad_scaled = False
    for layer in layers:
        layer.wq.harden()
    freeze(module)
    for aq in acts:
        aq.keep_prob = 1.0
    for p in v_params + a_params:
        p.requires_grad_(False)
    module.eval()
    values = torch.stack([torch.stack((r, g)) for _, r, g in points]).tolist() if points else []
    trace = Trace([(t, r, g) for (t, _, _), (r, g) in zip(points, values)])
    if on_trace:
        for t, r, _ in trace.points:
            on_trace(t, r)
    return trace
