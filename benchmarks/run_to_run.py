"""Run-to-run variation: the same configurations and seeds on this machine at several thread
counts, recomputed from scratch (no cache), rows appended to ``results/<preset>/noise.json``.

How far a reader's rerun may land (:mod:`mrecg.study.noise`) is the largest top-1 range of one
configuration over the rows with the same code fingerprint. Run it on every machine that computes
records (each appends its rows; ``--merge FILE`` adds rows brought from another machine).

    python benchmarks/run_to_run.py [--preset mini] [--threads 1 2] [--jobs N]
    python benchmarks/run_to_run.py --merge other_machine_rows.json
    python benchmarks/run_to_run.py --records KEY ... [--threads 1]

``--records`` takes stored records of the grid (computed elsewhere: another CPU, a GPU) and
recomputes their specs here, so that each gives two rows of one configuration and code: the
stored record's machine and this one.
"""

from __future__ import annotations

import argparse
import json
import os
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

from mrecg.study import noise, paths
from mrecg.study.records import compute_record, read_record, record_path
from mrecg.study.runs import RunSpec
from mrecg.study.storage import save_json

# Table 1 cells of the mini grid: the two models and a cell with room
CONFIGS = (
    dict(model="mobilenetv2_x0.5", method="brecq", w_bits=4, a_bits=4, seed=0),
    dict(model="mobilenetv2_x0.5", method="brecq", w_bits=2, a_bits=4, seed=0),
    dict(model="resnet18", method="brecq", w_bits=2, a_bits=4, seed=0),
)


def row(spec: RunSpec, record: dict, note: str) -> dict:
    """One measurement: what ran (the configuration's key and fields) and where (from the record)."""
    fields = {k: record["config"][k] for k in ("method", "w_bits", "a_bits", "seed")}
    return {"key": spec.key(), "model": spec.model, **fields, **{k: record["machine"][k] for k in ("cpu", "threads", "torch")},
            "device": record["machine"].get("device", "cpu"), "note": note, "top1": record["top1"],
            "unit_losses": [round(u["loss"], 6) for u in record["units"]],
            "fingerprint": record["code"]["fingerprint"], "seconds": record["seconds"]}


def measure(spec: RunSpec, threads: int) -> dict:
    import torch

    torch.set_num_threads(threads)
    return row(spec, compute_record(spec.with_(device="cpu"), progress=False), "recomputed by benchmarks/run_to_run.py")


def stored_rows(keys: list[str], preset: str) -> tuple[list[RunSpec], list[dict]]:
    """The specs of stored records and a row for each, as its machine computed it."""
    specs, rows = [], []
    for key in keys:
        record = read_record(paths.results_dir() / preset / f"{key}.json")
        if record is None:
            raise SystemExit(f"run_to_run: no readable record {key} in results/{preset}")
        spec = RunSpec.from_dict(record["spec"])
        assert record_path(spec, paths.results_dir()).stem == key
        specs.append(spec)
        rows.append(row(spec, record, "the stored record of the grid"))
    return specs, rows


ABOUT = ("Run-to-run variation: the same configuration and seed on other machines, devices, thread counts and CPU "
         "kernels (benchmarks/run_to_run.py).")


def append(rows: list[dict], preset: str, results_dir: str | None = None) -> None:
    """Add rows to the preset's noise file, keeping its description and earlier rows."""
    path = paths.results_dir(results_dir) / preset / noise.FILE
    stored = json.loads(path.read_text()) if path.is_file() else {"about": ABOUT, "rows": []}
    save_json({"about": stored.get("about", ABOUT), "rows": stored["rows"] + rows}, path)
    print(noise.floor(paths.results_dir(results_dir), preset))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="mini")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--jobs", type=int, default=1, help="measurements side by side (one thread count each)")
    parser.add_argument("--merge", help="a JSON file of rows measured elsewhere, to append")
    parser.add_argument("--out", help="write the new rows here instead of appending them")
    parser.add_argument("--records", nargs="+", metavar="KEY", help="recompute these stored records here")
    args = parser.parse_args()
    if args.merge:
        append(json.loads(open(args.merge).read())["rows"], args.preset)
        return
    if args.records:
        specs, rows = stored_rows(args.records, args.preset)
    else:
        specs, rows = [RunSpec(c["model"], args.preset, **{k: v for k, v in c.items() if k != "model"}) for c in CONFIGS], []
    jobs = [(spec, t) for t in args.threads for spec in specs]
    with ProcessPoolExecutor(args.jobs, mp_context=get_context("spawn")) as pool:
        rows += list(pool.map(measure, *zip(*jobs)))
    for r in rows:
        print(f"{r['model']} {r['method']} W{r['w_bits']}A{r['a_bits']} seed {r['seed']}: {r['top1']:.2f} "
              f"({r['cpu']}, {r['device']}, {r['threads']} threads, {r['seconds']:.0f} s)", flush=True)
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        save_json({"rows": rows}, args.out)
    else:
        append(rows, args.preset)


if __name__ == "__main__":
    main()
