"""Write the preregistration of the held-out Table 1 cells (issue #24) from the committed cells and
the paper only: ``results/mini/preregistration.json`` and its reading, ``preregistration.md``.

    python scripts/preregister.py --analysis-commit COMMIT

``COMMIT`` is the commit that holds the analysis (``mrecg/figures/heldout.py``). Run once, before
any held-out run exists; it refuses to overwrite a registration or to run when a held-out record
is stored. Every number comes from :func:`mrecg.figures.heldout.predicted_fraction` and the
paper's Table 1; none is typed in.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
import warnings

from mrecg.figures import heldout, table1
from mrecg.study import paths, records
from mrecg.study.storage import save_json
from mrecg.study.sweeps import Study


def registration(analysis_commit: str) -> dict:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        stored = records.load_records(preset="mini")
    if held := [r["key"] for r in stored if heldout.is_held_out(r)]:
        sys.exit(f"preregister: {len(held)} held-out records already exist ({held[0]}, ...): too late to preregister")
    keys = {s.key() for s in table1.specs(Study("mini"))}
    prediction = heldout.predicted_fraction(table1.frame([r for r in stored if r["key"] in keys]))
    study = Study("mini")
    ref = table1.paper_cells()
    per_cell = []
    for model, bits in heldout.cells():
        row = {"model": model, "bits": bits}
        for method in ("mrecg+brecq", "mrecg+qdrop"):
            hit = ref[(ref.model == model) & (ref.bits == bits) & (ref.method == method)].iloc[0]
            row[method] = {"paper_room": round(hit.room, 2), "paper_gain": round(hit.gain, 2),
                           "paper_fraction": round(hit.fraction, 4)}
        per_cell.append(row)
    return {
        "issue": 24, "date": time.strftime("%Y-%m-%d"), "analysis_commit": analysis_commit,
        "analysis": "mrecg/figures/heldout.py (decide, cell_rows, outcome) with mrecg/study/stats.py",
        "cells": [list(c) for c in heldout.cells()],
        "stages": {str(k): {"pairs": [list(p) for p in v["pairs"]], "also": [[m, list(s)] for m, s in v["also"]],
                            "seeds": list(v["seeds"]), "runs": len(heldout.specs(study, k)),
                            "single_process_hours_here": round(heldout.plan_seconds(study, k) / 3600, 1)}
                   for k, v in heldout.STAGES.items()},
        "measure": {"per_seed": "room = float - baseline; gain = method - baseline; fraction = gain / room",
                    "per_cell": "paired 95 % t interval of the gain over seeds; predicted gain = the paper's "
                                "fraction in that cell x our mean room",
                    "pooled": "mean of the cells' mean fractions, 95 % t interval over cells"},
        "prediction": {"pooled_fraction": {m: round(v, 4) for m, v in prediction["predicted"].items()},
                       "mini_over_paper": round(prediction["mini_over_paper"], 4),
                       "paper_at_held_out": {m: round(v, 4) for m, v in prediction["paper_at_held_out"].items()},
                       "mini_family": [round(v, 4) for v in prediction["mini_family"]],
                       "paper_at_mini_cells": round(prediction["paper_at_mini_cells"], 4),
                       "per_cell": per_cell},
        "rule": {"confirmed": "pooled interval above zero and containing the predicted pooled fraction; at most "
                              f"{heldout.MAX_SMALLER} cells 'smaller' than the paper's scaled gain; ResNet-50 W4A4 "
                              "not 'larger'",
                 "partly confirmed": "pooled interval above zero, another condition failing",
                 "not confirmed": "pooled interval not above zero",
                 "max_smaller": heldout.MAX_SMALLER, "no_gain_cell": list(heldout.NO_GAIN_CELL)},
    }


def reading(reg: dict) -> str:
    p = reg["prediction"]
    rows = "\n".join(f"| {c['model']} | {c['bits']} | {c['mrecg+brecq']['paper_room']:.2f} | "
                     f"{c['mrecg+brecq']['paper_gain']:+.2f} | {c['mrecg+brecq']['paper_fraction']:.1%} | "
                     f"{c['mrecg+qdrop']['paper_fraction']:.1%} |" for c in p["per_cell"])
    stages = "\n".join(f"- Stage {k}: {', '.join(' vs '.join(pair) for pair in v['pairs'])}"
                       + (f", and {', '.join(f'{m} (seeds {s})' for m, s in v['also'])} reported only" if v["also"]
                          else "") + f"; seeds {v['seeds']}; {v['runs']} runs, about "
                       f"{v['single_process_hours_here']} single-process hours on this 2-core CPU "
                       "(half on its two cores)" for k, v in reg["stages"].items())
    lo, hi = p["mini_family"][1], p["mini_family"][2]
    brecq, qdrop = p["pooled_fraction"]["mrecg+brecq"], p["pooled_fraction"]["mrecg+qdrop"]
    return f"""# Preregistration: the held-out Table 1 cells (issue #24)

