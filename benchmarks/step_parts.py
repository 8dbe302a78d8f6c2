"""The parts of the reconstruction step that were chosen by measurement, timed interleaved.

Each line compares variants of one part (A, B, C, A, B, C, ... ``--repeats`` rounds of ``--n`` calls each) and
prints the median time per call in ms with the range:
  * Adam over the rounding variables of ResNet-18 (width 32) layer4.1 (2 x 256x256x3x3) and of a small unit:
    per-tensor (torch's default on CPU), foreach, fused (what ``reconstruct`` uses);
  * the weight gradient of a depthwise 3x3 convolution, batch 32: oneDNN's against ``mrecg.quant.depthwise``'s matrix form;
  * the regulariser's ``|u|^(beta - 2)`` over 590 k elements: ``pow`` against ``exp(log)``;
  * top-1 evaluation of W2A4 mini models on the Fashion-MNIST test set with the quantized weights frozen
    (``mrecg.quant.layers.freeze``) against re-quantized every batch.

    python benchmarks/step_parts.py [--n 20] [--repeats 5] [--threads 1]
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Callable

import torch
from torch.nn import functional as F

import mrecg.evaluation
from mrecg import PTQConfig, data, models, quantize
from mrecg.quant.depthwise import depthwise_conv2d


def race(variants: dict[str, Callable[[], object]], n: int, repeats: int) -> str:
    times: dict[str, list[float]] = {k: [] for k in variants}
    for f in variants.values():
        f()
    for _ in range(repeats):
        for name, f in variants.items():
            start = time.perf_counter()
            for _ in range(n):
                f()
            times[name].append((time.perf_counter() - start) / n * 1e3)
    return ", ".join(f"{k} {statistics.median(v):.3f} ({min(v):.3f}-{max(v):.3f}) ms" for k, v in times.items())


def adam(shapes: list[tuple[int, ...]], **kind) -> Callable[[], None]:
    params = [torch.zeros(s, requires_grad=True) for s in shapes]
    for p in params:
        p.grad = torch.randn_like(p)
    opt = torch.optim.Adam(params, lr=1e-3, **kind)
    return opt.step


def depthwise_grad(channels: int, size: int, stride: int, matrix: bool) -> Callable[[], object]:
    x = torch.randn(32, channels, size, size)
    w = torch.randn(channels, 1, 3, 3, requires_grad=True)
    conv = depthwise_conv2d if matrix else (lambda x, w, b, s, p: F.conv2d(x, w, b, s, p, 1, channels))
    g = torch.randn_like(F.conv2d(x, w, None, stride, 1, 1, channels))
    return lambda: torch.autograd.grad(conv(x, w, None, stride, 1), w, g)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)
    big, small = [(256, 256, 3, 3)] * 2, [(96, 16, 1, 1), (96, 1, 3, 3), (16, 96, 1, 1)]
    for label, shapes in (("layer4.1, 1.18 M", big), ("InvertedResidual 16->96->16, 3.4 k", small)):
        kinds = {"per-tensor": dict(foreach=False), "foreach": dict(foreach=True), "fused": dict(fused=True)}
        print(f"Adam step, {label} parameters: " + race({k: adam(shapes, **v) for k, v in kinds.items()}, args.n, args.repeats), flush=True)
    for channels, size, stride in ((192, 2, 1), (480, 1, 1), (96, 4, 1), (96, 8, 2), (96, 8, 1)):
        variants = {"oneDNN": depthwise_grad(channels, size, stride, False), "matrix": depthwise_grad(channels, size, stride, True)}
        print(f"depthwise weight gradient, {channels} channels, {size}x{size}, stride {stride}: "
              + race(variants, args.n, args.repeats), flush=True)
    u = torch.rand(256 * 2304) * 2 - 1
    print("regulariser |u|^(beta-2), 590 k: " + race({
        "pow": lambda: u.abs().pow_(16.3),
        "exp(log)": lambda: u.abs().clamp_min_(1e-30).log_().mul_(16.3).exp_(),
    }, args.n, args.repeats), flush=True)
    calib = data.calibration_set(data.fashion_mnist("train"), 512, seed=0)
    loader = data.TensorLoader(data.fashion_mnist("test"), batch_size=500)
    cfg = PTQConfig.preset_config("smoke", method="nearest", w_bits=2, a_bits=4)
    freeze = mrecg.evaluation.freeze
    for name in ("resnet18", "mobilenetv2_x0.5"):
        q, _ = quantize(models.load(name, "mini"), calib, cfg, progress=False)

        def run(frozen: bool, q=q) -> float:
            for layer in q.layers():
                layer.wq.mode = layer.wq.mode  # drops a frozen weight
            mrecg.evaluation.freeze = freeze if frozen else (lambda module: 0)
            try:
                return mrecg.evaluate(q, loader)
            finally:
                mrecg.evaluation.freeze = freeze

        print(f"evaluation, {name} W2A4 (10,000 images): "
              + race({"frozen": lambda: run(True), "per batch": lambda: run(False)}, 1, args.repeats), flush=True)


if __name__ == "__main__":
    main()
