"""Does the size of the activation-range initialisation set matter? (docs/quantization.md, "How the quantization works here")

Every run of the grid initialises its activation ranges by the L2.4 search on the first
``init_size`` = 256 calibration images, the same for every method. The released MRECG
(``ptq_main.py`` on MQBench) calibrates its observers on all 4096 calibration images. This
script takes stored grid records, runs each with a larger ``init_size`` (default: the run's whole
calibration set) and pairs the two by seed; the summary gives the paired difference with its 95 %
interval against the noise floor.

The base of a pair (the grid's ``init_size``) is the stored record when it was computed on the
device type this script runs on, else it is computed here too, so that a pair never measures a
device difference. ``--seeds`` runs the stored records' configurations at other seeds (both sides
computed here): W2A2's paired differences spread widely, and a lent GPU computes a run in about a
minute.

    python benchmarks/init_size_check.py KEY ... [--seeds 3 4 5] [--device cuda] [--init-size N]
                                         [--results-dir results] [--out benchmarks/results/init_size_check.jsonl]

Rows are appended to ``--out`` as each pair finishes (an interrupted call loses only the pair in
flight, and a rerun skips the pairs present); the summary uses every row computed by the current
code.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

import torch

from mrecg.study import noise, paths, stats
from mrecg.study.fingerprint import code_fingerprint, computed_by
from mrecg.study.records import compute_record, is_stale, read_record, record_path
from mrecg.study.runs import RunSpec

OUT = Path(__file__).resolve().parent / "results" / "init_size_check.jsonl"


def stored_spec(key: str, preset: str, results: Path) -> RunSpec:
    """The spec of a stored grid record (one-line exit if there is none)."""
    record = read_record(results / preset / f"{key}.json")
    if record is None:
        raise SystemExit(f"init_size_check: no readable record {key} in {results / preset}")
    return RunSpec.from_dict(record["spec"])


def base_record(spec: RunSpec, device: str, results: Path) -> tuple[dict, str]:
    """The run at the grid's initialisation: stored if computed on this device type, else computed."""
    record = read_record(record_path(spec, results))
    if record is not None and record["machine"].get("device", "cpu").startswith("cpu") == device.startswith("cpu") \
            and not is_stale(record):
        return record, "the stored record"
    return compute_record(spec.with_(device=device), progress=False), "computed here"


def pair(spec: RunSpec, size: int, device: str, results: Path) -> dict:
    """One seed's pair: the run at the grid's initialisation and at ``size`` images, on ``device``."""
    base, source = base_record(spec, device, results)
    new = compute_record(spec.with_(init_size=size, device=device), progress=False)
    cfg = base["config"]
    return {"key": spec.key(), "model": spec.model, "method": cfg["method"], "bits": f"W{cfg['w_bits']}A{cfg['a_bits']}",
            "seed": cfg["seed"], "init_size_base": cfg["init_size"], "init_size": size, "top1_base": base["top1"],
            "top1": new["top1"], "base": source, "device": new["machine"]["device"], "fingerprint": code_fingerprint(),
            "fingerprint_base": base["code"]["fingerprint"], "machine": new["machine"], "seconds": new["seconds"]}


def summary(rows: list[dict], floor: float) -> list[str]:
    """One line per configuration and device: the paired difference (larger init set minus the grid's)."""
    groups: dict[tuple, dict[int, dict]] = defaultdict(dict)
    for r in rows:
        if computed_by(r["fingerprint"]) == computed_by(r["fingerprint_base"]) == code_fingerprint():
            groups[(r["model"], r["method"], r["bits"], r["init_size_base"], r["init_size"], r["device"])][r["seed"]] = r
    lines = []
    for (model, method, bits, before, after, device), by_seed in sorted(groups.items()):
        seeds = sorted(by_seed)
        diff = stats.paired([by_seed[s]["top1"] for s in seeds], [by_seed[s]["top1_base"] for s in seeds])
        if diff.n >= 2 and -floor <= diff.lo and diff.hi <= floor:
            word = "no effect beyond the noise"
        elif diff.n >= 2 and (diff.lo > floor or diff.hi < -floor):
            word = "an effect beyond the noise"
        else:
            word = "undecided"
        lines.append(f"{model} {method} {bits} ({device}), ranges from {after} vs {before} images: {diff}; "
                     f"noise floor {floor:.2f} pt: {word} (seeds {', '.join(map(str, seeds))})")
    return lines


def read_rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.is_file() else []


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("keys", nargs="*", metavar="KEY", help="stored records of the grid")
    parser.add_argument("--seeds", type=int, nargs="+", help="run the records' configurations at these seeds instead")
    parser.add_argument("--device", default="cpu", help="cpu or cuda[:N]")
    parser.add_argument("--preset", default="mini")
    parser.add_argument("--init-size", type=int, help="default: the run's calibration set size")
    parser.add_argument("--results-dir", type=Path, default=None, help="default: results/ of the repository")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    results = paths.results_dir(args.results_dir)
    specs = [stored_spec(key, args.preset, results) for key in args.keys]  # every key checked before any work
    if args.seeds:
        specs = list({s.key(): s for s in (spec.with_(seed=seed) for spec in specs for seed in args.seeds)}.values())
    if args.device == "cpu":
        torch.set_num_threads(1)  # as every run of the grid
    done = {(r["key"], r["init_size"], r["device"].startswith("cpu"), computed_by(r["fingerprint"]))
            for r in read_rows(args.out)}
    for spec in specs:
        size = args.init_size or spec.config().calib_size
        if (spec.key(), size, args.device.startswith("cpu"), code_fingerprint()) in done:
            continue
        row = pair(spec, size, args.device, results)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        with args.out.open("a") as f:
            f.write(json.dumps(row) + "\n")
        print(f"{row['model']} {row['method']} {row['bits']} seed {row['seed']}: {row['top1_base']:.2f} "
              f"(init {row['init_size_base']}, {row['base']}) -> {row['top1']:.2f} (init {row['init_size']}), "
              f"{row['device']}, {row['seconds']:.0f} s", flush=True)
    print("\n".join(summary(read_rows(args.out), noise.floor(results, args.preset).points)))


if __name__ == "__main__":
    main()
