"""Is today's code the code that computed the committed records? Recompute a sample here and compare.

A change that must not move any number (a module moved, bookkeeping split off, a fact stated once
instead of twice) still changes the code fingerprint whenever a computing line changes. Before
:data:`mrecg.study.fingerprint.EQUIVALENT` may map the old stamps to the new fingerprint, a sample
of committed records is recomputed from scratch on the machine type that computed them (same CPU
model, torch, device, one thread) and compared number for number: top-1, float top-1, scheme,
ModCap values, every unit's losses and loss trace, every block's error. Only wall times may differ.

    python benchmarks/equivalence_check.py KEY [KEY ...] [--workers 2]

writes ``benchmarks/results/equivalence/<fingerprint>.json`` (the keys, their stamps, whether each
is bit-identical, the machine) and prints one line per record. A key whose record was computed on
another machine type is refused before anything runs.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import torch

from mrecg.config import IN_KEY_WHEN_NOT
from mrecg.study import paths
from mrecg.study.fingerprint import code_fingerprint
from mrecg.study.records import compute_record, cpu_model, read_record
from mrecg.study.runs import RunSpec
from mrecg.study.storage import save_json

OUT = Path(__file__).resolve().parent / "results" / "equivalence"
NUMBERS = ("key", "spec", "config", "top1", "fp_top1", "scheme", "scheme_source", "modcap", "errors")


def comparable(record: dict) -> dict:
    """Everything a record says about its numbers (wall times, code and machine left out; a field
    added to the configuration since, at the value that computes what the record computed, too)."""
    units = [{k: v for k, v in u.items() if k != "seconds"} for u in record["units"]]
    config = {k: v for k, v in record["config"].items() if IN_KEY_WHEN_NOT.get(k, object()) != v}
    return {**{k: record[k] for k in NUMBERS}, "config": config, "units": units}


def differences(a: dict, b: dict, where: str = "") -> list[str]:
    """Paths at which two JSON values differ (exact equality, floats included)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return [d for k in sorted(set(a) | set(b)) for d in differences(a.get(k), b.get(k), f"{where}.{k}")]
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in differences(x, y, f"{where}[{i}]")]
    return [] if a == b else [where or "."]


def this_machine() -> dict:
    return {"cpu": cpu_model(), "torch": torch.__version__, "device": "cpu", "threads": 1,
            "platform": platform.platform()}


def same_machine_type(machine: dict) -> bool:
    here = this_machine()
    return all(machine.get(k) == here[k] for k in ("cpu", "torch", "device", "threads"))


def recompute(path: str) -> dict:
    torch.set_num_threads(1)
    stored = read_record(Path(path))
    spec = RunSpec.from_dict(stored["spec"])
    start = time.perf_counter()
    fresh = compute_record(spec, progress=False, results_dir=Path(path).parent.parent)
    diff = differences(comparable(stored), comparable(fresh))
    return {"key": stored["key"], "stamp": stored["code"]["fingerprint"], "model": spec.model,
            "method": stored["config"]["method"], "bits": f"{stored['config']['w_bits']}/{stored['config']['a_bits']}",
            "seed": stored["config"]["seed"], "top1": stored["top1"], "identical": not diff,
            "differences": diff[:10], "seconds": round(time.perf_counter() - start, 1)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("keys", nargs="+", help="keys of committed records (file names in results/<preset>/)")
    parser.add_argument("--preset", default="mini")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    folder = paths.results_dir() / args.preset
    records = {k: read_record(folder / f"{k}.json") for k in args.keys}
    for key, record in records.items():
        if record is None:
            sys.exit(f"equivalence_check: no readable record {key} in {folder}")
        if not same_machine_type(record["machine"]):
            sys.exit(f"equivalence_check: {key} was computed on {record['machine']}, not this machine type "
                     f"{this_machine()}: recompute it where it was computed")
    with ProcessPoolExecutor(args.workers, mp_context=get_context("spawn")) as pool:
        rows = list(pool.map(recompute, [str(folder / f"{k}.json") for k in args.keys]))
    for r in rows:
        print(f"{r['key']} {r['stamp']} {r['model']:<18} {r['method']:<12} W{r['bits']} seed {r['seed']} "
              f"top-1 {r['top1']:6.2f}: {'bit-identical' if r['identical'] else 'DIFFERS at ' + ', '.join(r['differences'])}"
              f" ({r['seconds']:.0f} s)")
    report = {"fingerprint": code_fingerprint(), "machine": this_machine(), "date": time.strftime("%Y-%m-%d"),
              "all_identical": all(r["identical"] for r in rows), "records": rows}
    save_json(report, OUT / f"{report['fingerprint']}.json")
    print(f"{sum(r['identical'] for r in rows)}/{len(rows)} bit-identical under fingerprint {report['fingerprint']}; "
          f"report: {OUT / (report['fingerprint'] + '.json')}")
    return 0 if report["all_identical"] else 1


if __name__ == "__main__":
    sys.exit(main())
