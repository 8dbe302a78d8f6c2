"""The whole reproduction: every notebook's runs computed first in one pool, then every notebook
executed on the cache, and a manifest of the computation.

``mrecg reproduce --preset mini`` and ``notebooks/run_all.ipynb`` (what the README's papermill
command runs) call :func:`reproduce`, which is four named steps:

1. :func:`plan`: the specs of every figure module (:data:`mrecg.figures.FIGURES`), with the
   stored records that other code computed reported (stale; recomputed only with
   ``recompute_stale``);
2. :func:`compute_grid`: the missing runs, cell by cell and longest first, in one pool
   (:mod:`mrecg.study.runner`), with progress and an estimate of what is left on the terminal;
   then the toy of notebook 00;
3. :func:`execute_notebooks`: each notebook executed with papermill into ``executed/<preset>/``,
   its figures into ``figures/<preset>/``;
4. :func:`record_computation`: if anything was computed, an entry added to
   ``results/<preset>/manifest.json`` -- the record of the computation, which a re-plot never
   replaces; a re-plot records itself in ``runs/<preset>/replot.json`` (not committed).
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from . import data
from .config import check_device
from .figures import all_specs, toy
from .same_machine import check_names, recompute
from .study import paths, records, runner
from .study.executors import ExecutorChoice
from .study.fingerprint import code_fingerprint
from .study.notebooks import execute, figure_notebooks
from .study.runner import say
from .study.runs import RunSpec
from .study.storage import save_json
from .study.sweeps import TABLES_ACT_INIT, Study, StudyError

OUTPUT_DIRS = ("results", "figures", "executed")  # what a reproduction writes: not a code change


def code_version(repo: str | os.PathLike | None = None) -> dict:
    """The git commit and whether tracked files other than the outputs differ from it."""
    here = Path(repo) if repo is not None else paths.repo_root()
    outputs = [f":(top,exclude){d}" for d in OUTPUT_DIRS]
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True,
                                cwd=here).stdout.strip()
        dirty = bool(subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ":(top)", *outputs],
                                    capture_output=True, text=True, check=True, cwd=here).stdout.strip())
    except (OSError, subprocess.CalledProcessError):
        return {"commit": "unknown", "uncommitted_changes": None}
    return {"commit": commit, "uncommitted_changes": dirty}


def cells(per_notebook: dict[str, list[RunSpec]]) -> dict[str, int]:
    """Run key -> its cell's rank: a cell is one notebook's runs of one model and bit-width, in the
    notebooks' order; a run two notebooks share, or a ModCap pass, goes with the first cell that
    needs it. Computing cell by cell leaves whole paired comparisons when a computation stops early."""
    rank: dict[tuple, int] = {}
    out: dict[str, int] = {}
    for name, specs in per_notebook.items():
        for s in specs:
            r = rank.setdefault((name, s.model, s.w_bits, s.a_bits), len(rank))
            for needed in (s, s.modcap_pass()):
                if needed is not None:
                    out.setdefault(needed.key(), r)
    return out


@dataclass
class Plan:
    """What a reproduction computes: every notebook's specs, and who needs each run first."""

    per_notebook: dict[str, list[RunSpec]]
    results: Path
    first_seen: dict[str, str] = field(default_factory=dict)  # run or ModCap pass key -> its first notebook
    by_key: dict[str, RunSpec] = field(default_factory=dict)

    def __post_init__(self):
        for name, specs in self.per_notebook.items():
            for s in specs:
                for needed in (s, s.modcap_pass()):
                    if needed is not None:
                        self.first_seen.setdefault(needed.key(), name)
                        self.by_key.setdefault(needed.key(), needed)

    @property
    def specs(self) -> list[RunSpec]:
        return [s for group in self.per_notebook.values() for s in group]


def check_request(study: Study, notebooks_too: bool, models: Sequence[str] | None, stop_after: float | None,
                  executor: ExecutorChoice = ExecutorChoice(), workers: int | None = None,
                  same_machine: Sequence[str] | None = None) -> None:
    """Every bad combination of options, in one line, before anything is read or computed."""
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise StudyError(f"workers must be a whole number >= 1 (or None: one per core), got {workers!r}")
    executor.check()
    if executor.kind == "local":  # a cluster's GPUs are its workers', not this machine's
        check_device(study.device)
    if models and notebooks_too:
        raise StudyError("models splits a grid across machines; use it with --compute-only")
    if stop_after is not None and notebooks_too:
        raise StudyError("stop_after leaves runs uncomputed, which the notebooks would compute; use it with "
                         "--compute-only")
    if same_machine is not None:
        check_names(same_machine)
        if notebooks_too or models or executor.kind != "local":
            raise StudyError("same_machine recomputes runs on this machine only; use it with --compute-only, "
                             "without models or a cluster executor")
    if stop_after is not None and stop_after <= 0:
        raise StudyError(f"stop_after must be a positive number of minutes, got {stop_after:g}")
    if study.preset == "paper":
        data.require_imagenet(study.data_root)


