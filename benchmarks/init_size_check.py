"""Does the size of the activation-range initialisation set matter? (README, "What is ours")

Every run of the grid initialises its activation ranges by the L2.4 search on the first
``init_size`` = 256 calibration images, the same for every method. The released MRECG
(``ptq_main.py`` on MQBench) calibrates its observers on all 4096 calibration images. This
script recomputes stored grid records here with a larger ``init_size`` (default: the run's whole
calibration set) and prints, per seed, both top-1 values and the paired difference with its 95 %
interval against the noise floor. Records computed on another device are not paired with runs
here (the device difference would be measured, not the initialisation); ResNet-18's lent-CPU
records match this CPU exactly (``results/mini/noise.json``).

    python benchmarks/init_size_check.py KEY ... [--init-size N] [--out benchmarks/results/init_size_check.jsonl]

Rows are appended to ``--out``, one JSON object per recomputed record, and the summary is
computed from every row of that file with the current code fingerprint.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

import torch

from mrecg import noise, paths, stats
from mrecg.experiments import RunSpec, code_fingerprint, compute, read_record

OUT = Path(__file__).resolve().parent / "results" / "init_size_check.jsonl"


def stored(key: str, preset: str, init_size: int | None) -> tuple[dict, RunSpec, int]:
    """A stored CPU record of the grid, its spec, and the initialisation set size to compare with."""
    record = read_record(paths.results_dir() / preset / f"{key}.json")
    if record is None:
        raise SystemExit(f"init_size_check: no readable record {key} in results/{preset}")
    if record["machine"].get("device", "cpu") != "cpu":
        raise SystemExit(f"init_size_check: {key} was computed on {record['machine']['device']}; pair CPU records only")
    spec = RunSpec.from_dict(record["spec"])
    return record, spec, init_size or spec.config().calib_size


def recompute(record: dict, spec: RunSpec, size: int) -> dict:
    """The stored run recomputed here with ``size`` initialisation images; the row of both."""
    torch.set_num_threads(1)
    new = compute(spec.with_(init_size=size, device="cpu"), progress=False)
    cfg = record["config"]
    return {"key": record["key"], "model": spec.model, "method": cfg["method"], "bits": f"W{cfg['w_bits']}A{cfg['a_bits']}",
            "seed": cfg["seed"], "init_size_stored": cfg["init_size"], "init_size": size,
            "top1_stored": record["top1"], "top1": new["top1"], "fingerprint": code_fingerprint(),
            "fingerprint_stored": record["code"]["fingerprint"], "machine": new["machine"], "seconds": new["seconds"]}


def summary(rows: list[dict], floor: float) -> list[str]:
    """One line per configuration: the paired difference (larger init set minus the grid's)."""
    groups: dict[tuple, dict[int, dict]] = defaultdict(dict)
    for r in rows:
        if r["fingerprint"] == r["fingerprint_stored"] == code_fingerprint():
            groups[(r["model"], r["method"], r["bits"], r["init_size_stored"], r["init_size"])][r["seed"]] = r
    lines = []
    for (model, method, bits, before, after), by_seed in sorted(groups.items()):
        seeds = sorted(by_seed)
        diff = stats.paired([by_seed[s]["top1"] for s in seeds], [by_seed[s]["top1_stored"] for s in seeds])
        inside = diff.n >= 2 and -floor <= diff.lo and diff.hi <= floor
        word = "no effect beyond the noise" if inside else ("an effect" if diff.n >= 2 and (diff.lo > floor or diff.hi < -floor)
                                                            else "undecided")
        lines.append(f"{model} {method} {bits}, init on {after} vs {before} images: {diff}; noise floor "
                     f"{floor:.2f} pt: {word} (seeds {seeds})")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("keys", nargs="*", metavar="KEY", help="stored records of the grid to recompute")
    parser.add_argument("--preset", default="mini")
    parser.add_argument("--init-size", type=int, help="default: the run's calibration set size")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    done = {(r["key"], r["init_size"], r["fingerprint"]) for r in read_rows(args.out)}
    todo = [stored(key, args.preset, args.init_size) for key in args.keys]  # every key checked before any work
    for record, spec, size in todo:
        if (record["key"], size, code_fingerprint()) not in done:
            row = recompute(record, spec, size)
            args.out.parent.mkdir(parents=True, exist_ok=True)
            with args.out.open("a") as f:
                f.write(json.dumps(row) + "\n")
            print(f"{row['model']} {row['method']} {row['bits']} seed {row['seed']}: {row['top1_stored']:.2f} "
                  f"(init {row['init_size_stored']}) -> {row['top1']:.2f} (init {row['init_size']}), {row['seconds']:.0f} s",
                  flush=True)
    floor = noise.floor(paths.results_dir(), args.preset).points
    print("\n".join(summary(read_rows(args.out), floor)))


def read_rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.is_file() else []


if __name__ == "__main__":
    main()
