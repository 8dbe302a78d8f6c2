"""Running many experiment specs: the missing ones longest-first in one pool of workers.

A reconstruction step is too small to keep two CPU threads busy, so runs go one process per core,
one thread each (``benchmarks/parallel_runs.py`` measured 4.97x over running them after each other
with two threads on 2 cores); GPU runs go one at a time. The runs a sweep needs are first split
into the cached and the missing ones; the missing ones are scheduled longest-first (estimated
from their configuration, so the pool does not idle at its tail on one long run), a
data-dependent ModCap pass before the runs that need it, each distinct pass once. Every worker
stores its record atomically as it finishes, so an interrupted sweep keeps every finished run.
"""

from __future__ import annotations

import os
import sys
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Callable, Iterable, Sequence

from .experiments import RunSpec, run, stored

# Relative cost of one iteration of a block unit per model (measured mini step times, ResNet-18 = 1).
MODEL_COST = {"resnet18": 1.0, "resnet50": 2.5, "mobilenetv2_x1.0": 1.4, "mobilenetv2_x0.75": 1.15,
              "mobilenetv2_x0.5": 1.0, "mobilenetv2_x0.35": 0.9}


def estimated_cost(spec: RunSpec) -> float:
    """A run's cost in arbitrary units: iterations x batch factor x model factor (plus its ModCap
    pass). Only the order and the ETA use it; the ETA rescales it by the measured throughput."""
    cfg = spec.resolved()
    if not cfg.recipe.reconstructs:
        return 0.05 * MODEL_COST[spec.model]
    granularity = 1.5 if cfg.recipe.granularity == "layer" else 1.0
    return cfg.iters * (cfg.batch_size / 32) ** 0.75 * granularity * MODEL_COST[spec.model] / 1000


@dataclass
class Progress:
    """What a long sweep reports: runs done out of the total, an ETA, and what is running."""

    total: int
    done: int = 0
    started: float = field(default_factory=time.perf_counter)
    cost_done: float = 0.0
    cost_left: float = 0.0
    running: list[str] = field(default_factory=list)

    def eta_seconds(self, workers: int) -> float | None:
        elapsed = time.perf_counter() - self.started
        if self.cost_done <= 0 or elapsed <= 0:
            return None
        return self.cost_left / (self.cost_done / elapsed)

    def line(self, workers: int, label: str = "") -> str:
        eta = self.eta_seconds(workers)
        left = "estimating" if eta is None else f"about {eta / 60:.0f} min left"
        return f"{label}{self.done}/{self.total} runs computed, {left}"


def terminal_reporter(label: str = "") -> Callable[[Progress, int], None]:
    """Print progress lines to the process's real stderr (the terminal, also under papermill)."""
    stream = sys.__stderr__ or sys.stderr

    def report(progress: Progress, workers: int) -> None:
        print(f"[mrecg] {progress.line(workers, label)}", file=stream, flush=True)

    return report


def _run_in_worker(spec: RunSpec, results_dir: str, force: bool, threads: int) -> dict:
    import torch

    torch.set_num_threads(threads)
    return run(spec, results_dir, force=force, progress=False)


def default_workers(specs: Sequence[RunSpec]) -> int:
    """CPU runs: one per core; any GPU run: one at a time."""
    if any(s.resolved().device != "cpu" for s in specs):
        return 1
    return max(1, min(len(specs), os.cpu_count() or 1))


def missing(specs: Iterable[RunSpec], results_dir: str | Path, force: bool = False,
            recompute_stale: bool = False) -> list[RunSpec]:
    """The distinct specs that would be computed, with the ModCap passes they need, passes first."""
    todo: dict[str, RunSpec] = {}
    passes: dict[str, RunSpec] = {}
    for spec in specs:
        if spec.key() in todo or (not force and stored(spec, results_dir, recompute_stale)):
            continue
        todo[spec.key()] = spec
        needed = spec.modcap_pass()
        if needed is not None and not stored(needed, results_dir, recompute_stale):
            passes[needed.key()] = needed
    return list(passes.values()) + [s for k, s in todo.items() if k not in passes]


def run_specs(specs: Iterable[RunSpec], results_dir: str | os.PathLike, force: bool = False,
              workers: int | None = None, recompute_stale: bool = False,
              report: Callable[[Progress, int], None] | None = None) -> list[dict]:
    """The records of ``specs``, in order: stored ones read, missing ones computed by ``workers``
    processes (default :func:`default_workers`), longest first, passes before their dependents."""
    specs = list(specs)
    todo = missing(specs, results_dir, force, recompute_stale)
    if todo:
        _compute(todo, str(results_dir), force or recompute_stale, workers or default_workers(todo), report)
    return [run(s, results_dir, progress=False) for s in specs]


def _compute(todo: list[RunSpec], results_dir: str, force: bool, workers: int,
             report: Callable[[Progress, int], None] | None) -> None:
    needs = {s.key(): s.modcap_pass().key() for s in todo if s.modcap_pass() is not None}
    blocked = {k: p for k, p in needs.items() if p in {s.key() for s in todo}}
    cost = {s.key(): estimated_cost(s) for s in todo}
    progress = Progress(total=len(todo), cost_left=sum(cost.values()))
    ready = sorted((s for s in todo if s.key() not in blocked), key=lambda s: -cost[s.key()])
    waiting = [s for s in todo if s.key() in blocked]

    def finished(spec: RunSpec) -> None:
        progress.done += 1
        progress.cost_done += cost[spec.key()]
        progress.cost_left -= cost[spec.key()]
        released = [s for s in waiting if blocked[s.key()] == spec.key()]
        for s in released:
            waiting.remove(s)
        ready.extend(released)
        ready.sort(key=lambda s: -cost[s.key()])
        if report:
            report(progress, workers)

    if workers == 1:
        while ready:
            spec = ready.pop(0)
            run(spec, results_dir, force=force, progress=False)
            finished(spec)
        return
    threads = max(1, (os.cpu_count() or 1) // workers)
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
        in_flight = {}
        while ready or in_flight:
            while ready and len(in_flight) < workers:
                spec = ready.pop(0)
                in_flight[pool.submit(_run_in_worker, spec, results_dir, force, threads)] = spec
            done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
            for future in done:
                spec = in_flight.pop(future)
                future.result()
                finished(spec)


__all__ = ["Progress", "default_workers", "estimated_cost", "missing", "run_specs", "terminal_reporter"]
