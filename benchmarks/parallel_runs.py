"""Two quantization runs after each other (all threads each) vs side by side (one thread each).

Prints the wall time of both ways and their ratio, measured in one process tree on this
machine; `mrecg.study.runner.run_specs` uses the side-by-side way on CPUs. Usage:

    python benchmarks/parallel_runs.py [--model mobilenetv2_x0.5] [--iters 200]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import torch

from mrecg.study.runner import run_specs
from mrecg.study.runs import RunSpec


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="mobilenetv2_x0.5")
    parser.add_argument("--iters", type=int, default=200)
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    specs = [RunSpec(args.model, "mini", method="brecq", w_bits=4, a_bits=4, seed=seed, iters=args.iters)
             for seed in range(cores)]
    torch.set_num_threads(cores)
    with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b:
        start = time.perf_counter()
        run_specs(specs, a, workers=1)
        sequential = time.perf_counter() - start
        start = time.perf_counter()
        run_specs(specs, b, workers=cores)
        parallel = time.perf_counter() - start
    print(f"{len(specs)} runs of {args.model}, {args.iters} iterations per unit, {cores} cores")
    print(f"after each other, {cores} threads each: {sequential:.1f} s")
    print(f"side by side, 1 thread each:          {parallel:.1f} s")
    print(f"speed-up of side by side: {sequential / parallel:.2f}x")


if __name__ == "__main__":
    main()
