"""The method registry: what distinguishes AdaRound, BRECQ, QDrop and MRECG, as data.

A method is one small record, not a name that code branches on. The one reconstruction loop
(:mod:`mrecg.recon.loop`) takes its loss from the record, the driver (:mod:`mrecg.recon.ptq`) its
granularity, keep probability and partition, and the configuration (:mod:`mrecg.config`) its
default merge selection and whether it uses MRECG's expanded batch. A new method is one
:func:`register` call; see "How to extend" in docs/extend.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch.nn import functional as F

Loss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def recon_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Squared error summed over channels (dim 1), averaged over everything else.

    Written as one fused ``mse_loss`` (sum) rescaled, rather than ``.pow(2).sum(1).mean()``:
    same value, one kernel forward and backward.
    """
    return F.mse_loss(pred, target, reduction="sum") * (pred.shape[1] / pred.numel())


class MethodError(ValueError):
    """Unknown or malformed method; the message is one line that names the fix."""


@dataclass(frozen=True)
class Method:
    """One PTQ method.

    ``granularity``: ``"layer"`` (one unit per layer) or ``"block"`` (one per block, grouped by a
    merge scheme). ``keep_prob``: QDrop's probability of keeping an activation quantized during
    reconstruction (1.0: never dropped). ``loss``: the reconstruction term ``loss(pred, target)``.
    ``selection``: the default merge scheme (``None``: no merges; ``"official"``, ``"modcap:loss"``,
    ``"modcap:params"``: see :mod:`mrecg.merging.selection`). ``expanded_batch``: whether the preset's
    expanded calibration set and batch apply (MRECG's second component). ``joint_edges``: the
    released MRECG partition, which reconstructs the network's first and last units jointly with
    their neighbours (see :func:`mrecg.recon.units.partition`). ``baseline``: the method whose
    block-wise pass gives the data-dependent ModCap and against which gains are reported.
    ``reconstructs``: False for round-to-nearest, which only sets ranges.
    """

    name: str
    granularity: str = "block"
    keep_prob: float = 1.0
    loss: Loss = recon_loss
    selection: str | None = None
    expanded_batch: bool = False
    joint_edges: bool = False
    baseline: str | None = None
    reconstructs: bool = True

    def __post_init__(self):
        if self.granularity not in ("layer", "block"):
            raise MethodError(f"method {self.name}: granularity must be 'layer' or 'block', got {self.granularity!r}")
        if not 0 < self.keep_prob <= 1:
            raise MethodError(f"method {self.name}: keep_prob must be in (0, 1], got {self.keep_prob}")
        if self.selection is not None and self.granularity != "block":
            raise MethodError(f"method {self.name}: merges group blocks, so a selection needs block granularity")


METHODS: dict[str, Method] = {}


def register(method: Method) -> Method:
    """Add ``method`` to the registry (a name can be registered once)."""
    if method.name in METHODS:
        raise MethodError(f"method {method.name!r} is already registered")
    if method.baseline is not None and method.baseline not in METHODS:
        raise MethodError(f"method {method.name}: register its baseline {method.baseline!r} first")
    METHODS[method.name] = method
    return method


def get(name: str) -> Method:
    try:
        return METHODS[name]
    except KeyError:
        raise MethodError(f"unknown method {name!r}; choose one of {', '.join(METHODS)}") from None


register(Method("nearest", reconstructs=False))  # round-to-nearest with the same quantizers
register(Method("adaround", granularity="layer"))
register(Method("brecq"))
register(Method("qdrop", keep_prob=0.5))
# MRECG on top of each baseline: the released code's hand-written merge schemes, its partition, and
# the expanded batch. ModCap-selected merges (ours) are the same method with another `scheme`.
register(Method("mrecg+brecq", selection="official", expanded_batch=True, joint_edges=True, baseline="brecq"))
register(Method("mrecg+qdrop", keep_prob=0.5, selection="official", expanded_batch=True, joint_edges=True,
                baseline="qdrop"))
