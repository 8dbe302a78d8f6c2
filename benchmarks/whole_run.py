"""One whole mini run with the old reconstruction step and with the new one, in one process.

The run is what the study does for one record: ``mrecg.recon.ptq.quantize`` with
``PTQConfig.preset_config("mini", method=..., w_bits=..., a_bits=...)`` on the trained mini
model and its calibration images, then top-1 on the Fashion-MNIST test set. The old step is the
one of commit 6584a2a (``benchmarks/_old_step.py``, patched in for its turns). Turns alternate
(new, old, new, old, ...) so that a change of machine load hits both; prints each turn's
quantization and evaluation wall time and top-1, and the ratio of the medians of quantization
wall times (new / old).

    python benchmarks/whole_run.py [--model mobilenetv2_x0.5] [--method brecq] [--bits 2/4]
                                   [--iters 1000] [--repeats 1] [--threads 1]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _old_step import old_step  # noqa: E402

from mrecg import PTQConfig, data, evaluate, models, quantize  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="mobilenetv2_x0.5")
    parser.add_argument("--method", default="brecq")
    parser.add_argument("--bits", default="2/4")
    parser.add_argument("--iters", type=int, default=None, help="iterations per unit (default: the mini preset's)")
    parser.add_argument("--repeats", type=int, default=1, help="turns per variant")
    parser.add_argument("--threads", type=int, default=1, help="1: what each run of a study uses")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    w_bits, a_bits = (int(b) for b in args.bits.split("/"))
    overrides = {"iters": args.iters} if args.iters else {}
    cfg = PTQConfig.preset_config("mini", model=args.model, method=args.method, w_bits=w_bits, a_bits=a_bits, **overrides)
    model = models.load(args.model, "mini")
    calib = data.calibration_set(data.fashion_mnist("train"), cfg.calib_size + cfg.holdout_size, cfg.seed)
    loader = data.TensorLoader(data.fashion_mnist("test"), batch_size=500)
    print(f"# {platform.machine()}, torch {torch.__version__}, {args.threads} thread(s): {args.model} {args.method} "
          f"W{w_bits}A{a_bits}, mini preset, {cfg.iters} iterations per unit, batch {cfg.batch_size}", flush=True)
    times: dict[str, list[float]] = {"new": [], "old": []}
    for turn in range(args.repeats):
        for variant in ("new", "old"):
            start = time.perf_counter()
            if variant == "old":
                with old_step():
                    qmodel, report = quantize(model, calib, cfg, progress=False)
                    mid = time.perf_counter()
                    top1 = evaluate(qmodel, loader)
            else:
                qmodel, report = quantize(model, calib, cfg, progress=False)
                mid = time.perf_counter()
                top1 = evaluate(qmodel, loader)
            end = time.perf_counter()
            times[variant].append(mid - start)
            print(f"turn {turn} {variant} step: quantize {mid - start:.1f} s, evaluate {end - mid:.1f} s, "
                  f"top-1 {top1:.2f} %", flush=True)
    new, old = statistics.median(times["new"]), statistics.median(times["old"])
    print(f"quantize wall time: new {new:.1f} s, old {old:.1f} s, ratio {new / old:.2f}", flush=True)


if __name__ == "__main__":
    main()
