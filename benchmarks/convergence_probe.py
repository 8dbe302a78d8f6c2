"""Is BRECQ converged? Accuracy of BRECQ against iterations per unit and the two learning rates.

Each run is one mini-preset quantization with ``w_lr`` / ``a_lr`` overridden; rows (model, bits,
iters, w_lr, a_lr, seed, device, top1, sec) are appended to a JSON-lines file as they finish, so a killed
probe keeps what it measured. This is the evidence behind the mini preset's rounding lr (see
``mrecg/config.py``); notebook 06 re-checks convergence on every mini run. Usage:

    python benchmarks/convergence_probe.py --model mobilenetv2_x0.5 --bits 2/4 --iters 1000 2000 \\
        --lr 1e-3:4e-5 1e-2:4e-5 --seeds 0 1 2 --workers 2 --out runs/convergence_probe.jsonl
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import time
from itertools import product


def run_one(job: tuple) -> dict:
    model, (w_bits, a_bits), iters, w_lr, a_lr, seed, device, out = job
    import torch

    from mrecg.study.records import compute_record
    from mrecg.study.runs import RunSpec

    torch.set_num_threads(1)
    spec = RunSpec(model, "mini", method="brecq", w_bits=w_bits, a_bits=a_bits, seed=seed, iters=iters, w_lr=w_lr,
                   a_lr=a_lr, device=device)
    start = time.perf_counter()
    record = compute_record(spec, progress=False)
    row = dict(model=model, bits=f"{w_bits}/{a_bits}", iters=iters, w_lr=w_lr, a_lr=a_lr, seed=seed, device=device,
               top1=record["top1"], sec=round(time.perf_counter() - start, 1), cpu=record["machine"]["cpu"],
               fingerprint=record["code"]["fingerprint"])
    with open(out, "a") as f:
        f.write(json.dumps(row) + "\n")
    print(row, flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", nargs="+", default=["mobilenetv2_x0.5"])
    parser.add_argument("--bits", nargs="+", default=["2/4"], help="W/A bit-widths")
    parser.add_argument("--iters", type=int, nargs="+", default=[1000, 2000])
    parser.add_argument("--lr", nargs="+", default=["1e-3:4e-5", "1e-2:4e-5"], help="W_LR:A_LR pairs")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--workers", type=int, default=2, help="processes, one thread each")
    parser.add_argument("--out", default="runs/convergence_probe.jsonl")
    args = parser.parse_args()
    lrs = [tuple(float(v) for v in pair.split(":")) for pair in args.lr]
    bits = [tuple(int(b) for b in pair.split("/")) for pair in args.bits]
    jobs = [(m, b, it, w, a, s, args.device, args.out)
            for m, b, it, (w, a), s in product(args.model, bits, sorted(args.iters, reverse=True), lrs, args.seeds)]
    with mp.get_context("spawn").Pool(args.workers) as pool:
        pool.map(run_one, jobs, chunksize=1)


if __name__ == "__main__":
    main()
