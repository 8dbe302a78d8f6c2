"""Module capacity (ModCap), per block, in the paper's two settings.

**Data-free.** The paper builds ModCap from a module's parameter count, its weight bit-width and
a stride scaling, summed over the module's layers, but publishes no constants. We use

    ModCap_free(block) = sum over conv/linear layers l of  params(l) * bits(l) * stride(l) ** gamma

``params(l)`` counts weights only (a depthwise 3x3 conv over C channels counts 9 C), ``bits(l)``
is its weight bit-width, and ``gamma`` (``stride_exponent``, default 2) scales a strided layer by
the factor by which it shrinks the number of output positions: a stride-2 layer fits its
weights to a quarter as many outputs, so each weight carries four times the share of the
fit. ``gamma = 0`` gives the plain bit count of the weights.

**Data-dependent.** ModCap is the block's reconstruction loss
``||float output - quantized output (quantized input)||^2`` after a cheap first pass of the
baseline (block reconstruction with ``iters`` iterations) -- the same quantity as the loss
curves of Fig. 6.

**Differences.** Oscillation is measured by the differences of adjacent blocks' ModCap
(:attr:`ModCap.scores`). We orient them as *capacity rises* from block i to block i + 1:
``cap(i+1) - cap(i)`` for the data-free ModCap, and ``loss(i) - loss(i+1)`` for the
data-dependent one (a loss is an inverse capacity: the later block absorbs the error the
earlier one could not). On the paper's own BRECQ loss curve (Fig. 6, the
values read off the figure in ``mrecg/resources/paper/paper_notes.md``) the top-5 oriented differences are exactly the five
stage-boundary pairs the paper's data-free MRECG merges; absolute differences would pick
(1, 2), (11, 12) and (14, 15) in place of (2, 3), (5, 6) and (9, 10).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from torch import nn

from ..quant.blocks import BLOCKS, QuantBlock, quantize_block
from ..quant.layers import QuantLayer
from ..recon.units import build_chain


@dataclass
class ModCap:
    """Per-block ModCap values with the adjacent differences and which pairs are comparable."""

    kind: str
    blocks: list[str]
    values: list[float]
    comparable: list[bool]

    @property
    def differences(self) -> list[float]:
        """Plain adjacent differences ``value(i + 1) - value(i)``."""
        return [b - a for a, b in zip(self.values, self.values[1:])]

    @property
    def scores(self) -> list[float]:
        """Capacity rise of each adjacent pair: the oscillation score that selection ranks."""
        sign = -1.0 if self.kind == "loss" else 1.0
        return [sign * d for d in self.differences]

    def table(self) -> list[dict]:
        """One row per block: name, ModCap, difference to the next block, comparable."""
        rows = []
        for i, (name, v) in enumerate(zip(self.blocks, self.values)):
            last = i == len(self.values) - 1
            rows.append({"block": i, "name": name, "modcap": v,
                         "diff_next": None if last else self.differences[i],
                         "score_next": None if last else self.scores[i],
                         "comparable_next": None if last else self.comparable[i]})
        return rows


def _main_path_signature(block: QuantBlock) -> tuple:
    """Block type + (grouped?) per main-path layer; strides and widths deliberately left out."""
    layers = [m for n, m in block.named_modules() if isinstance(m, QuantLayer) and not n.startswith("downsample")]
    return (type(block).__name__, tuple(layer.conv and layer.groups > 1 for layer in layers))


def comparable_pairs(blocks: Sequence[QuantBlock]) -> list[bool]:
    """Topological homogeneity of each adjacent pair (see :mod:`mrecg.merging.schemes`)."""
    sig = [_main_path_signature(b) for b in blocks]
    return [a == b for a, b in zip(sig, sig[1:])]


def block_capacity(block: QuantBlock, w_bits: int, stride_exponent: float = 2.0) -> float:
    total = 0.0
    for layer in block.modules():
        if isinstance(layer, QuantLayer):
            bits = layer.wq.bits if layer.wq is not None else w_bits
            stride = layer.stride[0] if layer.conv else 1
            total += layer.weight.numel() * bits * stride**stride_exponent
    return total


def _quant_blocks(model_or_blocks: nn.Module | Sequence[nn.Module]) -> tuple[list[str], list[QuantBlock]]:
    if isinstance(model_or_blocks, nn.Module) and type(model_or_blocks) not in BLOCKS:
        chain = build_chain(model_or_blocks)
        return [chain.names[i] for i in chain.block_elements], [chain.elements[i] for i in chain.block_elements]
    blocks = list(model_or_blocks)
    return [f"block{i}" for i in range(len(blocks))], [quantize_block(b, None, None) for b in blocks]


def data_free(model_or_blocks: nn.Module | Sequence[nn.Module], w_bits: int, stride_exponent: float = 2.0) -> ModCap:
    """Data-free ModCap of every block of a model (or of a list of float blocks)."""
    names, blocks = _quant_blocks(model_or_blocks)
    values = [block_capacity(b, w_bits, stride_exponent) for b in blocks]
    return ModCap("params", names, values, comparable_pairs(blocks))


def data_dependent(model: nn.Module, block_losses: Sequence[float]) -> ModCap:
    """Data-dependent ModCap from the per-block reconstruction losses of a short block-wise pass of
    the baseline (run by :func:`mrecg.merging.selection.modcap_pass`)."""
    names, blocks = _quant_blocks(model)
    if len(block_losses) != len(blocks):
        raise ValueError(f"{len(block_losses)} block losses for a model of {len(blocks)} blocks")
    return ModCap("loss", names, list(block_losses), comparable_pairs(blocks))


def block_sizes(model: nn.Module) -> list[float]:
    """Weight count of every block: the model-size cost of merging it (Fig. 4)."""
    chain = build_chain(model)
    return [float(sum(m.weight.numel() for m in chain.elements[i].modules() if isinstance(m, QuantLayer)))
            for i in chain.block_elements]
