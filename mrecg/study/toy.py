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

import contextlib
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Iterator, Sequence

import torch
from torch import nn
from torchvision.models import MobileNetV2
from torchvision.ops.misc import Conv2dNormActivation

from .. import data
from ..config import PTQConfig
from ..evaluation import evaluate
from ..merging import modcap, schemes
from ..recon.ptq import quantize
from ..recon.units import build_chain

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


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """The toy computes on one CPU thread: a reduction split over threads sums in another order, and
    the trained toy (so every number after it) would differ between a 1- and a 2-thread process."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@lru_cache(maxsize=2)
def trained_model(data_root: str | None = None) -> tuple[MobileNetV2, float]:
    """The trained float toy (computed once per process; treat it as read-only) and its test top-1."""
    with one_thread():
        return _train(data_root)


def _train(data_root: str | None) -> tuple[MobileNetV2, float]:
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


def merge_scores(cap: modcap.ModCap) -> list[float]:
    """What the top-k merge selection ranks: the ModCap rises. At contrast 0 every difference is 0 and
    top-k would only break ties, so the toy then ranks the steps any positive contrast gives (rises
    at pairs 0-1, 2-3): contrast 0 merges the same pairs and is their control."""
    if any(cap.scores):
        return cap.scores
    return [1.0 if i % 2 == 0 else -1.0 for i in range(len(cap.scores))]


def config(setting: Setting, seed: int, preset: str) -> PTQConfig:
    sizes = PRESETS[preset]
    return PTQConfig(method="brecq", w_bits=setting.bits, a_bits=A_BITS, iters=sizes.iters, w_lr=W_LR, a_lr=ACT_LR,
                     batch_size=BATCH, calib_size=sizes.calib_size, holdout_size=sizes.holdout_size,
                     init_size=sizes.init_size, seed=seed, preset=preset)


def run(setting: Setting, seed: int, preset: str = "mini", data_root: str | None = None) -> dict:
    """Quantize the trained toy at ``setting`` with calibration seed ``seed``: the run's record
    (per-element errors on a held-out batch, unit losses, ModCap, scheme, top-1)."""
    with one_thread():
        return _run(setting, seed, preset, data_root)


def _run(setting: Setting, seed: int, preset: str, data_root: str | None) -> dict:
    model, fp_top1 = trained_model(data_root)
    sizes = PRESETS[preset]
    calib = data.calibration_set(_fashion_mnist("train", data_root), sizes.calib_size + sizes.holdout_size, seed)
    cap = capacity(model, setting.block_bits())
    scheme = schemes.top_k_scheme(merge_scores(cap), setting.k, cap.comparable) if setting.k else None
    qmodel, report = quantize(model, calib, config(setting, seed, preset).with_(scheme=scheme), progress=False,
                              block_w_bits=setting.block_bits())
    return {"setting": asdict(setting), "seed": seed, "preset": preset, "block_bits": setting.block_bits(),
            "modcap": cap.values, "scheme": report.scheme,
            "errors": [asdict(e) for e in report.errors],
            "units": [{"name": u.name, "blocks": u.blocks, "loss": u.loss} for u in report.units],
            "top1": round(evaluate(qmodel, _test_loader(data_root)), 2), "fp_top1": fp_top1,
            "seconds": round(report.seconds, 2)}
