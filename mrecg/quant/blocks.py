"""The block registry: how each float block type becomes a quantized block.

A quantized block re-states its float block's forward with :class:`~mrecg.quant.layers.QuantLayer`s
and quantizes its output (the next block's input). ``layers()`` lists its layers in the order
layer-wise reconstruction (AdaRound) visits them. A new architecture is one entry in
:data:`BLOCKS`.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn
from torch.nn import functional as F
from torchvision.models.mobilenetv2 import InvertedResidual
from torchvision.models.resnet import BasicBlock, Bottleneck

from .layers import QuantLayer, quantize_sequence
from .quantizer import ActQuantizer


def _output_quantizer(a_bits: int | None) -> nn.Module:
    return ActQuantizer(a_bits) if a_bits is not None else nn.Identity()


class QuantBlock(nn.Module):
    """Base class: a block with an output quantizer ``out_quant`` and named layers."""

    def layers(self) -> list[tuple[str, QuantLayer]]:
        return [(n, m) for n, m in self.named_modules() if isinstance(m, QuantLayer)]


class QuantResidualBlock(QuantBlock):
    """torchvision's BasicBlock or Bottleneck: a chain of conv+BN(+ReLU) layers whose last one
    joins the (possibly downsampled) identity before the final ReLU."""

    def __init__(self, block: BasicBlock | Bottleneck, w_bits: int | None, a_bits: int | None):
        super().__init__()
        n = 3 if isinstance(block, Bottleneck) else 2
        convs = [(getattr(block, f"conv{i}"), getattr(block, f"bn{i}")) for i in range(1, n + 1)]
        self.body = nn.Sequential(
            *[QuantLayer(c, b, "relu", w_bits, a_bits) for c, b in convs[:-1]],
            QuantLayer(*convs[-1], None, w_bits, None),
        )
        ds = block.downsample
        self.downsample = QuantLayer(ds[0], ds[1], None, w_bits, None) if ds is not None else None
        self.out_quant = _output_quantizer(a_bits)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = self.downsample(x) if self.downsample is not None else x
        return self.out_quant(F.relu(self.body(x) + identity))


class QuantInvertedResidual(QuantBlock):
    """torchvision's InvertedResidual: [expand 1x1 +ReLU6] -> depthwise 3x3 +ReLU6 -> project 1x1,
    plus the identity when stride is 1 and the widths match."""

    def __init__(self, block: InvertedResidual, w_bits: int | None, a_bits: int | None):
        super().__init__()
        self.body = quantize_sequence(block.conv, w_bits, a_bits)
        self.use_residual = block.use_res_connect
        self.out_quant = _output_quantizer(a_bits)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.body(x)
        return self.out_quant(x + y if self.use_residual else y)


# float block type -> constructor(block, w_bits, a_bits) of its quantized counterpart
BLOCKS: dict[type, Callable[[nn.Module, int | None, int | None], QuantBlock]] = {
    BasicBlock: QuantResidualBlock,
    Bottleneck: QuantResidualBlock,
    InvertedResidual: QuantInvertedResidual,
}


def quantize_block(block: nn.Module, w_bits: int | None, a_bits: int | None) -> QuantBlock:
    try:
        return BLOCKS[type(block)](block, w_bits, a_bits)
    except KeyError:
        raise TypeError(f"no quantized counterpart registered for block type {type(block).__name__}") from None
