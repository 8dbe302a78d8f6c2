"""The oscillation theorem on a toy that meets its premises: modules that differ in capacity only.

The toy is torchvision's MobileNetV2 cut down to :data:`N_BLOCKS` identical inverted-residual blocks
(expansion :data:`EXPANSION`, stride 1, :data:`WIDTH` channels in and out, so every block keeps its
residual path) behind a stride-4 stem, trained on Fashion-MNIST. Adjacent blocks are therefore
topologically homogeneous, and every block's output has the same width, so the loss scale does not
move with capacity. Capacity varies through one knob, each block's weight bit-width
(:class:`Setting`): the low blocks use ``bits``, every other block ``bits + contrast`` (low first).
The data-free ModCap (parameters x bits) of adjacent blocks then differs by the factor
``(bits + contrast) / bits`` and nothing else differs; contrast 0 makes all blocks equal.

Every run goes through the package's chain, quantizers, ModCap, top-k merge selection and the one
reconstruction loop (:func:`mrecg.ptq.quantize`, BRECQ at W``bits``A8: activations at 8 bits keep the
capacity knob on the weights). The toy adds the model, the bit pattern and the measures that decide
the theorem's claims (:func:`claims`). Caching is the caller's (``mrecg.figures.toy``).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Sequence

import pandas as pd
import torch
from torch import nn
from torchvision.models import MobileNetV2
from torchvision.ops.misc import Conv2dNormActivation

from .. import data, modcap, schemes, stats
from ..config import PTQConfig
from ..evaluation import evaluate
from ..ptq import quantize
from ..units import build_chain

N_BLOCKS = 4
WIDTH = 8  # channels of every block's input and output
EXPANSION = 6
# float training: plain SGD, one-cycle schedule, a fixed slice of Fashion-MNIST (about 10 s on 2 cores)
TRAIN = dict(steps=300, images=12_000, batch=128, lr=0.05, seed=0)
TEST_IMAGES = 2000
A_BITS = 8
MAX_BITS = 8


@dataclass(frozen=True)
class Sizes:
    """Reconstruction budget of one toy run, and the seeds a setting is decided on."""

    iters: int
    calib_size: int
    holdout_size: int
    init_size: int
    seeds: tuple[int, ...]


# 100 iterations at a raised rounding lr (5e-2) keep one setting (5 seeds, two runs) near 30 s on two cores
PRESETS = {"smoke": Sizes(iters=20, calib_size=128, holdout_size=128, init_size=64, seeds=(0, 1)),
           "mini": Sizes(iters=100, calib_size=256, holdout_size=256, init_size=128, seeds=(0, 1, 2, 3, 4))}
PRESETS["paper"] = PRESETS["mini"]  # the toy needs no ImageNet: the paper preset runs the mini toy
W_LR, ACT_LR, BATCH = 5e-2, 4e-4, 32


@dataclass(frozen=True)
class Setting:
    """One point of the toy: the low blocks' weight bits, the extra bits of every other block, and
    ``k``, the number of top-ModCap-difference pairs reconstructed jointly (0: block by block)."""

    contrast: int
    bits: int = 2
    k: int = 0

    def __post_init__(self):
        if not 2 <= self.bits <= MAX_BITS or self.contrast < 0 or self.bits + self.contrast > MAX_BITS:
            raise ValueError(f"bits must be in 2..{MAX_BITS} and bits + contrast at most {MAX_BITS}, "
                             f"got bits {self.bits}, contrast {self.contrast}")
        if not 0 <= self.k < N_BLOCKS:
            raise ValueError(f"k counts merged adjacent pairs of {N_BLOCKS} blocks: 0..{N_BLOCKS - 1}, got {self.k}")

    def block_bits(self) -> list[int]:
        return [self.bits + self.contrast * (i % 2) for i in range(N_BLOCKS)]

    def sequential(self) -> "Setting":
        return Setting(self.contrast, self.bits, 0)


def toy_model(seed: int = 0) -> MobileNetV2:
    """The untrained toy: a 1-channel stem (stride 4), :data:`N_BLOCKS` equal blocks, a small head."""
    torch.manual_seed(seed)
    model = MobileNetV2(num_classes=10, width_mult=WIDTH / 32, inverted_residual_setting=[[EXPANSION, 32, N_BLOCKS, 1]])
    model.features[0][0] = nn.Conv2d(1, WIDTH, 3, stride=4, padding=1, bias=False)
    model.features[-1] = Conv2dNormActivation(WIDTH, 64, kernel_size=1, activation_layer=nn.ReLU6)
    model.classifier[-1] = nn.Linear(64, 10)
    return model


@lru_cache(maxsize=4)
def _fashion_mnist(split: str, data_root: str | None) -> data.TensorDataset:
    return data.fashion_mnist(split, data_root)


def _test_loader(data_root: str | None) -> data.TensorLoader:
    test = _fashion_mnist("test", data_root)
    return data.TensorLoader(data.TensorDataset(test.images[:TEST_IMAGES], test.labels[:TEST_IMAGES]), batch_size=500)


@lru_cache(maxsize=2)
def trained_model(data_root: str | None = None) -> tuple[MobileNetV2, float]:
    """The trained float toy (computed once per process; treat it as read-only) and its test top-1."""
    train = _fashion_mnist("train", data_root)
    x, y = train.images[: TRAIN["images"]], train.labels[: TRAIN["images"]]
    model = toy_model(TRAIN["seed"]).train()
    opt = torch.optim.SGD(model.parameters(), lr=TRAIN["lr"], momentum=0.9, nesterov=True, weight_decay=5e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(opt, TRAIN["lr"], total_steps=TRAIN["steps"], pct_start=0.1)
    gen = torch.Generator().manual_seed(TRAIN["seed"])
    for _ in range(TRAIN["steps"]):
        idx = torch.randint(len(x), (TRAIN["batch"],), generator=gen)
        loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        schedule.step()
    model.eval()
    return model, round(evaluate(model, _test_loader(data_root)), 2)


def capacity(model: nn.Module, block_bits: Sequence[int]) -> modcap.ModCap:
    """Data-free ModCap of each block at its own bit-width (``mrecg.modcap``'s formula, per block)."""
    chain = build_chain(model)
    blocks = [chain.elements[i] for i in chain.block_elements]
    values = [modcap.block_capacity(b, bits) for b, bits in zip(blocks, block_bits)]
    return modcap.ModCap("params", [chain.names[i] for i in chain.block_elements], values,
                         modcap.comparable_pairs(blocks))


def config(setting: Setting, seed: int, preset: str) -> PTQConfig:
    sizes = PRESETS[preset]
    return PTQConfig(method="brecq", w_bits=setting.bits, a_bits=A_BITS, iters=sizes.iters, w_lr=W_LR, a_lr=ACT_LR,
                     batch_size=BATCH, calib_size=sizes.calib_size, holdout_size=sizes.holdout_size,
                     init_size=sizes.init_size, seed=seed, preset=preset)


def run(setting: Setting, seed: int, preset: str = "mini", data_root: str | None = None) -> dict:
    """Quantize the trained toy at ``setting`` with calibration seed ``seed``: the run's record
    (per-element errors on a held-out batch, unit losses, ModCap, scheme, top-1)."""
    model, fp_top1 = trained_model(data_root)
    sizes = PRESETS[preset]
    calib = data.calibration_set(_fashion_mnist("train", data_root), sizes.calib_size + sizes.holdout_size, seed)
    cap = capacity(model, setting.block_bits())
    scheme = schemes.top_k_scheme(cap.scores, setting.k, cap.comparable) if setting.k else None
    qmodel, report = quantize(model, calib, config(setting, seed, preset).with_(scheme=scheme), progress=False,
                              block_w_bits=setting.block_bits())
    return {"setting": asdict(setting), "seed": seed, "preset": preset, "block_bits": setting.block_bits(),
            "modcap": cap.values, "scheme": report.scheme,
            "errors": [asdict(e) for e in report.errors],
            "units": [{"name": u.name, "blocks": u.blocks, "loss": u.loss} for u in report.units],
            "top1": round(evaluate(qmodel, _test_loader(data_root)), 2), "fp_top1": fp_top1,
            "seconds": round(report.seconds, 2)}


# ----------------------------------------------------------------------------- measures


def excess_variation(values: Sequence[float]) -> float:
    """Total variation beyond the net change: 0 for a monotone curve, twice the total fall of a
    rising one. Oscillation that a trend alone cannot produce."""
    steps = [b - a for a, b in zip(values, values[1:])]
    return sum(abs(s) for s in steps) - abs(sum(steps))


def oscillation_share(values: Sequence[float]) -> float:
    """:func:`excess_variation` over the total variation (0 monotone, towards 1 a pure zigzag):
    scale-free, so a raw loss and a normalised error can be put on one axis."""
    tv = sum(abs(b - a) for a, b in zip(values, values[1:]))
    return excess_variation(values) / tv if tv > 0 else 0.0


def block_values(errors: Sequence[dict], value: str = "normalised") -> list[float]:
    """Each block's error on the held-out batch in network order: raw (``error``, summed over
    channels) or ``normalised`` by the float output's energy."""
    blocks = sorted((e for e in errors if e["block"] is not None), key=lambda e: e["block"])
    return [e["error"] / e["fp_energy"] if value == "normalised" else e["error"] for e in blocks]


def output_error(errors: Sequence[dict]) -> float:
    """The network output's (logits') error normalised by their energy: what PTQ exists to reduce."""
    return errors[-1]["error"] / errors[-1]["fp_energy"]


def unit_ends(scheme: Sequence[Sequence[int]]) -> list[int]:
    """The block at which each unit of a block scheme ends: the points two partitions share."""
    return [group[-1] for group in scheme]


def capacity_contrast(values: Sequence[float], comparable: Sequence[bool] | None = None) -> float:
    """Mean |log2| ratio of adjacent (comparable) blocks' ModCap: 0 when all are equal; the toy's
    is ``log2((bits + contrast) / bits)``."""
    comparable = list(comparable) if comparable is not None else [True] * (len(values) - 1)
    logs = [abs(math.log2(b / a)) for a, b, ok in zip(values, values[1:], comparable) if ok]
    return sum(logs) / len(logs) if logs else 0.0


def step_means(record: dict, value: str = "normalised") -> dict:
    """Mean error step where ModCap rises and where it drops, and the steps that follow the
    theorem's sign (a rise lowers the loss, a drop raises it) as a share of the capacity steps."""
    v, cap = block_values(record["errors"], value), record["modcap"]
    pairs = [(b - a, c2 - c1) for a, b, c1, c2 in zip(v, v[1:], cap, cap[1:])]
    rises, drops = [d for d, c in pairs if c > 0], [d for d, c in pairs if c < 0]
    signed = [(d < 0) if c > 0 else (d > 0) for d, c in pairs if c != 0]
    mean = lambda xs: sum(xs) / len(xs) if xs else math.nan  # noqa: E731
    return {"rise": mean(rises), "drop": mean(drops), "agree": mean([float(s) for s in signed])}


def frame(records: Sequence[dict], value: str = "normalised") -> pd.DataFrame:
    """One row per toy run: setting, seed, the block curve, its excess variation, output error, top-1."""
    rows = []
    for r in records:
        curve = block_values(r["errors"], value)
        rows.append({**r["setting"], "seed": r["seed"], "curve": curve, "excess": excess_variation(curve),
                     "output": output_error(r["errors"]), "top1": r["top1"], "scheme": r["scheme"],
                     **{f"step_{k}": v for k, v in step_means(r, value).items()}})
    return pd.DataFrame(rows)


def _row(claim: str, setting: tuple, a: Sequence[float], b: Sequence[float]) -> dict:
    d = stats.paired(list(a), list(b))
    return {"claim": claim, "contrast": setting[0], "bits": setting[1], "k": setting[2], "mean": d.mean, "lo": d.lo,
            "hi": d.hi, "seeds": d.n, "verdict": stats.verdict(d, 0.0)}


def claims(records: Sequence[dict], value: str = "normalised") -> pd.DataFrame:
    """The theorem's claims (a)-(c), each decided per setting by a paired 95 % interval over seeds
    (floor 0): ``supported`` when the whole interval is on the claimed side, ``contradicted`` when it
    is wholly on the other, else ``undecided``. Claim (d) is reading the rows at contrast 0.

    (a) the block-by-block curve oscillates (excess variation > 0), and more than at the next lower
    contrast of the sweep; (b) where ModCap rises the error falls (mean step < 0, stated as ``-step >
    0``), where it drops the error rises; (c) merging the top-k pairs lowers the excess variation at
    every block end and at the merged units' ends (the same points in both runs), and lowers the
    output error. ``mean`` is the claimed quantity (a difference where two runs are compared).
    """
    f = frame(records, value)
    seq = f[f.k == 0].set_index(["bits", "contrast", "seed"]).sort_index()
    out = []
    for bits in sorted(set(f.bits)):
        contrasts = sorted(set(seq.loc[bits].index.get_level_values(0))) if bits in seq.index else []
        for i, c in enumerate(contrasts):
            s = seq.loc[(bits, c)]
            seeds = list(s.index)
            out.append(_row("(a) the block-by-block error oscillates", (c, bits, 0), s.excess, [0.0] * len(s)))
            if i:
                prev = seq.loc[(bits, contrasts[i - 1])]
                both = [x for x in seeds if x in prev.index]
                out.append(_row(f"(a) it oscillates more than at contrast {contrasts[i - 1]}", (c, bits, 0),
                                s.excess[both], prev.excess[both]))
            if c > 0:
                out.append(_row("(b) the error falls where ModCap rises", (c, bits, 0), -s.step_rise, [0.0] * len(s)))
                out.append(_row("(b) the error rises where ModCap drops", (c, bits, 0), s.step_drop, [0.0] * len(s)))
            for k in sorted(set(f[(f.bits == bits) & (f.contrast == c) & (f.k > 0)].k)):
                merged = f[(f.bits == bits) & (f.contrast == c) & (f.k == k)].set_index("seed")
                both = [x for x in seeds if x in merged.index]
                ends = {x: unit_ends(merged.scheme[x]) for x in both}
                at_ends = lambda curves: [excess_variation([curves[x][b] for b in ends[x]]) for x in both]  # noqa: E731
                out.append(_row("(c) merging lowers the oscillation at every block end", (c, bits, k),
                                s.excess[both], merged.excess[both]))
                out.append(_row("(c) merging lowers the oscillation at the merged units' ends", (c, bits, k),
                                at_ends(s.curve), at_ends(merged.curve)))
                out.append(_row("(c) merging lowers the output error", (c, bits, k), s.output[both],
                                merged.output[both]))
    return pd.DataFrame(out)


def verdict_lines(table: pd.DataFrame) -> list[str]:
    """Each claim in one line, its interval and its verdict, with "no" spelled out."""
    words = {"supported": "yes", "contradicted": "no (the opposite holds)", "undecided": "no (not shown)"}
    lines = []
    for r in table.itertuples():
        where = f"W{r.bits}/W{r.bits + r.contrast}, contrast {r.contrast}" + (f", k = {r.k}" if r.k else "")
        spread = f"[{r.lo:+.4f}, {r.hi:+.4f}]" if r.seeds > 1 else "(1 seed, no interval)"
        lines.append(f"{where}: {r.claim}: {r.mean:+.4f} {spread} (95 %, {r.seeds} seeds): {words[r.verdict]}")
    return lines


def plainly(table: pd.DataFrame) -> list[str]:
    """One sentence per claim: the settings where the interval shows it, and those where it does not."""
    def where(r) -> str:
        return f"contrast {r.contrast}" + (f" (k = {r.k})" if r.k else "")

    out = []
    for claim, g in table.groupby("claim", sort=False):
        yes = [where(r) for r in g.itertuples() if r.verdict == "supported"]
        opposite = [where(r) for r in g.itertuples() if r.verdict == "contradicted"]
        open_ = [where(r) for r in g.itertuples() if r.verdict == "undecided"]
        parts = [f"yes at {', '.join(yes)}" if yes else "yes nowhere"]
        parts += [f"no, the opposite holds, at {', '.join(opposite)}"] if opposite else []
        parts += [f"no, not shown by the interval, at {', '.join(open_)}"] if open_ else []
        out.append(f"{claim}: {'; '.join(parts)}.")
    return out
