"""What a new setting of notebook 00's toy control costs: its runs one after another in this
process against spread over the cores (``mrecg.figures.toy.records``), both warm (the float toy
trained, the worker processes started), interleaved in one run, with the ratio.

A new setting of the control computes its block-by-block partner too when that is new, so each
timed setting is a (contrast, bits) pair not computed before, block by block and with k pairs
merged: ten runs at the mini preset. Usage:

    python benchmarks/toy_setting.py [--repeats 2] [--k 1]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

from mrecg.figures import toy as toy_figure
from mrecg.study import toy
from mrecg.study.sweeps import Study


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--k", type=int, default=1)
    args = parser.parse_args()
    study = Study("mini")
    # (contrast, bits) pairs no sweep computes: each timed setting is new to both variants
    fresh = iter([(c, b) for b in (3, 4, 5) for c in (1, 2, 3) if b + c <= toy.MAX_BITS])
    times: dict[str, list[float]] = {"one after another": [], "spread over the cores": []}
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        toy_figure.records(study, folder, [toy.Setting(1, 2, 0)], spread=True)  # starts and trains the workers
        print(f"warm-up, spread (starting {os.cpu_count()} workers, each training the toy): "
              f"{time.perf_counter() - start:.1f} s")
        toy.trained_model(None)  # and here (the cache key toy.run uses), as a live kernel has
        for rep in range(args.repeats):
            order = list(times) if rep % 2 == 0 else list(reversed(times))
            for variant in order:
                c, b = next(fresh)
                chosen = [toy.Setting(c, b, 0), toy.Setting(c, b, args.k)]
                start = time.perf_counter()
                toy_figure.records(study, folder, chosen, spread=variant == "spread over the cores")
                times[variant].append(time.perf_counter() - start)
                print(f"{variant}: contrast {c}, bits {b}, k 0 and {args.k}: {times[variant][-1]:.1f} s")
    mean = {v: sum(t) / len(t) for v, t in times.items()}
    runs = 2 * len(toy.PRESETS["mini"].seeds)
    for variant, seconds in mean.items():
        print(f"{variant}: {seconds:.1f} s per new setting ({runs} runs)")
    print(f"speed-up of spreading: {mean['one after another'] / mean['spread over the cores']:.2f}x")


if __name__ == "__main__":
    main()
