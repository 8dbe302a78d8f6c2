"""Networks as chains of elements, and reconstruction units as partitions of the chain.

A float network is flattened into a *chain*: stem, blocks, (last conv), pool, classifier -- each
a module whose output is the next one's input. A *unit* is a consecutive run of chain elements
(or one layer inside an element) reconstructed as one optimisation problem. Layer-wise
(AdaRound), block-wise (BRECQ, QDrop) and mixed granularity (MRECG) are then only different
partitions.

Two layouts, because the baselines and MRECG were released on different code bases:

* **Baselines** (default): pool and classifier form one ``head`` element; the stem, every
  block, MobileNetV2's last 1x1 conv and the head are units of their own, and the 8-bit
  activation quantizer feeding the classifier sits on the last feature map (before pooling).
  That is the released QDrop code (``qdrop/solver/main_imagenet.py``: ``quantize_model`` puts
  8 bits on the last activation quantizer, the last block's or last conv's output map;
  ``recon_model`` reconstructs every ``QuantizedLayer`` -- stem conv, last conv, classifier --
  and every ``QuantizedBlock`` on its own). The released BRECQ code
  (``main_imagenet.py`` ``recon_model``, ``quant/quant_model.py``
  ``QuantModel.set_first_last_layer_to_8bit``) has the same units but differs at the edges,
  which we do not follow: it skips the first layer's reconstruction (``ignore_reconstruction``,
  nearest rounding), quantizes the stem's output at 8 bits, and its 8-bit "last layer input"
  lands on the last block's ``conv2``/``conv3``, whose quantizer is disabled, so a ResNet's
  classifier input stays at the network's activation width.
* **Released MRECG** (``build_chain(..., pooled_head=True)`` + ``partition(...,
  joint_edges=True)``): the released MRECG code reconstructs with MQBench's block extraction
  (``MRECG.py``: ``ptq_reconstruction`` calls ``extract_block`` once per unit start, which
  stacks layers without a shortcut up to three deep through ``extract_layer`` and stops at a
  branch or at the graph output) on a model prepared by MQBench's Academic backend
  (``mqbench/custom_quantizer/academic_quantizer.py``: ``AcademicQuantizer._find_act_quants``
  puts an activation quantizer only on the inputs of convs and linears;
  ``_get_io_module`` / ``_get_post_act_8bit_node_name`` give 8 bits to the first and last
  layers' weights and to their inputs). On the authors' models this makes
  MobileNetV2's unit 0 the stem + block 0 (one three-layer chain) and its last unit the last
  1x1 conv + pooling + classifier; a ResNet's last block runs through average pooling and
  flattening, so it is matched on the pooled vector, on which the 8-bit quantizer feeding
  ``fc`` sits; the last feature map itself is not quantized in either family, and ``fc`` is
  a unit of its own. The released schemes' labels count these units
  (:func:`mrecg.merging.schemes.released_unit_blocks`). One difference remains: MQBench also quantizes
  the input image at 8 bits (the first layer's input); our chains leave it in float.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import torch
from torch import nn
from torchvision import models as tvm

from ..models import MiniResNet
from ..quant.blocks import BLOCKS, QuantBlock, QuantInvertedResidual, quantize_block
from ..quant.layers import QuantLayer, quantize_sequence
from ..quant.quantizer import ActQuantizer

FIRST_LAST_BITS = 8  # first and last layer weights, and the last layer's input activation
POOL = "pool"  # the pooling element of a pooled-head chain (global average pool + flatten)


def _resnet_chain(m: nn.Module) -> list[tuple[str, nn.Module]]:
    blocks = [(f"{s}.{i}", b) for s in ("layer1", "layer2", "layer3", "layer4") for i, b in enumerate(getattr(m, s))]
    return [("stem", nn.Sequential(m.conv1, m.bn1, m.relu, m.maxpool))] + blocks + [
        (POOL, nn.Sequential(m.avgpool, nn.Flatten())),
        ("fc", m.fc),
    ]


def _mobilenet_chain(m: nn.Module) -> list[tuple[str, nn.Module]]:
    f = m.features
    blocks = [(f"features.{i}", f[i]) for i in range(1, len(f) - 1)]
    return [("stem", f[0])] + blocks + [
        ("last_conv", f[-1]),
        (POOL, nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())),
        ("classifier", m.classifier),
    ]


# float model type -> its chain of (name, module), ending in pool and classifier; one entry per
# architecture family
CHAINS: dict[type, Callable[[nn.Module], list[tuple[str, nn.Module]]]] = {
    tvm.ResNet: _resnet_chain,
    MiniResNet: _resnet_chain,
    tvm.MobileNetV2: _mobilenet_chain,
}


class QuantChain(nn.Module):
    """The quantized (or folded float) network: chain elements applied in order."""

    def __init__(self, names: list[str], elements: list[nn.Module], pooled_head: bool = False):
        super().__init__()
        self.names = names
        self.elements = nn.ModuleList(elements)
        self.block_elements = [i for i, e in enumerate(elements) if isinstance(e, QuantBlock)]
        self.pooled_head = pooled_head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for e in self.elements:
            x = e(x)
        return x

    def layers(self) -> list[QuantLayer]:
        return [m for m in self.modules() if isinstance(m, QuantLayer)]


def build_chain(
    model: nn.Module, w_bits: int | None = None, a_bits: int | None = None, pooled_head: bool = False
) -> QuantChain:
    """Quantized chain of a float model (``w_bits``/``a_bits`` None: the folded float chain).

    The paper's convention is applied here: the first and last layers' weights and the last
    layer's input activation use 8 bits. By default (the baselines' layout) pool and classifier
    are one ``head`` element and that 8-bit quantizer is the last feature map's. With
    ``pooled_head`` (the released MRECG layout) they are two elements, ``pool`` and the
    classifier; the 8-bit quantizer sits on the pooled vector (the end of ``pool``) and the
    last feature map is not quantized. Build the float chain with the same ``pooled_head``.
    """
    try:
        chain = CHAINS[type(model)](model.eval())
    except KeyError:
        raise TypeError(f"no chain registered for model type {type(model).__name__}") from None
    if not pooled_head:  # one head element; quantize_sequence flattens the nesting
        (_, pool), (_, classifier) = chain[-2:]
        chain = chain[:-2] + [("head", nn.Sequential(pool, classifier))]
    names, elements = [], []
    for k, (name, module) in enumerate(chain):
        edge = k in (0, len(chain) - 1)
        wb = FIRST_LAST_BITS if edge and w_bits is not None else w_bits
        if type(module) in BLOCKS:
            elements.append(quantize_block(module, wb, a_bits))
        else:
            elements.append(quantize_sequence(module, wb, a_bits))
        names.append(name)
    if a_bits is not None and pooled_head:
        _drop_output_quantizer(elements[-3])
        elements[-2].append(ActQuantizer(FIRST_LAST_BITS))
    q = QuantChain(names, elements, pooled_head)
    if a_bits is not None and not pooled_head:  # the head's input: the last activation quantizer before it
        [aq for aq in q.elements[:-1].modules() if isinstance(aq, ActQuantizer)][-1].set_bits(FIRST_LAST_BITS)
    return q


def _drop_output_quantizer(element: nn.Module) -> None:
    """Leave ``element``'s output in float (the released code quantizes only conv/linear inputs,
    and the last feature map feeds pooling)."""
    if isinstance(element, QuantBlock):
        element.out_quant = nn.Identity()
        return
    last = element[-1]
    if not isinstance(last, QuantLayer) or last.aq is None:
        raise TypeError(f"cannot find the output quantizer of a {type(element).__name__} chain element")
    last.aq = None


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


def partition(
    chain: QuantChain,
    granularity: str,
    scheme: Sequence[Sequence[int]] | None = None,
    joint_edges: bool = False,
) -> list[Unit]:
    """Split a chain into units: ``layer``, ``block``, or ``block`` grouped by ``scheme``.

    ``joint_edges`` gives the released MRECG code's units (see the module docstring) on a
    pooled-head chain: the stem joins the first block's unit when that block has no shortcut
    and the two hold at most three layers (MobileNetV2: ``stem+features.1``); everything after
    the last block joins the classifier when it holds a layer (MobileNetV2:
    ``last_conv+pool+classifier``), otherwise the pool joins the last block's unit (ResNets:
    ``layer4.1+pool``, then ``fc`` alone). Unit ``blocks`` still list only blocks.
    """
    if joint_edges and granularity != "block":
        raise SchemeError("joint edge units are the released MRECG block partition: use block granularity")
    if joint_edges != chain.pooled_head:
        raise SchemeError(
            "the released MRECG partition needs both build_chain(..., pooled_head=True) and partition(..., joint_edges=True)"
        )
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
    return _join_edges(chain, units) if joint_edges else units


# extract_block stacks at most this many layers of a chain without a shortcut into one unit
RELEASED_STACK_DEPTH = 3


def _join_edges(chain: QuantChain, units: list[Unit]) -> list[Unit]:
    """The released code's edge units on top of a block partition (see :func:`partition`)."""
    first = chain.elements[chain.block_elements[0]]
    stem_layers = _n_layers(chain.elements[0]) + _n_layers(first)
    if not _has_shortcut(first) and stem_layers <= RELEASED_STACK_DEPTH:
        units = [_joined(units[:2])] + units[2:]
    pool = chain.names.index(POOL)
    k = next(k for k, u in enumerate(units) if pool - 1 in u.elements)
    if pool - 1 in chain.block_elements:  # the pool ends the last block's unit; the classifier stays alone
        return units[:k] + [_joined(units[k : k + 2])] + units[k + 2 :]
    return units[:k] + [_joined(units[k:])]


def _joined(parts: list[Unit]) -> Unit:
    return Unit(
        "+".join(u.name for u in parts),
        tuple(e for u in parts for e in u.elements),
        tuple(b for u in parts for b in u.blocks),
    )


def _n_layers(element: nn.Module) -> int:
    return sum(isinstance(m, QuantLayer) for m in element.modules())


def _has_shortcut(block: nn.Module) -> bool:
    return not isinstance(block, QuantInvertedResidual) or block.use_residual


def _blocks_of(blocks: list[int], elements: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(blocks.index(e) for e in elements if e in blocks)
