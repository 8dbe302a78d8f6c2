"""Networks as chains of elements, and reconstruction units as partitions of the chain.

A float network is flattened into a *chain*: stem, blocks, (last conv), head -- each a module
whose output is the next one's input. A *unit* is a consecutive run of chain elements (or one
layer inside an element) reconstructed as one optimisation problem. Layer-wise (AdaRound),
block-wise (BRECQ, QDrop) and mixed granularity (MRECG) are then only different partitions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import torch
from torch import nn
from torchvision import models as tvm

from torchvision.models.resnet import BasicBlock, Bottleneck

from .blocks import BLOCKS, QuantBlock, quantize_block
from .layers import QuantLayer, quantize_sequence
from .models import MiniResNet
from .quantizer import ActQuantizer

FIRST_LAST_BITS = 8  # first and last layer weights, and the last layer's input activation


def _resnet_chain(m: nn.Module) -> list[tuple[str, nn.Module]]:
    blocks = [(f"{s}.{i}", b) for s in ("layer1", "layer2", "layer3", "layer4") for i, b in enumerate(getattr(m, s))]
    return [("stem", nn.Sequential(m.conv1, m.bn1, m.relu, m.maxpool))] + blocks + [
        ("head", nn.Sequential(m.avgpool, nn.Flatten(), m.fc))
    ]


def _mobilenet_chain(m: nn.Module) -> list[tuple[str, nn.Module]]:
    f = m.features
    blocks = [(f"features.{i}", f[i]) for i in range(1, len(f) - 1)]
    return [("stem", f[0])] + blocks + [
        ("last_conv", f[-1]),
        ("head", nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), m.classifier)),
    ]


# float model type -> its chain of (name, module); one entry per architecture family
CHAINS: dict[type, Callable[[nn.Module], list[tuple[str, nn.Module]]]] = {
    tvm.ResNet: _resnet_chain,
    MiniResNet: _resnet_chain,
    tvm.MobileNetV2: _mobilenet_chain,
}


RESNET_FAMILIES = {(BasicBlock, (2, 2, 2, 2)): "resnet18", (Bottleneck, (3, 4, 6, 3)): "resnet50"}


def model_family(model: nn.Module) -> str:
    """``resnet18``, ``resnet50`` or ``mobilenetv2``, from the model's type and configuration
    (the key of the released schemes and hyper-parameters)."""
    if isinstance(model, tvm.MobileNetV2):
        return "mobilenetv2"
    if isinstance(model, (tvm.ResNet, MiniResNet)):
        stages = [getattr(model, f"layer{i}") for i in range(1, 5)]
        layout = (type(stages[0][0]), tuple(len(s) for s in stages))
        if layout in RESNET_FAMILIES:
            return RESNET_FAMILIES[layout]
        raise TypeError(f"no MRECG family for a ResNet of {layout[0].__name__}s in stages {layout[1]}")
    raise TypeError(f"no MRECG family for model type {type(model).__name__}")


class QuantChain(nn.Module):
    """The quantized (or folded float) network: chain elements applied in order."""

    def __init__(self, names: list[str], elements: list[nn.Module]):
        super().__init__()
        self.names = names
        self.elements = nn.ModuleList(elements)
        self.block_elements = [i for i, e in enumerate(elements) if isinstance(e, QuantBlock)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for e in self.elements:
            x = e(x)
        return x

    def layers(self) -> list[QuantLayer]:
        return [m for m in self.modules() if isinstance(m, QuantLayer)]


def build_chain(model: nn.Module, w_bits: int | None = None, a_bits: int | None = None) -> QuantChain:
    """Quantized chain of a float model (``w_bits``/``a_bits`` None: the folded float chain).

    The paper's convention is applied here: the first and last layers' weights and the last
    layer's input activation use 8 bits.
    """
    try:
        chain = CHAINS[type(model)](model.eval())
    except KeyError:
        raise TypeError(f"no chain registered for model type {type(model).__name__}") from None
    names, elements = [], []
    for k, (name, module) in enumerate(chain):
        edge = k in (0, len(chain) - 1)
        wb = FIRST_LAST_BITS if edge and w_bits is not None else w_bits
        if type(module) in BLOCKS:
            elements.append(quantize_block(module, wb, a_bits))
        else:
            elements.append(quantize_sequence(module, wb, a_bits))
        names.append(name)
    q = QuantChain(names, elements)
    if a_bits is not None:  # the head's input: the last activation quantizer before it
        [aq for aq in q.elements[:-1].modules() if isinstance(aq, ActQuantizer)][-1].set_bits(FIRST_LAST_BITS)
    return q


@dataclass(frozen=True)
class Unit:
    """One reconstruction problem: chain ``elements`` (consecutive), or one ``layer`` of one."""

    name: str
    elements: tuple[int, ...]
    blocks: tuple[int, ...] = ()
    layer: str | None = None


class SchemeError(ValueError):
    """A malformed merge scheme; the message names what is wrong."""


def validate_scheme(scheme: Sequence[Sequence[int]], n_blocks: int) -> list[list[int]]:
    """A scheme groups block indices into units: ``[[0], [1], [2, 3], [4], ...]``.

    Valid when the groups are runs of consecutive indices that, in order, cover
    ``0 .. n_blocks - 1`` exactly once.
    """
    groups = [list(g) for g in scheme]
    if any(len(g) == 0 for g in groups):
        raise SchemeError("a scheme group is empty")
    flat = [b for g in groups for b in g]
    if any(not isinstance(b, int) or isinstance(b, bool) for b in flat):
        raise SchemeError("scheme entries must be integer block indices")
    bad = [b for b in flat if not 0 <= b < n_blocks]
    if bad:
        raise SchemeError(f"block index {bad[0]} out of range 0..{n_blocks - 1}")
    for g in groups:
        if g != list(range(g[0], g[0] + len(g))):
            raise SchemeError(f"scheme group {g} is not a run of consecutive blocks")
    if flat != list(range(n_blocks)):
        raise SchemeError(f"scheme must cover blocks 0..{n_blocks - 1} once, in order; got {flat}")
    return groups


def partition(chain: QuantChain, granularity: str, scheme: Sequence[Sequence[int]] | None = None) -> list[Unit]:
    """Split a chain into units: ``layer``, ``block``, or ``block`` grouped by ``scheme``."""
    blocks = chain.block_elements
    if scheme is not None:
        if granularity != "block":
            raise SchemeError("a merge scheme groups blocks: use it with block granularity")
        groups = validate_scheme(scheme, len(blocks))
    else:
        groups = [[b] for b in range(len(blocks))]
    units: list[Unit] = []
    group_of = {blocks[g[0]]: g for g in groups}
    for i, name in enumerate(chain.names):
        element = chain.elements[i]
        if i in blocks and i not in group_of:
            continue  # inside a merged group started earlier
        if granularity == "layer":
            layers = [n for n, m in element.named_modules() if isinstance(m, QuantLayer)]
            if len(layers) > 1:
                units += [Unit(f"{name}/{n}", (i,), _blocks_of(blocks, (i,)), n) for n in layers]
                continue
        if i in group_of:
            g = group_of[i]
            members = tuple(blocks[b] for b in g)
            label = name if len(g) == 1 else "+".join(chain.names[e] for e in members)
            units.append(Unit(label, members, tuple(g)))
        else:
            units.append(Unit(name, (i,)))
    return units


def _blocks_of(blocks: list[int], elements: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(blocks.index(e) for e in elements if e in blocks)