def plan(study: Study, results: Path, models: Sequence[str] | None = None) -> Plan:
    """Step 1: every notebook's specs (only ``models``' runs, if given), with the stale ones reported."""
    per_notebook = all_specs(study)
    if models:
        known = {s.model for group in per_notebook.values() for s in group}
        if unknown := sorted(set(models) - known):
            raise StudyError(f"no run of the {study.preset} grid uses {', '.join(unknown)}; "
                             f"its models are {', '.join(sorted(known))}")
        per_notebook = {name: [s for s in group if s.model in models] for name, group in per_notebook.items()}
    return Plan(per_notebook, results)


def stale_keys(the_plan: Plan) -> list[str]:
    """The stored runs of the plan that other code computed."""
    stored = [records.read_record(records.record_path(s, the_plan.results))
              for s in {s.key(): s for s in the_plan.specs}.values() if records.stored(s, the_plan.results)]
    return [r["key"] for r in stored if records.is_stale(r)]


def compute_grid(the_plan: Plan, study: Study, force: bool, recompute_stale: bool, workers: int | None,
                 deadline: float | None, with_toy: bool, executor: ExecutorChoice = ExecutorChoice()
                 ) -> tuple[set[str], list[RunSpec], list[RunSpec]]:
    """Step 2: the missing runs, cell by cell, then the toy (``with_toy``, and only when no run is
    left: a split or cut-short computation leaves the toy to a whole one). Returns the keys
    computed, the runs that were to compute and those left for a later call (a deadline)."""
    todo = runner.missing(the_plan.specs, the_plan.results, force, recompute_stale)
    say(f"{study.preset}: {len({s.key() for s in the_plan.specs})} runs, {len(todo)} to compute "
        "(ModCap passes included)")
    cell = cells(the_plan.per_notebook)
    left = runner.compute_missing(todo, the_plan.results, force or recompute_stale, workers,
                          report=runner.terminal_reporter(f"{study.preset}: "), deadline=deadline,
                          group=lambda s: cell[s.key()], executor=executor) if todo else []
    computed = {s.key() for s in todo} - {s.key() for s in left}
    if with_toy and not left:
        chosen = toy.settings(study)
        before = {p: p.read_bytes() for p in toy.record_paths(study, the_plan.results, chosen) if p.is_file()}
        toy.records(study, the_plan.results, chosen, force, recompute_stale)
        changed = any(before.get(p) != p.read_bytes() for p in toy.record_paths(study, the_plan.results, chosen))
        computed |= {"toy"} if changed else set()
    return computed, todo, left


def execute_notebooks(the_plan: Plan, computed: set[str], executed: Path, parameters: dict) -> list[dict]:
    """Step 3: every notebook executed on the cache; per notebook, its time and the runs it added."""
    done = []
    for nb in figure_notebooks():
        t = time.perf_counter()
        say(f"executing {nb.stem}")
        execute(nb, executed / nb.name, parameters)
        mine = [k for k, n in the_plan.first_seen.items() if n == nb.stem and k in computed]
        seconds = [records.read_record(records.record_path(the_plan.by_key[k], the_plan.results))["seconds"]
                   for k in mine]
        done.append({"notebook": nb.stem, "notebook_seconds": round(time.perf_counter() - t, 1),
                     "computed_runs": len(mine), "computed_run_seconds": round(sum(seconds), 1)})
    return done


def worker_machines(the_plan: Plan, computed: set[str]) -> list[dict]:
    """Every distinct machine (CPU, threads, device, torch, platform) that computed a run of this call."""
    seen = {}
    for key in sorted(computed & set(the_plan.by_key)):
        record = records.read_record(records.record_path(the_plan.by_key[key], the_plan.results))
        seen.setdefault(json.dumps(record["machine"], sort_keys=True), record["machine"])
    return list(seen.values())


