"""Cost of one reconstruction step against one plain fp32 forward+backward of the same unit.

For each unit, in one run on this machine:
  * fp32: forward + backward of the BN-folded float unit (weights and biases trainable) on a
    fixed batch, with the reconstruction loss -- what training the unit would cost;
  * recon: one iteration of ``mrecg.reconstruct.reconstruct`` at W4A4 with AdaRound rounding and
    activation quantization both on (the single-stage QDrop/MRECG loop), including the batch
    draw from a 1024-image cache, the rounding regulariser and both Adam updates.
Prints one line per unit ending in ``ratio X.XX`` (recon / fp32).

    python benchmarks/recon_step.py [--steps 200] [--batch 32] [--threads 2]
"""

from __future__ import annotations

import argparse
import platform
import time

import torch
from torch import nn
from torchvision.models.mobilenetv2 import InvertedResidual
from torchvision.models.resnet import BasicBlock

from mrecg.blocks import quantize_block
from mrecg.layers import QuantLayer
from mrecg.reconstruct import flush_denormal, recon_loss, reconstruct


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


def time_fp32(unit: nn.Module, x: torch.Tensor, target: torch.Tensor, steps: int) -> float:
    unit.train()
    for i in range(steps + 10):
        if i == 10:
            start = time.perf_counter()
        unit.zero_grad(set_to_none=True)
        recon_loss(unit(x), target).backward()
    return (time.perf_counter() - start) / steps


def time_recon(blocks: list[nn.Module], cache: torch.Tensor, target: torch.Tensor, batch: int, steps: int) -> float:
    unit = nn.Sequential(*[quantize_block(b, 4, 4) for b in blocks])
    for aq in unit.modules():
        if hasattr(aq, "observe"):
            aq.observe = True
    with torch.no_grad():
        unit.eval()(cache[:256])
    kwargs = dict(batch_size=batch, keep_prob=1.0, w_lr=1e-3, a_lr=4e-5, round_lambda=0.1, warmup=0.2,
                  device="cpu", generator=torch.Generator().manual_seed(0), trace_every=10**9)
    reconstruct(unit, cache, cache, target, iters=10, **kwargs)  # warm-up
    for layer in unit.modules():
        if isinstance(layer, QuantLayer):
            layer.wq.mode = "nearest"  # start afresh: reconstruct() re-initialises AdaRound
    start = time.perf_counter()
    reconstruct(unit, cache, cache, target, iters=steps, **kwargs)
    return (time.perf_counter() - start) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    units = {
        "InvertedResidual 32->192->32 @14x14": ([_randomise(InvertedResidual(32, 32, 1, 6))], 32),
        "BasicBlock 64 @14x14": ([_randomise(BasicBlock(64, 64))], 64),
        "merged pair (2 x InvertedResidual) @14x14": ([_randomise(InvertedResidual(32, 32, 1, 6)) for _ in range(2)], 32),
    }
    print(f"# {platform.processor() or platform.machine()}, torch {torch.__version__}, {args.threads} threads, "
          f"batch {args.batch}, {args.steps} steps, W4A4")
    for name, (blocks, channels) in units.items():
        cache = torch.randn(1024, channels, 14, 14).relu()
        with torch.no_grad(), flush_denormal():
            target = nn.Sequential(*blocks)(cache)
        fp = time_fp32(float_unit(blocks), cache[: args.batch], target[: args.batch], args.steps)
        rc = time_recon(blocks, cache, target, args.batch, args.steps)
        print(f"{name}: fp32 fwd+bwd {fp * 1e3:.2f} ms, recon step {rc * 1e3:.2f} ms, ratio {rc / fp:.2f}")


if __name__ == "__main__":
    main()
