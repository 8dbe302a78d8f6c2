"""Does the range setup change MRECG's paired gains? Issue #22's default decision, measured.

    python benchmarks/act_init_gains.py [--act-init ours qdrop mqbench] [--seeds 0 1 2] [--estimate]

Per Table 1 cell (MobileNetV2 x0.5 at W2A2 and W3A3, ResNet-18 at W2A2; mini preset), per
baseline (BRECQ, QDrop) and per ``act_init``: MRECG minus its baseline per seed, with the 95 %
interval. ``act_init=ours`` runs are the committed records of ``results/mini`` (same keys), read,
never rewritten; the other setups are computed into ``--records`` (default
``benchmarks/results/act_init_gains/``) as ordinary records, one process, one thread, so an
interrupted computation resumes where it stopped. ``--estimate`` prints the expected compute time
from the committed records' seconds (the same runs with ``act_init=ours``) and exits.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from mrecg.study.records import read_record, record_path, run, stored  # noqa: E402
from mrecg.study.runs import RunSpec  # noqa: E402
from mrecg.study.stats import paired  # noqa: E402

CELLS = (("mobilenetv2_x0.5", 2, 2), ("mobilenetv2_x0.5", 3, 3), ("resnet18", 2, 2))
PAIRS = (("mrecg+brecq", "brecq"), ("mrecg+qdrop", "qdrop"))
COMMITTED = REPO / "results"
DEFAULT_RECORDS = REPO / "benchmarks" / "results" / "act_init_gains"


def spec(model: str, method: str, w: int, a: int, seed: int, act_init: str) -> RunSpec:
    return RunSpec(model, "mini", method=method, w_bits=w, a_bits=a, seed=seed, act_init=act_init)


def record(s: RunSpec, records: Path) -> dict:
    """The committed record when there is one (act_init=ours), else ours in ``records`` (computed if missing)."""
    if stored(s, COMMITTED):
        return read_record(record_path(s, COMMITTED))
    return run(s, records, progress=False)


def estimate(act_inits: list[str], seeds: list[int]) -> float:
    """Seconds the missing runs should take, from the committed act_init=ours records."""
    total = 0.0
    for model, w, a in CELLS:
        for pair in PAIRS:
            for method in pair:
                for seed in seeds:
                    base = read_record(record_path(spec(model, method, w, a, seed, "ours"), COMMITTED))
                    total += base["seconds"] * sum(ai != "ours" for ai in act_inits)
    return total


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--act-init", nargs="+", default=["ours", "qdrop", "mqbench"], choices=("ours", "qdrop", "mqbench"))
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--records", type=Path, default=DEFAULT_RECORDS)
    p.add_argument("--estimate", action="store_true")
    args = p.parse_args(argv)
    if args.estimate:
        print(f"about {estimate(args.act_init, args.seeds) / 3600:.1f} h of compute at the committed records' speed")
        return 0
    torch.set_num_threads(1)
    print("| model | W/A | MRECG vs | act_init | gain (pt, mean of seeds) | 95 % interval |")
    print("|---|---|---|---|---|---|")
    for model, w, a in CELLS:
        for mrecg, baseline in PAIRS:
            for act_init in args.act_init:
                tops = {m: [record(spec(model, m, w, a, s, act_init), args.records)["top1"] for s in args.seeds]
                        for m in (mrecg, baseline)}
                d = paired(tops[mrecg], tops[baseline])
                print(f"| {model} | W{w}A{a} | {baseline} | {act_init} | {d.mean:+.2f} | [{d.lo:+.2f}, {d.hi:+.2f}] |",
                      flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
