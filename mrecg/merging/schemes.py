"""Merge schemes: which adjacent blocks are reconstructed jointly.

A scheme is a list of groups of consecutive block indices covering every block once, e.g.
``[[0], [1, 2], [3], ...]`` (see :func:`mrecg.recon.units.validate_scheme`). MRECG builds one from
per-pair scores -- the ModCap differences of adjacent blocks (:attr:`mrecg.merging.modcap.ModCap.scores`):
the top-k pairs are merged, and selected pairs that share a block chain into runs of 3 or more.

Topological homogeneity (the paper compares capacities only between modules that share their
hyper-parameters except kernel size and channel counts): a pair is comparable when both blocks
have the same registered block type and the same main-path layer pattern (number of layers and
which are grouped/depthwise). Strides may differ -- that difference is what the data-free
ModCap's stride scaling accounts for -- and so may a projection shortcut. In MobileNetV2 this
excludes only the pair (block 0, block 1): block 0 has no expansion layer.
"""

from __future__ import annotations

import random
import re
from importlib import resources
from typing import Sequence

from ..recon.units import SchemeError, validate_scheme

Scheme = list[list[int]]


def scheme_from_merges(n_blocks: int, merges: set[int] | Sequence[int]) -> Scheme:
    """Scheme where each merge ``i`` joins block ``i`` with block ``i + 1``; merges that share
    a block chain into one longer run."""
    merges = set(merges)
    bad = [i for i in merges if not 0 <= i < n_blocks - 1]
    if bad:
        raise SchemeError(f"merge {bad[0]} does not name an adjacent pair of {n_blocks} blocks")
    groups: Scheme = [[0]]
    for b in range(1, n_blocks):
        if b - 1 in merges:
            groups[-1].append(b)
        else:
            groups.append([b])
    return groups


def merges_of(scheme: Sequence[Sequence[int]]) -> set[int]:
    return {g[i] for g in scheme for i in range(len(g) - 1)}


def _ranked(scores: Sequence[float], comparable: Sequence[bool] | None) -> list[int]:
    """Comparable pairs by decreasing score (ties: the earlier pair first)."""
    comparable = list(comparable) if comparable is not None else [True] * len(scores)
    if len(comparable) != len(scores):
        raise SchemeError(f"{len(scores)} pair scores but {len(comparable)} comparability flags")
    return sorted((i for i in range(len(scores)) if comparable[i]), key=lambda i: (-scores[i], i))


def top_k_merges(scores: Sequence[float], k: int, comparable: Sequence[bool] | None = None) -> set[int]:
    """The ``k`` comparable adjacent pairs with the highest scores."""
    ranked = _ranked(scores, comparable)
    if not 0 <= k <= len(ranked):
        raise SchemeError(f"k = {k} but there are only {len(ranked)} comparable adjacent pairs")
    return set(ranked[:k])


def top_k_scheme(scores: Sequence[float], k: int, comparable: Sequence[bool] | None = None) -> Scheme:
    """Scheme of the top-k pairs for ``len(scores) + 1`` blocks."""
    return scheme_from_merges(len(scores) + 1, top_k_merges(scores, k, comparable))


def largest_unit(scheme: Sequence[Sequence[int]], sizes: Sequence[float]) -> float:
    """Size of the largest merged unit (sum of its blocks' sizes)."""
    return max(sum(sizes[b] for b in g) for g in scheme)


def random_scheme(n_blocks: int, seed: int, merges: int | None = None) -> Scheme:
    """A seeded random scheme: ``merges`` adjacent pairs drawn uniformly (a random count when None)."""
    rng = random.Random(seed)
    pairs = list(range(n_blocks - 1))
    if merges is None:
        merges = rng.randint(0, len(pairs))
    if not 0 <= merges <= len(pairs):
        raise SchemeError(f"cannot draw {merges} merges from {len(pairs)} adjacent pairs")
    return scheme_from_merges(n_blocks, set(rng.sample(pairs, len(pairs))[:merges]))


# ----------------------------------------------------------------------------- official schemes

# The released configs list one label per reconstruction unit of the released partition
# (:func:`mrecg.recon.units.partition` with ``joint_edges``); equal adjacent labels are reconstructed
# jointly. Those units are: for the ResNets the stem, each block (the last one through the
# pool) and ``fc`` (1 + blocks + 1 labels); for MobileNetV2 stem + block 0, blocks 1..16 and
# last conv + classifier (17 + 1 labels). With that reading the ResNet comments in the configs
# (layer1.1+layer2.0, ...) and the MobileNetV2 merges read off the paper's loss figure (b2+b3,
# b5+b6, b8..b10, b11..b13, b15+b16) both hold.
OFFICIAL_BLOCKS = {"resnet18": 8, "resnet50": 16, "mobilenetv2": 17}


def released_unit_blocks(family: str) -> list[tuple[int, ...]]:
    """Blocks in each unit of the released partition without merges, in network order."""
    if family not in OFFICIAL_BLOCKS:
        raise SchemeError(f"no released partition for {family}; it is known for {', '.join(OFFICIAL_BLOCKS)}")
    blocks = [(b,) for b in range(OFFICIAL_BLOCKS[family])]
    if family == "mobilenetv2":
        return blocks + [()]  # stem joins block 0; last conv + classifier hold no block
    return [()] + blocks + [()]  # stem; blocks (the last through the pool); fc


def parse_label_list(text: str) -> list[int]:
    """``"[1, 2, (3, 3), 4]"`` -> ``[1, 2, 3, 3, 4]`` (tuples expanded in place, no eval)."""
    if not re.fullmatch(r"\[[\d\s,()]*\]", text.strip()):
        raise SchemeError(f"not a label list: {text!r}")
    return [int(t) for t in re.findall(r"\d+", text)]


def official_labels(family: str) -> list[int]:
    """The released config's label list for ``family``, one label per released unit."""
    text = resources.files("mrecg").joinpath("resources", "paper", "official_schemes.yaml").read_text()
    line = re.search(rf"^{family}:\s*\"([^\"]+)\"", text, re.M)
    if line is None:
        raise SchemeError(f"no official scheme for {family}; they exist for resnet18, resnet50 and mobilenetv2")
    return parse_label_list(line.group(1))


def official_scheme(family: str) -> Scheme:
    """The authors' hand-written scheme for a model ``family`` (:func:`mrecg.models.family`), in our
    block indexing: the labels mapped onto the released units (:func:`released_unit_blocks`)."""
    if family not in OFFICIAL_BLOCKS:
        raise SchemeError(f"no official scheme for {family}; they exist for resnet18, resnet50 and mobilenetv2")
    labels, units = official_labels(family), released_unit_blocks(family)
    if len(labels) != len(units):
        raise SchemeError(f"official scheme of {family} has {len(labels)} labels for {len(units)} released units")
    merges = set()
    for u in range(len(units) - 1):
        if labels[u] == labels[u + 1]:
            if not units[u] or not units[u + 1]:
                raise SchemeError(f"official scheme of {family} merges released unit {u} or {u + 1}, which holds no block")
            merges.add(units[u][-1])
    n_blocks = OFFICIAL_BLOCKS[family]
    return validate_scheme(scheme_from_merges(n_blocks, merges), n_blocks)


def default_k(family: str) -> int:
    """Number of merges in the authors' released scheme: resnet18 2, resnet50 4, mobilenetv2 7."""
    return len(merges_of(official_scheme(family)))