def record_computation(summary: dict, study: Study, results: Path) -> Path:
    """Step 4: a computation is appended to the preset's manifest; a re-plot is recorded apart."""
    if summary["computed_runs"]:
        path = records.add_computation(results, study.preset, summary)
        say(f"manifest of the computation: {path}")
    else:
        path = paths.repo_root() / "runs" / study.preset / "replot.json"
        save_json(summary, path)
    return path


def reproduce(preset: str = "mini", device: str = "cpu", cache_device: str = "auto", data_root: str | None = None,
              results_dir: str | None = None, figures_dir: str | None = None, executed_dir: str | None = None,
              seeds=None, act_init: str = TABLES_ACT_INIT, force: bool = False, recompute_stale: bool = False,
              workers: int | None = None, notebooks: bool = True, models: Sequence[str] | None = None, stop_after: float | None = None,
              executor: ExecutorChoice = ExecutorChoice(), same_machine: Sequence[str] | None = None) -> dict:
    """Compute what is missing, execute the notebooks, record the computation. Returns the
    summary that went into the manifest (or the re-plot record).
    ``models`` computes only those models' runs, so that one grid can be split across machines
    (whole models, so that a model's paired comparisons share a machine when the split finishes).
    ``stop_after`` (minutes): start no run expected to end later; the rest is left for a later call.
    ``executor``: where the runs are computed (:mod:`mrecg.study.executors`; default this machine's pool).
    ``same_machine`` (figure names, empty: all paired ones): instead of the missing runs, recompute
    here the runs of those figures' mixed-machine pairs (:mod:`mrecg.same_machine`)."""
    study = Study(preset, seeds, data_root, device, cache_device, act_init)
    check_request(study, notebooks, models, stop_after, executor, workers, same_machine)
    results = paths.results_dir(results_dir)
    figures = paths.figures_dir(preset, figures_dir)
    executed = paths.executed_dir(preset, executed_dir)
    the_plan = plan(study, results, models)
    records.check_writable(results / preset)
    if notebooks:  # the notebooks' outputs too, before hours of computing
        records.check_writable(figures, "the figures folder", "figures_dir")
        records.check_writable(executed, "the executed notebooks' folder", "executed_dir")
    deadline = time.time() + 60 * stop_after if stop_after is not None else None
    source, started = code_version(), time.perf_counter()

    stale = stale_keys(the_plan)
    if stale:
        say(f"{len(stale)} stored runs were computed by other code (fingerprint differs from "
            f"{code_fingerprint()}): " + ("recomputing them" if recompute_stale else
                                          "reading them; pass recompute_stale to recompute"))
    t0 = time.perf_counter()
    if same_machine is not None:
        computed, todo, left = recompute(study, results, same_machine, workers, deadline)
    else:
        computed, todo, left = compute_grid(the_plan, study, force, recompute_stale, workers, deadline,
                                            with_toy=not models, executor=executor)
    compute_seconds = time.perf_counter() - t0
    if left:
        say(f"{len(left)} runs left for a later call (the same command): started, they were not expected to end "
            f"within the {stop_after:g} minutes")
    parameters = dict(preset=preset, device=device, cache_device=cache_device, data_root=data_root,
                      results_dir=paths.portable(results), figures_dir=paths.portable(figures),
                      seeds=list(study.seeds) if study.seeds is not None else None, act_init=act_init, force=False,
                      recompute_stale=False)
    done = execute_notebooks(the_plan, computed, executed, parameters) if notebooks else []
    summary = {
        **source, **({"models": list(models)} if models else {}), "fingerprint": code_fingerprint(),
        **({"same_machine": list(same_machine or ())} if same_machine is not None else {}),
        "started": time.strftime("%Y-%m-%d %H:%M:%S"),
        "machine": f"{records.cpu_model()}, {os.cpu_count()} cores, {platform.platform()}",
        "workers": workers or (runner.default_workers(todo) if todo else None),
        **({"executor": {k: v for k, v in vars(executor).items() if v is not None}} if executor.kind != "local"
           else {}), "worker_machines": worker_machines(the_plan, computed),
        "computed_runs": len(computed), **({"runs_left": len(left)} if left else {}),
        "stale_runs_read": 0 if recompute_stale else len(stale),
        "compute_wall_seconds": round(compute_seconds, 1),
        "total_wall_seconds": round(time.perf_counter() - started, 1), "notebooks": done,
    }
    record_computation(summary, study, results)
    say(f"done in {summary['total_wall_seconds']:.0f} s: {len(computed)} runs computed, figures in {figures}")
    return summary