Written {reg['date']} from the paper's Table 1 and the committed mini cells only, before any run of the
cells below existed (a test refuses a held-out record added by a commit that does not descend from
the commit of this file, and any change to this file or its twin `preregistration.json`). The
analysis that will decide it is `{reg['analysis']}` at commit `{reg['analysis_commit']}`.
Generated by `python scripts/preregister.py`; every number below is computed, none typed in.

## Cells, methods, seeds

The 13 cells of the paper's Table 1 that the mini grid lacks: ResNet-50 at W4A4, W2A4, W3A3 and
W2A2; MobileNetV2 x1.0, x0.75 and x0.35 at W4A4, W2A4 and W3A3. The MobileNetV2 widths have no
released scheme; their MRECG rows apply the x0.5 scheme ("x0.5 scheme applied").

{stages}

Every paired comparison runs on one machine type; runs are computed cell by cell.

## Measure

Per seed: {reg['measure']['per_seed']}. Per cell: {reg['measure']['per_cell']}. Pooled:
{reg['measure']['pooled']}. Verdicts per cell (`mrecg/study/stats.py`): against zero (the gain's
interval above zero), and against the paper's scaled gain ("consistent", "smaller", "larger", or
"too little room to test" where the interval's half-width exceeds the scaled gain).

## Prediction

- **Pooled:** MRECG+BRECQ recovers **{brecq:.1%}** of BRECQ's loss, pooled over the 13 cells (stage 1,
  the test); MRECG+QDrop recovers **{qdrop:.1%}** of QDrop's (stage 2). Derivation: the paper recovers
  {p['paper_at_held_out']['mrecg+brecq']:.1%} over BRECQ and {p['paper_at_held_out']['mrecg+qdrop']:.1%} over QDrop (mean of its
  fractions) at these cells; at the same-machine cells already computed, the mini grid recovers
  {p['mini_family'][0]:.1%} [{lo:.1%}, {hi:.1%}] where the paper recovers {p['paper_at_mini_cells']:.1%} at the same cells, a
  ratio of {p['mini_over_paper']:.2f}; each prediction is that ratio times the paper's fraction here.
- **Per cell:** the gain equals the paper's fraction for the cell (table, BRECQ column) times our
  measured room; a cell reads "consistent" or "too little room to test", and at most
  {reg['rule']['max_smaller']} of 13 read "smaller".
- **ResNet-50 W4A4:** the paper recovers about 0 % there (74.84 vs 74.88 over BRECQ). The mini cell
  should show no gain beyond the scaled prediction: it reads "consistent" or "too little room to
  test". A gain whose interval lies above the paper's scaled gain ("larger") counts against the
  room-scaled reading.

| model | bits | paper room (BRECQ) | paper gain | paper fraction (BRECQ) | paper fraction (QDrop) |
|---|---|---|---|---|---|
{rows}

## Decision rule (stage 1; stage 2 by the same rule over MRECG+QDrop vs QDrop)

- **Confirmed:** {reg['rule']['confirmed']}.
- **Partly confirmed:** {reg['rule']['partly confirmed']}.
- **Not confirmed:** {reg['rule']['not confirmed']}.

What would count against the room-scaled reading: a pooled interval that reaches zero; a pooled
interval that excludes {brecq:.1%} (stage 1); more than {reg['rule']['max_smaller']} cells smaller than the paper's
scaled gain; a gain at ResNet-50 W4A4. Whatever the outcome, it is reported as decided here; a new
frame would be a new preregistration on another held-out set.
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--analysis-commit", required=True, help="the commit holding mrecg/figures/heldout.py")
    args = parser.parse_args(argv)
    folder = paths.results_dir() / "mini"
    if (folder / heldout.FILE).exists():
        sys.exit("preregister: results/mini/preregistration.json exists; a registration is written once")
    try:
        subprocess.run(["git", "cat-file", "-e", f"{args.analysis_commit}^{{commit}}"], check=True,
                       cwd=paths.repo_root(), capture_output=True)
    except subprocess.CalledProcessError:
        sys.exit(f"preregister: {args.analysis_commit} is not a commit of this repository")
    reg = registration(args.analysis_commit)
    save_json(reg, folder / heldout.FILE)
    (folder / "preregistration.md").write_text(reading(reg))
    print(f"wrote {folder / heldout.FILE} and preregistration.md: predicted pooled fractions "
          f"{reg['prediction']['pooled_fraction']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
