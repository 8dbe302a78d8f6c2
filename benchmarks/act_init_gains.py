"""Does the range setup change MRECG's paired gains? Issue #22's default decision, measured.

    python benchmarks/act_init_gains.py [--act-init ours qdrop mqbench] [--baselines brecq qdrop]
        [--cells mobilenetv2_x0.5:2/2 ...] [--seeds 0 1 2] [--estimate | --table]

Per Table 1 cell (MobileNetV2 x0.5 at W2A2 and W3A3, ResNet-18 at W2A2; mini preset), per
baseline (BRECQ, QDrop) and per ``act_init``: MRECG minus its baseline per seed, with the 95 %
interval, and how the gain moves from ``act_init=ours`` to each other setup (per seed, with its
interval). Every number compared is computed on this machine type (CPU model, threads, device):
``act_init=ours`` runs are the committed records of ``results/mini`` (same keys) where those ran on
this machine type, read, never rewritten; everything else is computed into ``--records`` (default
``benchmarks/results/act_init_gains/``) as ordinary records, one process, one thread, so an
interrupted computation resumes where it stopped, and two processes given different ``--cells``
share the work. ``--estimate`` prints the expected compute time from the committed records'
seconds (the same runs with ``act_init=ours``) and exits; ``--table`` prints the stored records
only, computing nothing.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Iterator

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from mrecg.study.records import machine, read_record, record_path, run, stored  # noqa: E402
from mrecg.study.runs import RunSpec  # noqa: E402
from mrecg.study.stats import machine_of, paired  # noqa: E402

CELLS = (("mobilenetv2_x0.5", 2, 2), ("mobilenetv2_x0.5", 3, 3), ("resnet18", 2, 2))
PAIRS = (("mrecg+brecq", "brecq"), ("mrecg+qdrop", "qdrop"))
COMMITTED = REPO / "results"
DEFAULT_RECORDS = REPO / "benchmarks" / "results" / "act_init_gains"


def spec(model: str, method: str, w: int, a: int, seed: int, act_init: str) -> RunSpec:
    return RunSpec(model, "mini", method=method, w_bits=w, a_bits=a, seed=seed, act_init=act_init)


def here() -> tuple[str, int, str]:
    """This process's machine type, as pairs compare it (the runs here take one thread)."""
    return machine_of({"machine": dict(machine("cpu"), threads=1)})


def needs_computing(s: RunSpec, records: Path) -> bool:
    """Whether ``s`` is to compute here: not in ``records``, and not committed from this machine type."""
    if stored(s, records):
        return False
    return not stored(s, COMMITTED) or machine_of(read_record(record_path(s, COMMITTED))) != here()


def record(s: RunSpec, records: Path, compute: bool = True) -> dict | None:
    """Computing: the committed record when it ran on this machine type, else the one in
    ``records``, computed if missing. Reading (``compute`` false, whatever this machine is): the
    one in ``records`` (what the benchmark computed), else the committed one, else ``None``."""
    if compute and needs_computing(s, records):
        return run(s, records, progress=False)
    if compute and not stored(s, records):
        return read_record(record_path(s, COMMITTED))
    for folder in (records, COMMITTED):
        if stored(s, folder):
            return read_record(record_path(s, folder))
    return None


def estimate(act_inits: list[str], seeds: list[int], cells=CELLS, pairs=PAIRS, records: Path = DEFAULT_RECORDS) -> float:
    """Seconds the runs still to compute should take, from the committed act_init=ours records (an
    ``ours`` record from another machine type counts as one to compute)."""
    total = 0.0
    for model, w, a in cells:
        for pair in pairs:
            for method in pair:
                for seed in seeds:
                    base = read_record(record_path(spec(model, method, w, a, seed, "ours"), COMMITTED))
                    to_compute = [ai for ai in act_inits if ai != "ours" or machine_of(base) != here()]
                    total += base["seconds"] * sum(needs_computing(spec(model, method, w, a, seed, ai), records)
                                                   for ai in to_compute)
    return total


def parse_cell(text: str) -> tuple[str, int, int]:
    """``mobilenetv2_x0.5:2/2`` -> ("mobilenetv2_x0.5", 2, 2), one of :data:`CELLS`."""
    try:
        model, bits = text.split(":")
        w, a = (int(b) for b in bits.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"a cell is MODEL:W/A, e.g. resnet18:2/2, got {text!r}") from None
    if (model, w, a) not in CELLS:
        raise argparse.ArgumentTypeError(f"{text!r} is not one of {', '.join(f'{m}:{w}/{a}' for m, w, a in CELLS)}")
    return model, w, a


def rows(act_inits: list[str], seeds: list[int], cells=CELLS, pairs=PAIRS, records: Path = DEFAULT_RECORDS,
         compute: bool = False) -> Iterator[dict]:
    """Per cell, baseline and setup with every record present: the gain (MRECG minus baseline per
    seed) and its move from ``ours`` (per seed), or ``mixed`` when the runs span machine types."""
    for model, w, a in cells:
        for mrecg, baseline in pairs:
            gains, machines = {}, {}
            for act_init in act_inits:
                recs = {m: [record(spec(model, m, w, a, s, act_init), records, compute) for s in seeds]
                        for m in (mrecg, baseline)}
                if any(r is None for rs in recs.values() for r in rs):
                    continue
                row = dict(model=model, bits=f"W{w}A{a}", baseline=baseline, act_init=act_init, gain=None, move=None)
                machines[act_init] = {machine_of(r) for rs in recs.values() for r in rs}
                row["mixed"] = len(machines[act_init]) > 1
                if not row["mixed"]:
                    gains[act_init] = [x["top1"] - y["top1"] for x, y in zip(recs[mrecg], recs[baseline])]
                    row["gain"] = paired([r["top1"] for r in recs[mrecg]], [r["top1"] for r in recs[baseline]])
                    if act_init != "ours" and "ours" in gains and machines[act_init] == machines["ours"]:
                        row["move"] = paired(gains[act_init], gains["ours"])
                yield row


