"""Running many experiment specs: the missing ones longest-first in one pool of workers.

A reconstruction step is too small to keep two CPU threads busy, so runs go one process per core,
one thread each (``benchmarks/parallel_runs.py`` measured 4.97x over running them after each other
with two threads on 2 cores); GPU runs go one at a time. The runs a sweep needs are first split
into the cached and the missing ones; the missing ones are scheduled longest-first (estimated
from their configuration, so the pool does not idle at its tail on one long run; by group first
where the caller groups them, :func:`schedule`), a
data-dependent ModCap pass before the runs that need it, each distinct pass once. The runs go to an
executor (:mod:`mrecg.study.executors`: this machine's pool, or a Dask cluster); a worker returns
its record and the driver stores it atomically as it comes back, so an interrupted sweep keeps every
finished run, and a stopped one (SIGINT, SIGTERM) kills its workers and discards the runs in flight:
no record can appear after the stop. A sweep given a deadline (:func:`compute_missing`) starts only
runs expected to finish before it, so that a machine lent for a few hours spends none of them on a
run that will be cut off.
"""

from __future__ import annotations

import os
import signal
import statistics
import sys
import threading
import time
from concurrent.futures import FIRST_COMPLETED, as_completed, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

from . import paths
from .executors import ExecutorChoice, open_pool
from .records import compute_record, cpu_model, is_stale, load_records, read_or_compute, record_path, run, stored
from .runs import RunSpec

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
    """What a long sweep reports: runs done out of the total and an ETA.

    The ETA sums the expected seconds of the runs not yet ended (:class:`Timing`, where this
    machine has records of every kind left) over the workers; without them it extrapolates the
    throughput of the runs ended so far in cost units."""

    total: int
    done: int = 0
    started: float = field(default_factory=time.perf_counter)
    cost_done: float = 0.0
    cost_left: float = 0.0
    expected: dict[str, float] | None = None  # run key -> expected seconds, for the runs not ended
    began: dict[str, float] = field(default_factory=dict)  # run key -> when it started (perf_counter)

    def eta_seconds(self, workers: int, now: float | None = None) -> float | None:
        now = time.perf_counter() if now is None else now
        if self.expected is not None:
            left = sum(max(0.0, s - (now - self.began[k])) if k in self.began else s for k, s in self.expected.items())
            return left / max(1, workers)
        elapsed = now - self.started
        if self.cost_done <= 0 or elapsed <= 0:
            return None
        return self.cost_left / (self.cost_done / elapsed)

    def line(self, workers: int, label: str = "") -> str:
        eta = self.eta_seconds(workers)
        left = "estimating" if eta is None else f"about {eta / 60:.0f} min left"
        return f"{label}{self.done}/{self.total} runs computed, {left}"


def say(message: str) -> None:
    """One progress line on the terminal (the process's real stderr, also under papermill)."""
    print(f"[mrecg] {message}", file=sys.__stderr__ or sys.stderr, flush=True)


def terminal_reporter(label: str = "") -> Callable[[Progress, int], None]:
    """Report a sweep's progress with :func:`say`."""

    def report(progress: Progress, workers: int) -> None:
        say(progress.line(workers, label))

    return report


class Timing:
    """Expected wall time of a run on this machine, from the records that this code computed on it
    in the given results folders (same CPU model, torch and device type; not the platform, whose
    kernel build changes from one session of the same machine to the next): seconds per unit
    of :func:`estimated_cost`, the largest seen for runs of the same model, method and batch (the
    cost model does not know that QDrop's drop or merged units change a step's cost, and a loaded
    machine varies by up to 2x), else the median over the same method and batch, else over all
    runs; refined by each run of the sweep as it ends."""

    def __init__(self, results_dir: str | os.PathLike, device: str, *more: str | os.PathLike):
        import torch

        here = (cpu_model(), torch.__version__)
        self.ratios: dict[tuple, list[float]] = {}
        folders = dict.fromkeys(Path(f).resolve() for f in (results_dir, *more))
        for record in (r for folder in folders for r in load_records(folder, quiet=True)):
            try:
                machine, spec = record["machine"], RunSpec.from_dict(record["spec"])
            except (ValueError, KeyError, TypeError):
                continue  # records of other code's settings
            if (machine.get("cpu"), machine.get("torch")) == here and \
                    machine.get("device", "cpu").startswith("cpu" if device == "cpu" else "NVIDIA") and \
                    record.get("seconds") and not is_stale(record):  # other code ran at another speed
                self.add(spec, record["seconds"])

    @staticmethod
    def kind(spec: RunSpec) -> tuple:
        cfg = spec.resolved()
        return spec.model, cfg.method, cfg.batch_size

    def add(self, spec: RunSpec, seconds: float) -> None:
        self.ratios.setdefault(self.kind(spec), []).append(seconds / estimated_cost(spec))

    def seconds(self, spec: RunSpec) -> float | None:
        """The expected wall time of ``spec`` (None before any run was timed here)."""
        kind = self.kind(spec)
        if kind in self.ratios:
            return max(self.ratios[kind]) * estimated_cost(spec)
        for similar in (lambda k: k[1:] == kind[1:], lambda k: True):  # the same method and batch, any run
            ratios = [r for k, rs in self.ratios.items() if similar(k) for r in rs]
            if ratios:
                return statistics.median(ratios) * estimated_cost(spec)
        return None


