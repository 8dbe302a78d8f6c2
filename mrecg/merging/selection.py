"""Which blocks MRECG reconstructs jointly: the policy that turns a config into a concrete scheme.

:func:`select` resolves ``cfg.scheme`` (or the method's default selection) to block groups before
:func:`mrecg.recon.ptq.quantize` runs, which only ever sees a concrete partition:

* block groups given explicitly are validated;
* ``official``: the authors' hand-written scheme for the model family (:mod:`mrecg.merging.schemes`);
* ``random:SEED``: a seeded random scheme with ``k`` merges;
* ``modcap:params`` / ``modcap:loss``: our top-k selection from the data-free or data-dependent
  ModCap (:mod:`mrecg.merging.modcap`). The data-dependent one needs a short block-wise pass of the
  method's baseline; :func:`modcap_pass_config` says which, so that callers can cache it.

``k`` defaults to the number of merges in the authors' released scheme for the family.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Callable, Sequence

import torch
from torch import nn

from .. import models
from ..config import ConfigError, PTQConfig
from ..recon.ptq import quantize
from ..recon.units import build_chain, validate_scheme
from . import modcap, schemes


def resolve_config(cfg: PTQConfig, family: str) -> PTQConfig:
    """``cfg`` with every default filled in for ``family`` (see :meth:`PTQConfig.resolved`)."""
    return cfg.resolved(family, schemes.default_k(family))


def check_k(model: nn.Module, k: int, w_bits: int) -> None:
    """Fail in one line, before any long pass, when ``model`` has fewer than ``k`` adjacent block
    pairs that may merge (topologically homogeneous ones, :mod:`mrecg.merging.modcap`)."""
    mergeable = sum(modcap.data_free(model, w_bits).comparable)
    if k > mergeable:
        raise ConfigError(f"k = {k} but {models.family(model)} has only {mergeable} adjacent block pairs that may merge")


@dataclass
class Selection:
    """A resolved scheme, where it came from, and the ModCap values behind it (if any)."""

    scheme: list[list[int]] | None
    source: str  # none | explicit | official | random:SEED | modcap:loss | modcap:params
    modcap: dict | None = None


def modcap_pass_config(cfg: PTQConfig) -> PTQConfig:
    """The block-wise pass behind the data-dependent ModCap: the method's baseline (same keep
    probability, sizes and learning rates), no merges, ``modcap_iters`` iterations per block."""
    baseline = cfg.recipe.baseline
    if baseline is None:
        raise ConfigError(f"modcap:loss needs a method with a baseline to run first; {cfg.method} has none")
    return cfg.with_(method=baseline, scheme=None, k=None, iters=cfg.modcap_iters)


def block_losses(model: nn.Module, calib: torch.Tensor, cfg: PTQConfig, progress: bool = False) -> list[float]:
    """Per-block reconstruction losses of the ModCap pass, computed here (no cache)."""
    _, report = quantize(model, calib, modcap_pass_config(cfg), progress=progress)
    return [u.loss for u in report.units if u.blocks]


def select(
    model: nn.Module,
    calib: torch.Tensor,
    cfg: PTQConfig,
    progress: bool = False,
    losses: Callable[[PTQConfig], Sequence[float]] | None = None,
) -> tuple[PTQConfig, Selection]:
    """``cfg`` with a concrete scheme, and how it was chosen.

    ``losses(cfg)`` supplies the data-dependent ModCap pass's per-block losses (e.g. from a
    cache); by default the pass runs here on ``calib``.
    """
    family = models.family(model)
    cfg = resolve_config(cfg, family)
    asked = cfg.scheme
    n_blocks = len(build_chain(model).block_elements)
    if asked is None:
        return cfg, Selection(None, "none")
    if not isinstance(asked, str):
        return cfg, Selection(validate_scheme(asked, n_blocks), "explicit")
    if asked == "official":
        chosen, mc = schemes.official_scheme(family), None
    elif asked.startswith("random:"):
        chosen, mc = schemes.random_scheme(n_blocks, int(asked.split(":")[1]), merges=cfg.k), None
    else:
        check_k(model, cfg.k, cfg.w_bits)  # before the (long) data-dependent pass
        if asked == "modcap:params":
            mc = modcap.data_free(model, cfg.w_bits, cfg.stride_exponent)
        else:
            mc = modcap.data_dependent(model, (losses or (lambda c: block_losses(model, calib, c, progress)))(cfg))
        chosen = schemes.top_k_scheme(mc.scores, cfg.k, mc.comparable)
    validate_scheme(chosen, n_blocks)
    concrete = cfg.with_(scheme=tuple(tuple(g) for g in chosen), k=None)  # the merges are now explicit
    return concrete, Selection(chosen, asked, asdict(mc) if mc is not None else None)
