"""Every paired comparison on one machine: the runs of a mixed pair recomputed here.

Two runs of one configuration on two machines (CPU model, threads, device) may differ by up to
:mod:`mrecg.study.noise`'s spread, so a method-minus-baseline difference whose two sides ran on
different machines measures the machines too; the figures leave such pairs out of their verdicts
and list them (``mixed_records`` of each figure module). :func:`recompute` makes them whole: it
recomputes on this machine every run of a mixed pair that ran elsewhere, then looks again, because
a run moved here may now pair with a run that stayed on the other machine, until no pair is mixed.
It only ever moves runs *to* this machine, so it ends; the cost is every run of the comparisons
that touch a mixed pair, which :func:`plan` lists before anything is computed.

    mrecg reproduce --compute-only --same-machine [table1 table2 ...] [--stop-after MINUTES]

A recomputation is recorded in the preset's manifest like any other (:mod:`mrecg.reproduce`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import torch

from .figures import budget, fig5, fig6, table1, table2
from .study import records, runner
from .study.records import read_record, record_path, stored
from .study.runs import RunSpec
from .study.runner import say
from .study.stats import machine_of
from .study.sweeps import Study, StudyError

# the figure modules whose comparisons pair runs seed by seed, in the order they are made whole
PAIRED = {"table1": table1, "table2": table2, "fig5": fig5, "fig6": fig6, "budget": budget}


def mixed_pairs(study: Study, results: Path, names: Sequence[str] = tuple(PAIRED)) -> list[tuple[str, str, str]]:
    """Every mixed-machine seed pair of the named figures' stored records: (comparison, key a, key b)."""
    out = []
    for name in names:
        module = PAIRED[name]
        stored_records = [read_record(record_path(s, results)) for s in module.specs(study) if stored(s, results)]
        if not stored_records:
            continue
        found = module.mixed_records(stored_records, study.preset) if module is budget else \
            module.mixed_records(stored_records)
        for *label, key_a, key_b in found:
            out.append((f"{name}: " + " ".join(map(str, label)), key_a, key_b))
    return out


def threads_of_runs(device: str, workers: int) -> int:
    """The torch threads each run will compute with: one on a CPU (:func:`recompute` sets this
    process's to one when it computes in-process), this process's on a GPU, else the pool's share."""
    if device == "cpu" and workers == 1:
        return 1
    if workers == 1:
        return torch.get_num_threads()
    return max(1, (os.cpu_count() or 1) // workers)


def here(device: str, workers: int) -> tuple[str, int, str]:
    """This machine as a pair compares it: CPU model, threads of a run, device."""
    return machine_of({"machine": dict(records.machine(device), threads=threads_of_runs(device, workers))})


def plan(study: Study, results: Path, names: Sequence[str], where: tuple[str, int, str]) -> list[RunSpec]:
    """The runs of the mixed pairs that did not run on ``where``, to recompute there."""
    by_key = {s.key(): s for name in names for s in PAIRED[name].specs(study)}
    todo: dict[str, RunSpec] = {}
    for _, *keys in mixed_pairs(study, results, names):
        for key in keys:
            if key not in todo and machine_of(read_record(record_path(by_key[key], results))) != where:
                todo[key] = by_key[key]
    return list(todo.values())


def check_names(names: Sequence[str]) -> None:
    if unknown := [n for n in names if n not in PAIRED]:
        raise StudyError(f"no paired figure {', '.join(unknown)}; choose from {', '.join(PAIRED)}")


def recompute(study: Study, results: Path, names: Sequence[str], workers: int | None = None,
              deadline: float | None = None) -> tuple[set[str], list[RunSpec], list[RunSpec]]:
    """Recompute here, until none is left, the runs of the named figures' (default: all paired ones)
    mixed pairs that ran elsewhere. ``workers`` defaults to one per core (one thread each, as the
    committed CPU grid ran); ``deadline`` (a ``time.time()``): start no run expected to end later.
    Returns the keys recomputed, the runs that were to recompute and those left for a later call."""
    names = list(names or PAIRED)
    check_names(names)
    workers = workers or (1 if study.device != "cpu" else os.cpu_count() or 1)
    where = here(study.device, workers)
    done: set[str] = set()
    wanted: dict[str, RunSpec] = {}
    if study.device == "cpu" and workers == 1:
        torch.set_num_threads(1)  # as the committed CPU grid ran, so the recomputed runs pair with it
    while todo := plan(study, results, names, where):
        if again := [s.key() for s in todo if s.key() in done]:
            raise StudyError(f"run {again[0]} was recomputed here and still counts as another machine's "
                             f"({'/'.join(map(str, where))} expected): its threads differ from the workers'")
        say(f"{len(todo)} runs of mixed-machine pairs to recompute on {'/'.join(map(str, where))}")
        wanted |= {s.key(): s for s in todo}
        left = runner.compute_missing(todo, results, force=True, workers=workers, deadline=deadline,
                                      report=runner.terminal_reporter(f"{study.preset} same machine: "),
                                      group=lambda s: int(runner.estimated_cost(s)))  # cheapest first: a call
        # cut short makes the most pairs whole
        done |= {s.key() for s in todo} - {s.key() for s in left}
        if left:
            return done, list(wanted.values()), left
    return done, list(wanted.values()), []


__all__ = ["PAIRED", "check_names", "here", "mixed_pairs", "plan", "recompute"]
