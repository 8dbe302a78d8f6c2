"""The preregistered test (issue #24): the 13 Table 1 cells the mini grid had not computed, predicted
from the paper's numbers and the committed cells before any of their runs existed.

The claim under test is the room-scaled reading of the mini grid: MRECG recovers, of what its
baseline loses to quantization, a fraction like the paper's in the same cell. The prediction,
the decision rule and the plan are in ``results/mini/preregistration.md`` and its machine-readable
twin ``preregistration.json``; this module is the analysis that decides it, fixed at the commit
that file names (a test keeps both unchanged since).

* **Cells.** ResNet-50 at W4A4, W2A4, W3A3, W2A2; MobileNetV2 x1.0, x0.75 and x0.35 at W4A4, W2A4,
  W3A3. The MobileNetV2 widths have no released scheme: their MRECG rows apply the x0.5 scheme.
* **Stage 1 (the test):** BRECQ and MRECG+BRECQ, seeds 0, 1, 2. **Stage 2:** QDrop and
  MRECG+QDrop (seeds 0, 1, 2), decided by the same rule as a second family; AdaRound (seed 0),
  reported only.
* **Measure** (:mod:`mrecg.study.stats`): per seed, room = float - baseline, gain = method -
  baseline, fraction = gain / room; per cell the paired 95 % interval of the gain, and the paper's
  fraction times our room as the predicted gain; pooled, the mean of the cells' fractions with its
  95 % interval over cells.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import pandas as pd

from .. import methods
from ..study import paths, stats
from ..study.runs import RunSpec
from ..study.sweeps import Study
from . import table1

CELLS = tuple([("resnet50", b) for b in ((4, 4), (2, 4), (3, 3), (2, 2))]
              + [(m, b) for m in ("mobilenetv2_x1.0", "mobilenetv2_x0.75", "mobilenetv2_x0.35")
                 for b in ((4, 4), (2, 4), (3, 3))])
SEEDS = (0, 1, 2)
STAGES = {1: {"pairs": (("mrecg+brecq", "brecq"),), "also": (), "seeds": SEEDS},
          2: {"pairs": (("mrecg+qdrop", "qdrop"),), "also": (("adaround", (0,)),), "seeds": SEEDS}}
MAX_SMALLER = 2  # cells whose interval lies below the paper's scaled gain that a confirmation tolerates
NO_GAIN_CELL = ("resnet50", "W4A4")  # the paper recovers about 0 % here (74.84 vs 74.88)
FILE = "preregistration.json"
SHOWN = {"mrecg+brecq": "MRECG+BRECQ", "brecq": "BRECQ", "mrecg+qdrop": "MRECG+QDrop", "qdrop": "QDrop"}


def bits_label(bits: tuple[int, int]) -> str:
    return f"W{bits[0]}A{bits[1]}"


def cells() -> list[tuple[str, str]]:
    """The held-out cells as (model, ``W2A4``)."""
    return [(model, bits_label(bits)) for model, bits in CELLS]


def specs(study: Study, stage: int) -> list[RunSpec]:
    """Every run of a stage, cell by cell (MRECG runs are the released method: its scheme, partition
    and expanded batch; the MobileNetV2 widths take the x0.5 scheme, as Table 1's other widths do)."""
    plan = STAGES[stage]
    out = []
    for model, (w, a) in CELLS:
        for pair in plan["pairs"]:
            for method in pair:
                extra = study.mrecg(model) if methods.get(method).baseline else {}
                out += [study.spec(model, method=method, w_bits=w, a_bits=a, seed=s, **extra) for s in plan["seeds"]]
        for method, seeds in plan["also"]:
            out += [study.spec(model, method=method, w_bits=w, a_bits=a, seed=s) for s in seeds]
    return out


def is_held_out(record: dict) -> bool:
    """Whether a record is a run of a held-out cell (the test that guards the order reads this)."""
    cfg = record.get("config", {})
    return (record.get("spec", {}).get("model"), (cfg.get("w_bits"), cfg.get("a_bits"))) in set(CELLS)


def predicted_fraction(grid: pd.DataFrame) -> dict:
    """The pooled predictions, from the committed cells and the paper only: per MRECG method, the
    paper's pooled fraction at the held-out cells times how much of the paper's fraction the mini
    grid recovers at its own cells (ours / the paper's, both pooled over the same same-machine cells)."""
    fam = table1.family(grid)
    ratio = fam["ours"].fraction.mean / fam["paper at our cells"].fraction.mean
    ref = table1.paper_cells()
    inside = pd.Series([(m, b) in set(cells()) for m, b in zip(ref.model, ref.bits)], index=ref.index)
    paper_held = {method: float(ref[inside & (ref.method == method)].fraction.mean())
                  for method, _ in (pair for stage in STAGES.values() for pair in stage["pairs"])}
    return {"mini_over_paper": ratio, "paper_at_held_out": paper_held,
            "predicted": {method: ratio * f for method, f in paper_held.items()},
            "mini_family": [fam["ours"].fraction.mean, fam["ours"].fraction.lo, fam["ours"].fraction.hi],
            "paper_at_mini_cells": fam["paper at our cells"].fraction.mean}


@dataclass(frozen=True)
class Outcome:
    """The decision of one stage: the pooled fraction, each cell's verdicts, and the word."""

    pooled: stats.Pooled
    predicted: float
    cells: pd.DataFrame  # model, bits, gain, scaled, against_zero, against_paper
    verdict: str
    reasons: tuple[str, ...]

    def lines(self) -> list[str]:
        """The verdict first, then the prediction beside what was measured, then why it falls short."""
        why = {"confirmed": "", "partly confirmed": " Short of confirmed: ", "not confirmed": " Not confirmed: ",
               "not decided": " Not decided: "}[self.verdict]
        return [f"**{self.verdict}.** Predicted pooled recovered fraction {self.predicted:.1%}; measured "
                f"{self.pooled}." + (f"{why}{'; '.join(self.reasons)}." if self.reasons else "")]


def decide(rows: pd.DataFrame, predicted: float) -> Outcome:
    """The preregistered rule on one stage's cells (rows of :func:`cell_rows`):

    * **confirmed**: the pooled fraction's 95 % interval over cells lies above zero and contains the
      predicted pooled fraction; at most :data:`MAX_SMALLER` cells read "smaller" than the paper's
      scaled gain; ResNet-50 W4A4 (no gain in the paper) does not read "larger";
    * **partly confirmed**: the interval lies above zero but another condition fails;
    * **not confirmed**: the interval does not lie above zero (or a cell is missing).
    """
    if len(rows) < len(CELLS) or rows.fraction.isna().any():
        missing = len(CELLS) - int(rows.fraction.notna().sum())
        return Outcome(stats.pooled(rows.fraction.dropna().tolist(), rows.gain.tolist()), predicted, rows,
                       "not decided", (f"{missing} of {len(CELLS)} cells missing or without room",))
    pool = stats.pooled(rows.fraction.tolist(), rows.gain.tolist())
    f = pool.fraction
    if not f.lo > 0:
        return Outcome(pool, predicted, rows, "not confirmed", ("the pooled interval does not lie above zero",))
    reasons = []
    if not f.lo <= predicted <= f.hi:
        reasons.append(f"the pooled interval excludes the predicted {predicted:.1%}")
    smaller = int((rows.against_paper == "smaller").sum())
    if smaller > MAX_SMALLER:
        reasons.append(f"{smaller} cells smaller than the paper's scaled gain (at most {MAX_SMALLER} allowed)")
    no_gain = rows[(rows.model == NO_GAIN_CELL[0]) & (rows.bits == NO_GAIN_CELL[1])]
    if not no_gain.empty and no_gain.against_paper.iloc[0] == "larger":
        reasons.append("a gain at ResNet-50 W4A4, where the paper has none")
    return Outcome(pool, predicted, rows, "partly confirmed" if reasons else "confirmed", tuple(reasons))


def cell_rows(records: Sequence[dict], method: str, baseline: str) -> pd.DataFrame:
    """One row per held-out cell for a method-vs-baseline pair: gain and fraction with intervals,
    the paper's scaled gain, and the two verdicts (cells whose runs are missing are left out)."""
    ref = table1.paper_cells()
    out = []
    for model, bits in cells():
        mine = [r for r in records if is_held_out(r) and r["spec"]["model"] == model
                and bits_label((r["config"]["w_bits"], r["config"]["a_bits"])) == bits]
        a = [r for r in mine if r["config"]["method"] == method]
        b = [r for r in mine if r["config"]["method"] == baseline]
        if len(stats.by_seed(a, b)) < 2:
            continue
        hit = ref[(ref.model == model) & (ref.bits == bits) & (ref.method == method)].iloc[0]
        cell = stats.room_scaled_runs(a, b, stats.PaperCell(hit.fp, hit.baseline_top1, hit.top1))
        out.append({"model": model, "bits": bits, "gain": cell.gain.mean, "gain_lo": cell.gain.lo,
                    "gain_hi": cell.gain.hi, "fraction": cell.fraction.mean, "room": cell.room, "scaled": cell.scaled,
                    "against_zero": stats.against_zero(cell.gain), "against_paper": stats.against_paper(cell.gain,
                                                                                                      cell.scaled)})
    return pd.DataFrame(out, columns=["model", "bits", "gain", "gain_lo", "gain_hi", "fraction", "room", "scaled",
                                      "against_zero", "against_paper"])


def registration(results_dir: str | Path | None = None) -> dict:
    """The machine-readable preregistration (``results/<preset>/preregistration.json``)."""
    return json.loads((paths.results_dir(results_dir) / "mini" / FILE).read_text())


def outcome(records: Sequence[dict], stage: int, results_dir: str | Path | None = None) -> list[Outcome]:
    """The decision of a stage on the stored records, with the prediction as registered."""
    predicted = registration(results_dir)["prediction"]["pooled_fraction"]
    return [decide(cell_rows(records, m, b), predicted[m]) for m, b in STAGES[stage]["pairs"]]


@dataclass(frozen=True)
class Progress:
    """How far a stage is: per cell (model, bits), its stored runs' keys and all its runs' keys."""

    stage: int
    cells: dict[tuple[str, int, int], tuple[tuple[str, ...], tuple[str, ...]]]

    @property
    def cells_complete(self) -> int:
        return sum(len(have) == len(keys) for have, keys in self.cells.values())

    @property
    def runs_stored(self) -> int:
        return sum(len(have) for have, _ in self.cells.values())

    @property
    def runs(self) -> int:
        return sum(len(keys) for _, keys in self.cells.values())

    @property
    def complete(self) -> bool:
        return self.runs_stored == self.runs


def progress(study: Study, stage: int, results_dir: str | Path | None = None) -> Progress:
    from ..study.records import stored

    results = paths.results_dir(results_dir)
    by_cell: dict[tuple[str, int, int], tuple[list[str], list[str]]] = {}
    for s in specs(study, stage):
        have, keys = by_cell.setdefault((s.model, s.resolved().w_bits, s.resolved().a_bits), ([], []))
        keys.append(s.key())
        if stored(s, results):
            have.append(s.key())
    return Progress(stage, {cell: (tuple(have), tuple(keys)) for cell, (have, keys) in by_cell.items()})


def complete_cells(study: Study, results_dir: str | Path | None = None, stage: int = 1) -> list[tuple[str, str]]:
    """The held-out cells (model, ``W2A4``) whose every run of ``stage`` is stored."""
    done = progress(study, stage, results_dir).cells
    return [(model, bits_label((w, a))) for (model, w, a), (have, keys) in done.items() if len(have) == len(keys)]


def held_records(records: Sequence[dict], study: Study, results_dir: str | Path | None = None) -> list[dict]:
    """The held-out ``records`` that a notebook shows beside the grid: of each cell, the runs of every
    stage complete there (stage 1 first: a cell enters with its test pair), so that no row is a mean of
    fewer seeds than registered. Read only: ``scripts/heldout.py`` computes them, never a notebook."""
    complete = {stage: set(complete_cells(study, results_dir, stage)) for stage in STAGES}
    stage_of = {method: stage for stage, plan in STAGES.items()
                for method in [m for pair in plan["pairs"] for m in pair] + [m for m, _ in plan["also"]]}

    def shown(r: dict) -> bool:
        cell = (r["spec"]["model"], bits_label((r["config"]["w_bits"], r["config"]["a_bits"])))
        return cell in complete[1] and cell in complete[stage_of.get(r["config"]["method"], 1)]

    return [r for r in records if is_held_out(r) and shown(r)]


def details(decided: Outcome, method: str, registered: dict) -> list[str]:
    """The prediction as written and the cells beneath a stage's verdict line: what was predicted,
    how the cells read against the paper's scaled gain, and the cell where the paper has no gain."""
    pred = registered["prediction"]
    paper = {(c["model"], c["bits"]): c[method] for c in pred["per_cell"]}
    counts = decided.cells.against_paper.value_counts()
    zero = decided.cells.against_zero.value_counts()
    reading = ", ".join(f"{counts.get(k, 0)} {k}" for k in ("consistent", "smaller", "larger",
                                                             stats.TOO_LITTLE_ROOM))
    lines = [f"How it was predicted: {decided.predicted:.1%} is the paper's pooled "
             f"{pred['paper_at_held_out'][method]:.1%} at these cells times {pred['mini_over_paper']:.2f} (the "
             f"grid's pooled fraction over the paper's at the grid's own cells); in each cell, the paper's fraction "
             f"times our room.",
             f"Cells against the paper's gain scaled to our room: {reading} (at most {MAX_SMALLER} smaller "
             f"allowed); against zero: {zero.get('above zero', 0)} above, {zero.get('contains zero', 0)} "
             f"containing zero, {zero.get('below zero', 0)} below."]
    no_gain = decided.cells[(decided.cells.model == NO_GAIN_CELL[0]) & (decided.cells.bits == NO_GAIN_CELL[1])]
    if not no_gain.empty:
        r = no_gain.iloc[0]
        lines.append(f"ResNet-50 W4A4, where the paper recovers {paper[NO_GAIN_CELL]['paper_fraction']:.0%}: gain "
                     f"{r.gain:+.2f} [{r.gain_lo:+.2f}, {r.gain_hi:+.2f}] pt in a {r.room:.1f} pt room "
                     f"(reads '{r.against_paper}'; predicted: not 'larger').")
    f = decided.pooled.fraction
    others = {"the paper's own pooled fraction at these cells": pred["paper_at_held_out"][method],
              "the grid's pooled fraction": pred["mini_family"][0]}
    held = [f"{name} ({value:.1%})" for name, value in others.items() if f.lo <= value <= f.hi]
    little = int((decided.cells.against_paper == stats.TOO_LITTLE_ROOM).sum())
    rarely = ", so the conditions on cells could rarely fail" if 2 * little > len(decided.cells) else ""
    lines.append(f"What the test can tell: in {little} of {len(decided.cells)} cells the room is too little to test "
                 f"the paper's scaled gain on its own{rarely}; " +
                 (f"the pooled interval also holds {' and '.join(held)}, so it cannot tell the written prediction "
                  f"from {'them' if len(held) > 1 else 'it'}." if held else
                  f"the pooled interval holds neither {' nor '.join(f'{n} ({v:.1%})' for n, v in others.items())}."))
    return lines


def status_lines(study: Study, records: Sequence[dict], results_dir: str | Path | None = None,
                 committed: Callable[[list[dict]], tuple[str, str] | None] | None = None,
                 registered_on: str | None = None) -> list[str]:
    """Where the test stands, from the records stored in ``results_dir``: each stage not started, still
    computing (cells complete, runs stored) or decided against the repository's written prediction, with
    the prediction and the cells beneath the verdict. ``committed(records)``: the first and last dates on
    which those records were committed (``None``: not committed), where the caller can tell;
    ``registered_on``: the date of the preregistration's commit (default: the date it states)."""
    registered = registration()  # the registration is the repository's
    on = registered_on or registered["date"]
    lines = [f"- Preregistered {on}."]
    held = [r for r in records if is_held_out(r)]
    for stage, plan in STAGES.items():
        name = "Stage 1 (the test)" if stage == 1 else f"Stage {stage}"
        p = progress(study, stage, results_dir)
        if not p.complete:
            lines.append(f"- {name}: {p.cells_complete} of {len(CELLS)} cells complete, {p.runs_stored} of "
                         f"{p.runs} runs stored; {'still computing' if p.runs_stored else 'not computed yet'}.")
            continue
        keys = {key for _, stage_keys in p.cells.values() for key in stage_keys}
        dates = committed([r for r in held if r["key"] in keys]) if committed else None  # this stage's records
        when = f" (preregistered {on}" + ("" if committed is None else
                                           f"; records committed {dates[0]} to {dates[1]}" if dates
                                           else "; records not yet committed") + ")"
        for (method, baseline), decided in zip(plan["pairs"], outcome(held, stage)):
            pair = f"{SHOWN.get(method, method)} over {SHOWN.get(baseline, baseline)}"
            lines += [f"- {name}, {pair}{when}: {line}" for line in decided.lines()]
            if decided.verdict != "not decided":
                lines += [f"  - {line}" for line in details(decided, method, registered)]
    return lines


def plan_seconds(study: Study, stage: int, results_dir: str | Path | None = None, *, left: bool = False,
                 models: Sequence[str] | None = None) -> float:
    """Expected single-process seconds of a stage on this machine (:class:`mrecg.study.runner.Timing`):
    all of it (what the preregistration states), or with ``left`` only the runs not yet stored, so that a
    later call can size its ``--stop-after``; ``models`` keeps those models' runs."""
    from ..study.records import stored
    from ..study.runner import Timing, estimated_cost

    results = paths.results_dir(results_dir)
    timing = Timing(results, "cpu")
    runs = [s for s in specs(study, stage) if not models or s.model in models]
    if left:
        runs = [s for s in runs if not stored(s, results)]
    return sum(timing.seconds(s) or estimated_cost(s) * 100 for s in runs)


__all__ = ["CELLS", "STAGES", "Outcome", "Progress", "cell_rows", "cells", "complete_cells", "decide", "details",
           "held_records", "is_held_out", "outcome", "plan_seconds", "predicted_fraction", "progress", "registration",
           "specs", "status_lines"]
