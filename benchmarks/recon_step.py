"""Cost of one reconstruction step against one plain fp32 forward+backward of the same unit.

For each unit, in one process on this machine, the variants run interleaved -- fp32, new, old,
fp32, new, old, ... -- ``--repeats`` times, each timing ``--steps`` steps, so that a change of
machine load hits all of them alike:
  * fp32: forward + backward of the BN-folded float unit (weights and biases trainable) on a
    fixed batch with the reconstruction loss -- what training the unit would cost -- under the
    same flush-denormals setting as the loop;
  * new: ``mrecg.recon.loop.reconstruct`` at W2A4 (``--bits``) with AdaRound and activation
    quantization both on (the single-stage QDrop/MRECG loop), per step: the batch draw from a
    1024-image cache, the rounding regulariser from 20 % of the steps on, the Adam update;
  * old: the same with the step of commit 6584a2a (``benchmarks/_old_step.py``).
Prints per unit the median and range over the repeats and one line ending ``ratio X.XX``
(median of new / fp32 over the repeats).

Units: the 14x14 ones of the first version of this benchmark (random BN statistics), and the
units the mini run spends its time on, taken from the trained mini models with their real
inputs (1024 Fashion-MNIST calibration images through the float chain): MobileNetV2 x0.5
blocks at 4x4 and 2x2 maps, ResNet-18 (base width 32) layer4.1 at 1x1, and a merged pair of
the official MobileNetV2 scheme.

    python benchmarks/recon_step.py [--steps 60] [--repeats 3] [--threads 1] [--only SUBSTRING] [--no-old]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from pathlib import Path

import torch
from torch import nn
from torchvision.models.mobilenetv2 import InvertedResidual
from torchvision.models.resnet import BasicBlock

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _old_step import old_step  # noqa: E402

import mrecg.recon.loop  # noqa: E402
from mrecg import data, models  # noqa: E402
from mrecg.methods import recon_loss  # noqa: E402
from mrecg.quant.blocks import quantize_block  # noqa: E402
from mrecg.quant.layers import QuantLayer  # noqa: E402
from mrecg.recon.loop import flush_denormal  # noqa: E402
from mrecg.recon.units import build_chain  # noqa: E402

CACHE = 1024


def _randomise(block: nn.Module) -> nn.Module:
    for m in block.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 2.0)
    return block.eval()


def float_unit(blocks: list[nn.Module]) -> nn.Module:
    """The BN-folded float unit with trainable weights and biases (the baseline)."""
    unit = nn.Sequential(*[quantize_block(b, None, None) for b in blocks])
    for layer in unit.modules():
        if isinstance(layer, QuantLayer):
            w, b = layer.weight, layer.bias
            del layer.weight, layer.bias
            layer.weight, layer.bias = nn.Parameter(w), nn.Parameter(b)
    return unit


def synthetic_units() -> dict[str, tuple[list[nn.Module], torch.Tensor]]:
    torch.manual_seed(0)
    ir = lambda: _randomise(InvertedResidual(32, 32, 1, 6))  # noqa: E731
    x32, x64 = torch.randn(CACHE, 32, 14, 14).relu(), torch.randn(CACHE, 64, 14, 14).relu()
    return {
        "InvertedResidual 32->192->32 @14x14": ([ir()], x32),
        "BasicBlock 64 @14x14": ([_randomise(BasicBlock(64, 64))], x64),
        "merged pair (2 x InvertedResidual) @14x14": ([ir(), ir()], x32),
    }


def mini_units() -> dict[str, tuple[list[nn.Module], torch.Tensor]]:
    """Blocks of the trained mini models with their float inputs on real calibration images."""
    calib = data.calibration_set(data.fashion_mnist("train"), CACHE, seed=0)
    wanted = {
        "mobilenetv2_x0.5": {
            "MobileNetV2 x0.5 features.6 (16->96->16) @4x4": ["features.6"],
            "MobileNetV2 x0.5 features.9 (32->192->32) @2x2": ["features.9"],
            "MobileNetV2 x0.5 features.16 (80->480->80) @1x1": ["features.16"],
            "MobileNetV2 x0.5 merged pair features.6+7 @4x4": ["features.6", "features.7"],
        },
        "resnet18": {"ResNet-18 (width 32) layer4.1 @1x1": ["layer4.1"]},
    }
    units = {}
    for name, picks in wanted.items():
        model = models.load(name, "mini")
        chain = build_chain(model)
        children = dict(model.features.named_children()) if name.startswith("mobilenet") else None
        x, inputs = calib, {}
        with torch.no_grad():
            for n, element in zip(chain.names, chain.elements):
                inputs[n] = x
                x = element(x)
        for label, names in picks.items():
            if children is not None:
                blocks = [children[n.split(".")[1]] for n in names]
            else:
                stage, idx = names[0].split(".")
                blocks = [getattr(model, stage)[int(idx)]]
            units[label] = (blocks, inputs[names[0]])
    return units


def time_fp32(unit: nn.Module, x: torch.Tensor, target: torch.Tensor, steps: int) -> float:
    unit.train()
    with flush_denormal():
        for i in range(steps + 3):
            if i == 3:
                start = time.perf_counter()
            unit.zero_grad(set_to_none=True)
            recon_loss(unit(x), target).backward()
    return (time.perf_counter() - start) / steps


def make_recon(blocks: list[nn.Module], cache: torch.Tensor, target: torch.Tensor, bits: tuple[int, int], batch: int):
    unit = nn.Sequential(*[quantize_block(b, *bits) for b in blocks])
    for aq in unit.modules():
        if hasattr(aq, "observe"):
            aq.observe = True
    with torch.no_grad():
        unit.eval()(cache[:256])
    kwargs = dict(loss=recon_loss, batch_size=batch, keep_prob=1.0, w_lr=1e-2, a_lr=4e-5, round_lambda=0.1, warmup=0.2,
                  device="cpu", generator=torch.Generator().manual_seed(0), trace_every=10**9)

    def run(steps: int) -> float:
        start = time.perf_counter()
        # looked up at call time, so that old_step() can swap it; re-initialises AdaRound each call
        mrecg.recon.loop.reconstruct(unit, cache, cache, target, iters=steps, **kwargs)
        return (time.perf_counter() - start) / steps

    return run


def spread(values: list[float], scale: float = 1e3) -> str:
    return f"{statistics.median(values) * scale:.2f} ({min(values) * scale:.2f}-{max(values) * scale:.2f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1, help="1: what each run of a study uses")
    parser.add_argument("--bits", default="2/4")
    parser.add_argument("--only", default="", help="run only the units whose label contains this")
    parser.add_argument("--no-old", action="store_true", help="skip the old step (faster)")
    parser.add_argument("--no-synthetic", action="store_true", help="skip the 14x14 units")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    bits = tuple(int(b) for b in args.bits.split("/"))
    units = ({} if args.no_synthetic else synthetic_units()) | mini_units()
    print(f"# {platform.processor() or platform.machine()}, torch {torch.__version__}, {args.threads} thread(s), "
          f"batch {args.batch}, {args.steps} steps x {args.repeats} repeats interleaved, W{bits[0]}A{bits[1]}; "
          "times in ms/step: median (min-max)", flush=True)
    for name, (blocks, cache) in units.items():
        if args.only not in name:
            continue
        with torch.no_grad(), flush_denormal():
            target = nn.Sequential(*blocks)(cache)
        fp_unit = float_unit(blocks)
        new = make_recon(blocks, cache, target, bits, args.batch)
        old = None if args.no_old else make_recon(blocks, cache, target, bits, args.batch)
        new(3)  # warm-up
        if old:
            with old_step():
                old(3)
        fp, nw, od = [], [], []
        for _ in range(args.repeats):
            fp.append(time_fp32(fp_unit, cache[: args.batch], target[: args.batch], args.steps))
            nw.append(new(args.steps))
            if old:
                with old_step():
                    od.append(old(args.steps))
        ratios = [n / f for n, f in zip(nw, fp)]
        old_part = f", old step {spread(od)}, new/old {statistics.median(n / o for n, o in zip(nw, od)):.2f}" if od else ""
        print(f"{name}: fp32 fwd+bwd {spread(fp)}, recon step {spread(nw)}{old_part}, "
              f"ratio range {min(ratios):.2f}-{max(ratios):.2f}, ratio {statistics.median(ratios):.2f}", flush=True)


if __name__ == "__main__":
    main()
