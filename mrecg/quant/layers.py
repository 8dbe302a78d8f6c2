"""One quantized layer: a BN-folded conv or linear, its activation, and its output quantizer.

BatchNorm is folded into the preceding conv before quantization, as every reconstruction
code does: the folded weight ``w * g / sqrt(var + eps)`` is what gets quantized, and the
folded float layer is the reconstruction target. Activation quantizers sit on layer *outputs*
after the activation function (so on every quantized layer's *input*) -- the placement of the
released QDrop/MRECG code; a layer whose output is added to a residual has none (its block
quantizes the sum).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from .adaround import WeightQuantizer
from .depthwise import depthwise_conv2d
from .quantizer import ActQuantizer

ACTIVATIONS = {nn.ReLU: "relu", nn.ReLU6: "relu6"}


def fold_bn(layer: nn.Conv2d | nn.Linear, bn: nn.BatchNorm2d | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Weight and bias of ``layer`` with the (eval-mode) ``bn`` after it folded in."""
    weight = layer.weight.detach().clone()
    bias = layer.bias.detach().clone() if layer.bias is not None else weight.new_zeros(weight.shape[0])
    if bn is None:
        return weight, bias
    gain = bn.weight.detach() / torch.sqrt(bn.running_var + bn.eps)
    weight = weight * gain.reshape((-1,) + (1,) * (weight.dim() - 1))
    bias = (bias - bn.running_mean) * gain + bn.bias.detach()
    return weight, bias


class QuantLayer(nn.Module):
    """Folded conv/linear + optional ReLU/ReLU6 + optional output activation quantizer.

    ``w_bits=None`` / ``a_bits=None`` build the float (folded) counterpart, which serves as
    the reconstruction target.
    """

    def __init__(
        self,
        layer: nn.Conv2d | nn.Linear,
        bn: nn.BatchNorm2d | None = None,
        act: str | None = None,
        w_bits: int | None = None,
        a_bits: int | None = None,
    ):
        super().__init__()
        weight, bias = fold_bn(layer, bn)
        self.register_buffer("weight", weight)
        self.register_buffer("bias", bias)
        self.conv = isinstance(layer, nn.Conv2d)
        if self.conv:
            self.stride, self.padding, self.dilation, self.groups = layer.stride, layer.padding, layer.dilation, layer.groups
        self.act = act
        self.wq = WeightQuantizer(weight, w_bits) if w_bits is not None else None
        self.aq = ActQuantizer(a_bits) if a_bits is not None else None
        self.quant_weights = self.wq is not None

    @property
    def is_depthwise(self) -> bool:
        return self.conv and self.groups > 1 and self.groups == self.weight.shape[0]

    def quantized_weight(self) -> torch.Tensor:
        return self.wq(self.weight) if self.quant_weights else self.weight

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.quantized_weight()
        if self.is_depthwise:
            y = depthwise_conv2d(x, w, self.bias, self.stride, self.padding, self.dilation)
        elif self.conv:
            y = F.conv2d(x, w, self.bias, self.stride, self.padding, self.dilation, self.groups)
        else:
            y = F.linear(x, w, self.bias)
        if self.act == "relu":
            y = F.relu(y)
        elif self.act == "relu6":
            y = F.hardtanh(y, 0.0, 6.0)
        return self.aq(y) if self.aq is not None else y

    def extra_repr(self) -> str:
        kind = f"conv{tuple(self.weight.shape)}" + (f" stride={self.stride[0]}" if self.conv else "")
        return f"{kind if self.conv else f'linear{tuple(self.weight.shape)}'}, act={self.act}"


def freeze(module: nn.Module) -> int:
    """Compute the quantized weight of every QuantLayer in ``module`` whose rounding is final
    (nearest or hard) once, and reuse it in every later forward: bit-identical outputs, and
    evaluation no longer re-quantizes every weight per batch. Soft (still optimised) layers are
    left alone; re-initialising AdaRound or changing a quantizer's mode drops the stored weight.
    Returns the number of layers frozen."""
    frozen = 0
    for layer in module.modules():
        if isinstance(layer, QuantLayer) and layer.wq is not None and layer.wq.mode != "soft":
            layer.wq.freeze(layer.weight)
            frozen += 1
    return frozen


def quantize_sequence(seq: nn.Module, w_bits: int | None, a_bits: int | None) -> nn.Sequential:
    """Turn a (possibly nested) Sequential of conv / BN / ReLU / pooling / linear modules into
    QuantLayers: each conv or linear absorbs the BN and activation that follow it, and gets an
    output quantizer iff an activation follows (otherwise a residual add or the logits do)."""
    flat = [m for m in seq.modules() if not isinstance(m, nn.Sequential)] if isinstance(seq, nn.Sequential) else [seq]
    out: list[nn.Module] = []
    i = 0
    while i < len(flat):
        m = flat[i]
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            bn = flat[i + 1] if i + 1 < len(flat) and isinstance(flat[i + 1], nn.BatchNorm2d) else None
            j = i + 1 + (bn is not None)
            act = ACTIVATIONS.get(type(flat[j])) if j < len(flat) else None
            out.append(QuantLayer(m, bn, act, w_bits, a_bits if act else None))
            i = j + (act is not None)
        elif isinstance(m, (nn.MaxPool2d, nn.AdaptiveAvgPool2d, nn.Flatten)):
            out.append(m)
            i += 1
        elif isinstance(m, nn.Dropout):  # identity at inference; must not fire during reconstruction
            i += 1
        else:
            raise TypeError(f"cannot quantize a {type(m).__name__} inside a plain sequence")
    return nn.Sequential(*out)