def table(act_inits: list[str], seeds: list[int], cells=CELLS, pairs=PAIRS, records: Path = DEFAULT_RECORDS,
          compute: bool = False) -> list[str]:
    """:func:`rows` as markdown (printed as they come when computing)."""
    lines = ["| model | W/A | MRECG vs | act_init | gain (pt, mean of seeds) | 95 % interval | "
             "minus the gain at ours | 95 % interval |", "|---|---|---|---|---|---|---|---|"]
    if compute:
        print("\n".join(lines), flush=True)
    for row in rows(act_inits, seeds, cells, pairs, records, compute):
        head = f"| {row['model']} | {row['bits']} | {row['baseline']} | {row['act_init']} |"
        if row["mixed"]:
            lines.append(f"{head} runs of two machine types | | | |")
        else:
            d, m = row["gain"], row["move"]
            move = f" {m.mean:+.2f} | [{m.lo:+.2f}, {m.hi:+.2f}]" if m else " | "
            lines.append(f"{head} {d.mean:+.2f} | [{d.lo:+.2f}, {d.hi:+.2f}] |{move} |")
        if compute:
            print(lines[-1], flush=True)
    return lines


DECISIVE = "mqbench"  # the range setup of the released MRECG code (MQBench), which made the paper's MRECG rows


def decision(found: list[dict], tables: str = "ours") -> str:
    """Issue #22's rule, worded: if the released MRECG code's setup (:data:`DECISIVE`) moves a
    paired gain beyond its 95 % interval (the move's interval excludes 0), the grid is recomputed
    with it; otherwise one shared setup stays. Other setups' moves are reported as sensitivity.
    ``tables``: the setup the tables use now (``mrecg.study.sweeps.TABLES_ACT_INIT``)."""
    def moved(r: dict) -> bool:
        return r["move"].lo > 0 or r["move"].hi < 0

    def listed(rs: list[dict]) -> str:
        return "; ".join(f"{r['model']} {r['bits']} vs {r['baseline']}: {r['move'].mean:+.2f} "
                         f"[{r['move'].lo:+.2f}, {r['move'].hi:+.2f}]" for r in rs)

    moves = [r for r in found if r["move"] is not None]
    decisive = [r for r in moves if r["act_init"] == DECISIVE]
    others = [r for r in moves if r["act_init"] != DECISIVE]
    lines = []
    cells = {(r["model"], r["bits"], r["baseline"]) for r in moves}  # where a released setup was measured
    covered = {(r["model"], r["bits"], r["baseline"]) for r in decisive}
    if beyond := [r for r in decisive if moved(r)]:  # one cell moved suffices, measured or not the rest
        lines.append(f"**Recompute.** The released MRECG code's setup (`{DECISIVE}`) moves MRECG's paired gain beyond its "
                     f"95 % interval in {len(beyond)} of {len(decisive)} cells measured ({listed(decisive)}): the tables "
                     f"are to use it for every method, recomputed" + (
                         "." if tables == DECISIVE else f" (`-p act_init {DECISIVE}`); until that grid is complete, the "
                         f"tables below still show `{tables}`."))
    elif covered != cells:
        so_far = f" so far, none beyond its interval: {listed(decisive)}" if decisive else ""
        lines.append(f"Undecided: the released MRECG code's setup (`{DECISIVE}`) is measured against ours on one machine "
                     f"type in {len(covered)} of {len(cells)} cells{so_far}.")
    else:
        lines.append(f"**Keep ours.** The released MRECG code's setup (`{DECISIVE}`) moves MRECG's paired gain beyond "
                     f"its 95 % interval in none of {len(decisive)} cells ({listed(decisive)}): the tables keep one "
                     f"shared setup, ours, for every method" + ("." if tables == "ours" else
                                                                 f" (they show `{tables}` now)."))
    for setup in dict.fromkeys(r["act_init"] for r in others):
        mine = [r for r in others if r["act_init"] == setup]
        lines.append(f"Sensitivity: the `{setup}` setup moves it beyond its interval in "
                     f"{sum(moved(r) for r in mine)} of {len(mine)} cells ({listed(mine)}).")
    return " ".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--act-init", nargs="+", default=["ours", "qdrop", "mqbench"], choices=("ours", "qdrop", "mqbench"))
    p.add_argument("--baselines", nargs="+", default=[b for _, b in PAIRS], choices=[b for _, b in PAIRS])
    p.add_argument("--cells", nargs="+", type=parse_cell, default=list(CELLS))
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--records", type=Path, default=DEFAULT_RECORDS)
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--estimate", action="store_true")
    mode.add_argument("--table", action="store_true")
    args = p.parse_args(argv)
    pairs = [pair for pair in PAIRS if pair[1] in args.baselines]
    if args.estimate:
        seconds = estimate(args.act_init, args.seeds, args.cells, pairs, args.records)
        print(f"about {seconds / 3600:.1f} h of compute at the committed records' speed")
        return 0
    torch.set_num_threads(1)
    lines = table(args.act_init, args.seeds, args.cells, pairs, args.records, compute=not args.table)
    if args.table:
        print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
