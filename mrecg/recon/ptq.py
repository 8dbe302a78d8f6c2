"""``quantize``: post-training quantization of a whole network, unit by unit.

Walks the units of a partition in network order. For each unit it initialises the ranges of
its activation quantizers (L_p search on its quantized input), caches its inputs from the
partially quantized network and its float inputs and targets from the folded float network,
and runs :func:`~mrecg.recon.loop.reconstruct`. Caches advance one unit at a time, so the
whole run costs one forward pass of each network over the calibration set, not one per unit.

After each unit, every chain element it completed is measured on a held-out batch the same
way for every method -- float element output vs quantized element output with quantized input
-- which is what Fig. 6 plots at block resolution.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Sequence

import torch
from torch import nn
from tqdm.auto import tqdm

from .. import models
from ..config import ConfigError, PTQConfig
from ..methods import recon_loss
from ..quant.adaround import WeightQuantizer
from ..quant.layers import QuantLayer, freeze
from ..quant.quantizer import ActQuantizer
from .activation_cache import CacheStore, estimate_bytes, placement
from .loop import cached_loss, flush_denormal, reconstruct
from .range_setup import setup_ranges
from .units import QuantChain, Unit, build_chain, partition


@dataclass
class UnitRecord:
    name: str
    elements: list[int]
    blocks: list[int]
    loss_nearest: float  # reconstruction loss with nearest rounding, before optimisation
    loss: float  # after optimisation (hard rounding, all quantizers on)
    trace: list[tuple[int, float, float]]
    seconds: float


@dataclass
class ElementError:
    element: int
    name: str
    block: int | None
    error: float  # recon_loss(quantized output with quantized input, float output) on the hold-out batch
    fp_energy: float  # recon_loss(float output, 0): for normalised curves


@dataclass
class PTQReport:
    config: dict
    units: list[UnitRecord] = field(default_factory=list)
    errors: list[ElementError] = field(default_factory=list)
    scheme: list[list[int]] = field(default_factory=list)
    holdout: str = "held-out"
    cache: str = ""  # where the reconstruction caches lived, and their estimated size
    seconds: float = 0.0

    @property
    def unit_losses(self) -> list[float]:
        return [u.loss for u in self.units]

    @property
    def block_errors(self) -> list[float]:
        return [e.error for e in self.errors if e.block is not None]


@torch.no_grad()
def _run(module: nn.Module, x: torch.Tensor, device: str, store: CacheStore, chunk: int = 256) -> torch.Tensor:
    """``module`` over a cache in chunks, into a new cache of ``store``."""
    module.eval()
    out = None
    for s in range(0, len(x), chunk):
        y = module(x[s : s + chunk].to(device, torch.float32))
        if out is None:
            out = store.empty((len(x),) + tuple(y.shape[1:]))
        out[s : s + len(y)] = y.to(out.device, out.dtype)
    return out


@torch.no_grad()
def _capture(element: nn.Module, layer: nn.Module, x: torch.Tensor, device: str, store: CacheStore, chunk: int = 256):
    """Input and output of ``layer`` when ``element`` runs on ``x`` (for layer-wise units)."""
    seen: list[tuple[torch.Tensor, torch.Tensor]] = []
    hook = layer.register_forward_hook(lambda m, i, o: seen.append((i[0], o)))
    ins = outs = None
    try:
        element.eval()
        for s in range(0, len(x), chunk):
            seen.clear()
            element(x[s : s + chunk].to(device, torch.float32))
            i, o = seen[0]
            if ins is None:
                ins, outs = store.empty((len(x),) + tuple(i.shape[1:])), store.empty((len(x),) + tuple(o.shape[1:]))
            ins[s : s + len(i)], outs[s : s + len(o)] = i.to(ins.device, ins.dtype), o.to(outs.device, outs.dtype)
    finally:
        hook.remove()
    return ins, outs


@torch.no_grad()
def _init_ranges(elements: list[nn.Module], x: torch.Tensor, device: str) -> None:
    """L_p-initialise every not yet initialised activation quantizer, in forward order, on
    quantized data (weights rounded as they currently are)."""
    todo = [aq for e in elements for aq in e.modules() if isinstance(aq, ActQuantizer) and not aq.initialized]
    if not todo:
        return
    for aq in todo:
        aq.observe = True
    x = x.to(device, torch.float32)
    for e in elements:
        x = e.eval()(x)


def _unit_module(q: QuantChain, unit: Unit) -> nn.Module:
    if unit.layer is not None:
        return q.elements[unit.elements[0]].get_submodule(unit.layer)
    return nn.Sequential(*[q.elements[i] for i in unit.elements])


def quantize(
    model: nn.Module,
    calib: torch.Tensor,
    cfg: PTQConfig,
    holdout: torch.Tensor | None = None,
    progress: bool = True,
    block_w_bits: Sequence[int] | None = None,
) -> tuple[QuantChain, PTQReport]:
    """Fake-quantize ``model`` with calibration images ``calib`` (N x C x H x W, N >= calib_size).

    ``cfg.scheme`` must be concrete (block groups) or None (one unit per block): a method's merge
    selection (official, ModCap, random) is resolved before, by :func:`mrecg.merging.selection.select`.
    ``holdout`` is the batch on which per-element output errors are measured; when omitted, the
    images of ``calib`` beyond ``calib_size`` are used, or, if there are none, its first
    ``holdout_size`` images (marked ``in-sample`` in the report).
    ``block_w_bits`` gives each block its own weight bit-width (the toy of notebook 00 varies
    capacity this way); None: ``cfg.w_bits`` everywhere.
    Returns the quantized model (eval mode, hard rounding) and a :class:`PTQReport`.
    """
    start = time.perf_counter()
    if isinstance(cfg.selection(), str):
        raise ConfigError(f"scheme {cfg.selection()!r} must be resolved to block groups first: "
                          "use mrecg.merging.selection.select(model, calib, cfg)")
    if len(calib) < cfg.calib_size:
        raise ValueError(f"got {len(calib)} calibration images but calib_size is {cfg.calib_size}")
    report = PTQReport(config=cfg.to_dict())
    if holdout is None:
        extra = calib[cfg.calib_size : cfg.calib_size + cfg.holdout_size]
        holdout, report.holdout = (extra, "held-out") if len(extra) else (calib[: cfg.holdout_size], "in-sample")
    calib = calib[: cfg.calib_size]
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    dtype = torch.float16 if cfg.cache_dtype == "float16" else torch.float32
    device = cfg.device
    round_lambda = cfg.lambda_for(models.family(model))
    method = cfg.recipe

    fp = build_chain(model, pooled_head=method.joint_edges).to(device)
    q = build_chain(model, cfg.w_bits, cfg.a_bits, pooled_head=method.joint_edges)
    if block_w_bits is not None:
        set_block_weight_bits(q, block_w_bits)
    q = q.to(device)
    units = partition(q, method.granularity, cfg.selection(), joint_edges=method.joint_edges)
    report.scheme = [list(u.blocks) for u in units if u.blocks and u.layer is None] if method.granularity == "block" else []

    need = estimate_bytes(fp, calib[:1].to(device), len(calib), dtype)
    where = placement(cfg.cache_device, device, need)
    report.cache = f"{where}, about {need / 2**30:.2f} GiB"
    if progress:
        tqdm.write(f"reconstruction caches: {report.cache}")
    store = CacheStore(where, dtype)
    q_in = fp_in = store.put(calib)
    held_q = held_fp = holdout.to(device, torch.float32)
    if cfg.act_init != "ours":  # the released codes set every range up front; ours, unit by unit below
        setup_ranges(cfg.act_init, q, calib[: cfg.init_size], calib, device)
    bar = tqdm(total=len(units), desc=f"{cfg.method} W{cfg.w_bits}A{cfg.a_bits}", disable=not progress)
    try:
        with flush_denormal():
            for k, unit in enumerate(units):
                t0 = time.perf_counter()
                elements = [q.elements[i] for i in unit.elements]
                _init_ranges(elements, q_in[: cfg.init_size], device)
                module = _unit_module(q, unit)
                if unit.layer is None:
                    x_q, x_fp = q_in, fp_in
                    target = _run(nn.Sequential(*[fp.elements[i] for i in unit.elements]), fp_in, device, store)
                else:
                    i = unit.elements[0]
                    x_q, _ = _capture(q.elements[i], module, q_in, device, store)
                    x_fp, target = _capture(fp.elements[i], fp.elements[i].get_submodule(unit.layer), fp_in, device, store)
                loss_nearest = cached_loss(module, x_q, target, device, method.loss)
                trace = []
                if cfg.optimizes:
                    trace = reconstruct(
                        module, x_q, x_fp, target,
                        loss=method.loss, iters=cfg.iters, batch_size=cfg.batch_size, keep_prob=cfg.keep(), w_lr=cfg.w_lr,
                        a_lr=cfg.a_lr, round_lambda=round_lambda, warmup=cfg.warmup, device=device,
                        generator=gen, trace_every=cfg.trace_every,
                        on_trace=lambda t, loss: bar.set_postfix(unit=unit.name, loss=f"{loss:.4g}"),
                    ).points
                loss = cached_loss(module, x_q, target, device, method.loss) if cfg.optimizes else loss_nearest
                bar.set_postfix(unit=unit.name, loss=f"{loss:.4g}")
                bar.update()

                last_of_element = k + 1 == len(units) or units[k + 1].elements[0] != unit.elements[0]
                if last_of_element:  # advance the caches and measure the finished elements
                    for i in unit.elements:
                        q_in = _run(q.elements[i], q_in, device, store)
                        if unit.layer is not None:  # for element units the target already is the float output
                            fp_in = _run(fp.elements[i], fp_in, device, store)
                        held_q, held_fp, err = _measure(q.elements[i], fp.elements[i], held_q, held_fp)
                        block = q.block_elements.index(i) if i in q.block_elements else None
                        report.errors.append(ElementError(i, q.names[i], block, err[0], err[1]))
                    if unit.layer is None:
                        fp_in = target
                report.units.append(
                    UnitRecord(unit.name, list(unit.elements), list(unit.blocks), loss_nearest, loss, trace,
                               time.perf_counter() - t0)
                )
    finally:
        bar.close()
        store.close()
    q.eval()
    freeze(q)  # final weights quantized once, not per evaluated batch (bit-identical; 1-2 % of a mini evaluation)
    report.seconds = time.perf_counter() - start
    return q, report


def set_block_weight_bits(q: QuantChain, bits: Sequence[int]) -> None:
    """Re-quantize every weight of block ``b`` at ``bits[b]`` (ranges searched afresh)."""
    if len(bits) != len(q.block_elements):
        raise ValueError(f"{len(bits)} bit-widths for a chain of {len(q.block_elements)} blocks")
    for element, b in zip(q.block_elements, bits):
        for layer in q.elements[element].modules():
            if isinstance(layer, QuantLayer) and layer.wq is not None:
                layer.wq = WeightQuantizer(layer.weight, b)


@torch.no_grad()
def _measure(q_el: nn.Module, fp_el: nn.Module, held_q: torch.Tensor, held_fp: torch.Tensor):
    out_q, out_fp = q_el.eval()(held_q), fp_el.eval()(held_fp)
    return out_q, out_fp, (recon_loss(out_q, out_fp).item(), recon_loss(out_fp, torch.zeros_like(out_fp)).item())

