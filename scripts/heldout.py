"""Compute a stage of the preregistered held-out Table 1 cells (issue #24) on this machine, cell by cell.

    python scripts/heldout.py --stage 1 [--stop-after MINUTES] [--workers N] [--device cpu|cuda] [--cheapest-first]
                                        [--models NAME ...] [--plan]

Before any run it checks what makes a held-out record count (``tests/test_preregistration.py``
refuses the rest): the preregistration is committed, this checkout descends from it, and no code
that the records hash has uncommitted changes (a record names the commit that made it). The runs
go cell by cell, each cell's pairs on this machine, and ``--stop-after`` starts no run expected to
end later, so a call cut short leaves whole cells for the next one (the same command resumes).
``--models`` keeps the cells of those models only: two calls on disjoint models can compute side by side.
At the end it prints which cells are complete: commit each complete cell's records
(``results/mini/<key>.json``) on its own, with what they change -- the README's status
(``python scripts/readme_tables.py``) and notebook 01's held-out table and gain-vs-room figure
(``mrecg reproduce --preset mini``, which computes nothing). ``--plan`` prints the cells and the
expected hours (left, and of the whole stage) only.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from mrecg.figures import heldout  # noqa: E402
from mrecg.study import paths, runner  # noqa: E402
from mrecg.study.fingerprint import RESOURCES, SOURCES  # noqa: E402
from mrecg.study.sweeps import Study  # noqa: E402

REGISTRATION = "results/mini/preregistration.md"


def refusal(repo: Path = REPO) -> str | None:
    """Why a held-out record computed now in ``repo`` would not count, or ``None``."""
    def git(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True)

    added = git("log", "--format=%H", "--", REGISTRATION).stdout.split()
    if not added:
        return f"{REGISTRATION} is not committed: preregister first (scripts/preregister.py)"
    if git("merge-base", "--is-ancestor", added[-1], "HEAD").returncode != 0:
        return f"this checkout does not descend from the preregistration {added[-1][:7]}"
    hashed = [f"mrecg/{s}" for s in SOURCES + RESOURCES]
    if changed := git("status", "--porcelain", "--", *hashed).stdout.strip():
        return f"the code the records hash has uncommitted changes ({changed.splitlines()[0].strip()}): commit it first"
    return None


def cell_of(spec) -> int:
    """The run's cell, in the preregistration's order (the runner computes lower groups first)."""
    cfg = spec.resolved()
    return heldout.CELLS.index((spec.model, (cfg.w_bits, cfg.a_bits)))


def cheapest_cell_first(specs) -> Callable:
    """A grouping that computes the cheapest cell first (by the runs' estimated cost), so that a
    short call completes as many whole cells as it can."""
    cost: dict[int, float] = {}
    for s in specs:
        cost[cell_of(s)] = cost.get(cell_of(s), 0.0) + runner.estimated_cost(s)
    rank = {cell: i for i, cell in enumerate(sorted(cost, key=cost.get))}
    return lambda spec: rank[cell_of(spec)]


def report(study: Study, stage: int, results: Path, repo: Path = REPO, models: list[str] | None = None) -> list[str]:
    """One line per held-out cell (of ``models``, default all): committed, complete (its records still
    to commit), or how many of its runs are stored."""
    lines = []
    for (model, w, a), (have, keys) in heldout.progress(study, stage, results).cells.items():
        if models and model not in models:
            continue
        if len(have) < len(keys):
            state = f"{len(have)} of {len(keys)} runs stored"
        elif not Path(results).resolve().is_relative_to(repo):
            state = "complete"  # a folder outside the repository: nothing to commit
        else:
            files = [str(results / "mini" / f"{k}.json") for k in keys]
            uncommitted = subprocess.run(["git", "status", "--porcelain", "--", *files], cwd=repo,
                                         capture_output=True, text=True).stdout.strip()
            state = "complete: commit its records" if uncommitted else "complete, committed"
        lines.append(f"{model} W{w}A{a}: {state}")
    return lines


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--stage", type=int, choices=sorted(heldout.STAGES), required=True)
    p.add_argument("--stop-after", type=float, metavar="MINUTES")
    p.add_argument("--workers", type=int, help="default: one process per core (one per GPU run)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--cheapest-first", action="store_true",
                   help="the cheapest cells first (default: the registered order), for a short call")
    p.add_argument("--models", nargs="+", metavar="NAME", help="only these models' cells (default: every cell)")
    p.add_argument("--plan", action="store_true", help="print the cells and the expected hours, compute nothing")
    args = p.parse_args(argv)
    known = sorted({model for model, _ in heldout.CELLS})
    if args.models and (unknown := sorted(set(args.models) - set(known))):
        p.error(f"--models {' '.join(unknown)}: not a held-out model; choose from {', '.join(known)}")
    if args.stop_after is not None and args.stop_after <= 0:
        p.error(f"--stop-after must be a positive number of minutes, got {args.stop_after:g}")
    study, results = Study("mini", device=args.device), paths.results_dir()
    if args.plan:
        left, whole = (heldout.plan_seconds(study, args.stage, left=not_all, models=args.models) / 3600
                       for not_all in (True, False))
        print("\n".join(report(study, args.stage, results, models=args.models)) +
              f"\nabout {left:.1f} single-process hours left on this CPU, of {whole:.1f} for "
              + ("these models' cells" if args.models else f"the whole stage {args.stage}"))
        return 0
    if why := refusal():
        print(f"heldout: error: {why}", file=sys.stderr)
        return 2
    deadline = time.time() + 60 * args.stop_after if args.stop_after is not None else None
    if args.device == "cpu" and args.workers == 1:
        torch.set_num_threads(1)  # one thread per CPU run, as the grid and the pool's workers ran: cells pair
    runs = [s for s in heldout.specs(study, args.stage) if not args.models or s.model in args.models]
    left = runner.compute_missing(runs, results, workers=args.workers, deadline=deadline,
                                  group=cheapest_cell_first(runs) if args.cheapest_first else cell_of,
                                  report=runner.terminal_reporter(f"held-out stage {args.stage}: "))
    print("\n".join(report(study, args.stage, results, models=args.models)))
    if left:
        print(f"{len(left)} runs left for a later call (the same command)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