def compute_in_worker(spec: RunSpec, passes: dict[str, dict], threads: int) -> dict:
    """A run's record, computed wherever the executor placed it (``passes``: the ModCap pass records
    it needs, handed over by the driver). It writes nothing: the driver stores what it returns."""
    import torch

    torch.set_num_threads(threads)
    return compute_record(spec, progress=False, passes=passes)


class Stopped(KeyboardInterrupt):
    """SIGINT or SIGTERM during a sweep: it unwinds like Ctrl-C (``signum`` says which)."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


@contextmanager
def stopped_by_signals() -> Iterator[None]:
    """SIGINT or SIGTERM (what ``kill`` and batch systems send) unwinds a sweep as :class:`Stopped`.
    Once it has unwound, a signal whose handler was Python's default is delivered again with the
    system's default action: the process ends as killed by it (exit 130 or 143, no traceback); a
    caller with its own handler (a notebook kernel) gets the exception instead."""
    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread can take signals; its caller's handlers stay
        return

    def stop(signum: int, frame) -> None:
        raise Stopped(signum)

    before = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    except Stopped as e:
        if before[e.signum] in (signal.SIG_DFL, signal.default_int_handler):
            signal.signal(e.signum, signal.SIG_DFL)
            os.kill(os.getpid(), e.signum)
        raise
    finally:
        for s, handler in before.items():
            signal.signal(s, handler)


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
              report: Callable[[Progress, int], None] | None = None,
              executor: ExecutorChoice = ExecutorChoice()) -> list[dict]:
    """The records of ``specs``, in order: stored ones read, missing ones computed by ``workers``
    processes (default :func:`default_workers`) or by ``executor``'s engine, longest first, passes
    before their dependents."""
    specs = list(specs)
    compute_missing(specs, results_dir, force, workers, recompute_stale, report, executor=executor)
    return [run(s, results_dir, progress=False) for s in specs]


def compute_missing(specs: Iterable[RunSpec], results_dir: str | os.PathLike, force: bool = False,
            workers: int | None = None, recompute_stale: bool = False,
            report: Callable[[Progress, int], None] | None = None, deadline: float | None = None,
            margin: float = 1.15, group: Callable[[RunSpec], int] | None = None,
            executor: ExecutorChoice = ExecutorChoice()) -> list[RunSpec]:
    """Compute the missing runs of ``specs`` (see :func:`run_specs`) and return those left undone.

    ``deadline`` (a ``time.time()``): start a run only when its expected wall time (:class:`Timing`,
    times ``margin``) ends before it, the longest that fits first; runs that fit nowhere are left.
    ``group``: runs of a lower group first (longest first within one); no run of a later group starts
    while a lower group has runs not started, so that a computation cut short by the deadline leaves
    whole groups (e.g. a table's cells) rather than the shorter runs of later ones."""
    todo = missing(specs, results_dir, force, recompute_stale)
    if not todo:
        return []
    workers = workers or default_workers(todo)
    device = "cpu" if todo[0].resolved().device == "cpu" else "cuda"
    timing = Timing(results_dir, device, paths.results_dir())  # a part computed elsewhere learns from the grid too
    executor.check()
    return _compute(todo, str(results_dir), force or recompute_stale, workers, report, deadline, timing, margin,
                    group, executor)


def schedule(specs: Iterable[RunSpec], group: Callable[[RunSpec], int] | None = None) -> list[RunSpec]:
    """The order runs start in: lower group first, longest first within a group (so the pool does
    not idle at a group's tail on one long run)."""
    return sorted(specs, key=lambda s: ((group(s) if group else 0), -estimated_cost(s)))


def _compute(todo: list[RunSpec], results_dir: str, force: bool, workers: int,
             report: Callable[[Progress, int], None] | None, deadline: float | None = None,
             timing: Timing | None = None, margin: float = 1.15,
             group: Callable[[RunSpec], int] | None = None,
             executor: ExecutorChoice = ExecutorChoice()) -> list[RunSpec]:
    needs = {s.key(): s.modcap_pass().key() for s in todo if s.modcap_pass() is not None}
    blocked = {k: p for k, p in needs.items() if p in {s.key() for s in todo}}
    cost = {s.key(): estimated_cost(s) for s in todo}
    expected = {s.key(): timing.seconds(s) for s in todo} if timing else {}
    progress = Progress(total=len(todo), cost_left=sum(cost.values()),
                        expected=expected if expected and None not in expected.values() else None)
    ready = schedule([s for s in todo if s.key() not in blocked], group)
    waiting = [s for s in todo if s.key() in blocked]

    def next_spec() -> RunSpec | None:
        """The longest ready run of the lowest group that ends before the deadline (any, without one).
        A later group waits while the lowest one has runs not yet started, so a deadline leaves whole groups."""
        for spec in ready:
            if group and group(spec) != group(ready[0]):
                return None
            seconds = timing.seconds(spec) if timing else None
            if deadline is None or (time.time() < deadline and
                                    (seconds is None or time.time() + margin * seconds <= deadline)):
                ready.remove(spec)
                progress.began[spec.key()] = time.perf_counter()
                return spec
        return None

    def finished(spec: RunSpec) -> None:
        progress.done += 1
        progress.cost_done += cost[spec.key()]
        progress.cost_left -= cost[spec.key()]
        if progress.expected is not None:
            progress.expected.pop(spec.key(), None)
        if timing:
            timing.add(spec, time.perf_counter() - progress.began[spec.key()])
        released = [s for s in waiting if blocked[s.key()] == spec.key()]
        for s in released:
            waiting.remove(s)
        ready[:] = schedule(ready + released, group)
        if report:
            report(progress, workers)

    def passes(spec: RunSpec) -> dict[str, dict]:
        """The ModCap pass record ``spec`` needs (stored: its pass ran first), for a worker without this folder."""
        needed = spec.modcap_pass()
        return {} if needed is None else {needed.key(): run(needed, results_dir, progress=False)}

    def keep(spec: RunSpec, record: dict) -> None:
        read_or_compute(record_path(spec, results_dir), lambda: record, force=True)  # atomically
        finished(spec)

    if report and progress.expected is not None:  # known from the start: say it before the first run ends
        report(progress, workers)
    with stopped_by_signals():
        try:
            if workers == 1 and executor.kind == "local":  # in this process: what a GPU run does
                while (spec := next_spec()) is not None:
                    run(spec, results_dir, force=force, progress=False)
                    finished(spec)
            else:
                with open_pool(executor, workers) as pool:
                    in_flight = {}
                    try:
                        try:
                            while True:
                                while len(in_flight) < pool.slots() and (spec := next_spec()) is not None:
                                    in_flight[pool.executor.submit(compute_in_worker, spec, passes(spec),
                                                                   pool.threads)] = spec
                                if not in_flight:
                                    break
                                done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                                for future in done:
                                    spec = in_flight.pop(future)
                                    keep(spec, future.result())
                        except Exception:  # a run failed: the others in flight finish and are kept
                            for future in as_completed(in_flight):
                                if future.exception() is None:
                                    keep(in_flight[future], future.result())
                            raise
                    except KeyboardInterrupt:
                        pool.kill()  # before anything else: a worker must not outlive the stop
                        raise
        except KeyboardInterrupt:
            say(f"stopped: {progress.done} finished records kept, {progress.total - progress.done} runs left "
                "(in flight ones discarded); the same call computes them")
            raise
    return ready + waiting


__all__ = ["Progress", "Stopped", "Timing", "compute_in_worker", "compute_missing", "default_workers", "estimated_cost", "missing", "run_specs", "schedule",
           "terminal_reporter"]
