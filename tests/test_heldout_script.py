"""scripts/heldout.py: the held-out cells are computed only on code that descends from the
preregistration, whole cells first."""

import subprocess
from pathlib import Path

import pytest
from conftest import load_script

from mrecg.figures import heldout
from mrecg.study import runner
from mrecg.study.sweeps import Study

REPO = Path(__file__).resolve().parents[1]


def load():
    return load_script("scripts/heldout.py")


def test_runs_are_grouped_by_cell_in_the_registered_order():
    script = load()
    specs = heldout.specs(Study("mini"), 1)
    groups = [script.cell_of(s) for s in specs]
    assert groups == sorted(groups) and set(groups) == set(range(len(heldout.CELLS)))
    assert all(groups.count(g) == 6 for g in set(groups))  # 2 methods x 3 seeds per cell


def test_a_short_call_can_take_the_cheapest_cells_first():
    script = load()
    specs = heldout.specs(Study("mini"), 1)
    group = script.cheapest_cell_first(specs)
    order = sorted(heldout.CELLS, key=lambda c: group(next(s for s in specs if script.cell_of(s) ==
                                                           heldout.CELLS.index(c))))
    assert order[0][0] == "mobilenetv2_x0.35" and order[-1][0] == "resnet50"  # the smallest model, the largest
    assert [group(s) for s in script.runner.schedule(specs, group)] == sorted(group(s) for s in specs)


def test_uncommitted_hashed_code_is_refused_before_any_run(tmp_path):
    if subprocess.run(["git", "rev-parse", "--is-shallow-repository"], cwd=REPO, capture_output=True,
                      text=True).stdout.strip() != "false":
        pytest.skip("needs the history")
    script = load()
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)
    assert script.refusal(clone) is None  # the committed code descends from the registration
    (clone / "mrecg" / "methods.py").write_text((clone / "mrecg" / "methods.py").read_text() + "\n# an edit\n")
    assert script.refusal(clone).startswith("the code the records hash has uncommitted changes (M mrecg/methods.py)")
    subprocess.run(["git", "-C", str(clone), "checkout", "-q", "-f", "HEAD"], check=True)
    first = subprocess.run(["git", "-C", str(clone), "rev-list", "--max-parents=0", "HEAD"], capture_output=True,
                           text=True, check=True).stdout.split()[0]
    subprocess.run(["git", "-C", str(clone), "checkout", "-q", first], check=True)
    assert "preregistration" in script.refusal(clone)  # before it: not committed there yet


def test_the_report_tells_committed_cells_from_cells_whose_records_wait_for_a_commit(tmp_path):
    script = load()
    study = Study("mini")
    cell = ("mobilenetv2_x0.35", 4, 4)  # committed in stage 1
    have, keys = heldout.progress(study, 1, REPO / "results").cells[cell]
    assert have == keys
    line = "mobilenetv2_x0.35 W4A4: "
    assert line + "complete, committed" in script.report(study, 1, REPO / "results")
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)
    subprocess.run(["git", "-C", str(clone), "rm", "-q", "--cached", *(f"results/mini/{k}.json" for k in keys)],
                   check=True)  # the files stay, untracked: computed, not committed
    assert line + "complete: commit its records" in script.report(study, 1, clone / "results", repo=clone)
    outside = tmp_path / "outside"
    (outside / "mini").mkdir(parents=True)
    for k in keys[:5]:
        (outside / "mini" / f"{k}.json").write_bytes((REPO / "results" / "mini" / f"{k}.json").read_bytes())
    assert line + "5 of 6 runs stored" in script.report(study, 1, outside)
    (outside / "mini" / f"{keys[5]}.json").write_bytes((REPO / "results" / "mini" / f"{keys[5]}.json").read_bytes())
    assert line + "complete" in script.report(study, 1, outside)


def test_an_unknown_model_is_refused_in_one_line_before_any_run(capsys):
    script = load()
    with pytest.raises(SystemExit) as exit_:
        script.main(["--stage", "1", "--models", "resnet18", "mobilenetv2_x1.0"])
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert exit_.value.code == 2 and err.endswith(
        "--models resnet18: not a held-out model; choose from mobilenetv2_x0.35, mobilenetv2_x0.75, mobilenetv2_x1.0, "
        "resnet50")


def test_the_plan_counts_what_is_left_of_the_chosen_models(tmp_path, capsys):
    study, models = Study("mini"), ["mobilenetv2_x0.35"]
    outside = tmp_path / "results"
    (outside / "mini").mkdir(parents=True)
    whole = heldout.plan_seconds(study, 1, outside, models=models)
    assert heldout.plan_seconds(study, 1, outside, left=True, models=models) == whole > 0  # nothing stored
    cell = heldout.progress(study, 1, REPO / "results").cells[("mobilenetv2_x0.35", 4, 4)][1]
    for k in cell:
        (outside / "mini" / f"{k}.json").write_bytes((REPO / "results" / "mini" / f"{k}.json").read_bytes())
    left = heldout.plan_seconds(study, 1, outside, left=True, models=models)
    timing = runner.Timing(outside, "cpu")  # the stored cell's own times
    done = sum(timing.seconds(s) for s in heldout.specs(study, 1) if s.key() in cell)
    assert left == pytest.approx(heldout.plan_seconds(study, 1, outside, models=models) - done) and 0 < left < whole
    assert heldout.plan_seconds(study, 1, outside, models=models + ["resnet50"]) > whole
    script = load()
    assert script.main(["--stage", "1", "--plan", "--models", *models]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert [line.split(":")[0] for line in out[:-1]] == [f"mobilenetv2_x0.35 W{w}A{a}" for w, a in ((4, 4), (2, 4), (3, 3))]
    assert out[-1].startswith("about 0.0 single-process hours left on this CPU, of ") and "these models' cells" in out[-1]
