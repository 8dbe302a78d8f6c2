"""The preregistered test of the held-out Table 1 cells (#24): its rule on exact numbers, and the
order that makes it a test -- the registration first and never changed, every held-out record after."""

import ast
import json
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from conftest import load_script

from mrecg.figures import heldout
from mrecg.study import records

REPO = Path(__file__).resolve().parents[1]
REGISTRATION = ("results/mini/preregistration.json", "results/mini/preregistration.md")


def cells(gains, fractions, against_paper=None) -> pd.DataFrame:
    rows = [{"model": m, "bits": b, "gain": g, "fraction": f, "against_paper": "consistent"}
            for (m, b), g, f in zip(heldout.cells(), gains, fractions)]
    frame = pd.DataFrame(rows)
    for i, word in (against_paper or {}).items():
        frame.loc[i, "against_paper"] = word
    return frame


FRACTIONS = [0.10, 0.12, 0.14, 0.16, 0.18, 0.10, 0.12, 0.14, 0.16, 0.18, 0.13, 0.15, 0.11]


def test_the_rule_on_exact_numbers():
    rows = cells([1.0] * 13, FRACTIONS)
    out = heldout.decide(rows, predicted=0.139)
    mean = sum(FRACTIONS) / 13
    assert out.pooled.fraction.mean == pytest.approx(mean) and out.verdict == "confirmed"
    assert out.pooled.fraction.lo > 0 and out.pooled.fraction.lo <= 0.139 <= out.pooled.fraction.hi
    assert heldout.decide(rows, predicted=0.30).verdict == "partly confirmed"  # the prediction excluded
    smaller = cells([1.0] * 13, FRACTIONS, {0: "smaller", 1: "smaller", 2: "smaller"})
    assert heldout.decide(smaller, 0.139).reasons == ("3 cells smaller than the paper's scaled gain (at most 2 allowed)",)
    assert heldout.decide(cells([1.0] * 13, FRACTIONS, {0: "larger"}), 0.139).reasons == (
        "a gain at ResNet-50 W4A4, where the paper has none",)  # cell 0 is ResNet-50 W4A4
    around_zero = cells([0.1] * 13, [0.05, -0.05] * 6 + [0.0])
    assert heldout.decide(around_zero, 0.139).verdict == "not confirmed"
    assert heldout.decide(rows.iloc[:12], 0.139).verdict == "not decided"  # a cell missing decides nothing


def git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=True).stdout.strip()


@pytest.fixture(scope="module")
def registered() -> str:
    """The commit that added the registration (its only commit)."""
    try:
        if git("rev-parse", "--is-shallow-repository") == "true":
            pytest.skip("a shallow clone has no history to check the order against")
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    commits = {path: git("log", "--format=%H", "--", path).split() for path in REGISTRATION}
    assert all(len(c) == 1 for c in commits.values()), f"the registration was changed after it was committed: {commits}"
    assert len({c[0] for c in commits.values()}) == 1, "the registration and its twin were committed apart"
    assert git("status", "--porcelain", "--", *REGISTRATION) == "", "the registration has uncommitted changes"
    return commits[REGISTRATION[0]][0]


def test_the_registration_names_an_analysis_commit_before_it(registered):
    reg = json.loads((REPO / REGISTRATION[0]).read_text())
    analysis = reg["analysis_commit"]
    assert git("merge-base", "--is-ancestor", analysis, registered) == ""  # raises when it is not
    assert analysis != registered and reg["cells"] == [list(c) for c in heldout.cells()]
    assert 0 < reg["prediction"]["pooled_fraction"]["mrecg+brecq"] < reg["prediction"]["paper_at_held_out"]["mrecg+brecq"]


# what decides the test: the rule and its measure, down to the interval
DECIDING = {"mrecg/figures/heldout.py": ("decide", "cell_rows", "outcome", "predicted_fraction"),
            "mrecg/study/stats.py": ("t_quantile", "Paired", "mean_interval", "paired", "by_seed", "PaperCell",
                                     "RoomScaled", "room_scaled", "room_scaled_runs", "against_zero", "against_paper",
                                     "Pooled", "pooled")}


def definitions(source: str, names: tuple[str, ...]) -> dict[str, str]:
    tree = ast.parse(source)
    return {node.name: ast.get_source_segment(source, node) for node in tree.body
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name in names}


def test_the_analysis_that_decides_is_the_registered_commit_s(registered):
    """Code may be added around it, but every function of the rule and its measure reads as it did
    at the analysis commit the registration names."""
    analysis = json.loads((REPO / REGISTRATION[0]).read_text())["analysis_commit"]
    for path, names in DECIDING.items():
        then = definitions(git("show", f"{analysis}:{path}"), names)
        assert set(then) == set(names), path
        assert definitions((REPO / path).read_text(), names) == then, f"{path} changed what decides the test"


def test_every_held_out_record_comes_after_the_registration(registered):
    """A held-out record committed by a commit that does not descend from the registration is
    refused; one not yet committed sits on a checkout that does."""
    assert subprocess.run(["git", "merge-base", "--is-ancestor", registered, "HEAD"], cwd=REPO).returncode == 0
    for record in records.load_records(REPO / "results", "mini", quiet=True):
        if not heldout.is_held_out(record):
            continue
        path = f"results/mini/{record['key']}.json"
        added = git("log", "--diff-filter=A", "--format=%H", "--", path).split()
        for commit in added:
            run = subprocess.run(["git", "merge-base", "--is-ancestor", registered, commit], cwd=REPO)
            assert run.returncode == 0, f"{path} was added by {commit[:7]}, which does not descend from the " \
                                        f"preregistration {registered[:7]}"


def test_a_record_before_the_registration_is_refused(tmp_path):
    """The check can fail: in a copy of history, a held-out record committed before the
    registration is caught."""
    def run(*args):
        return subprocess.run(["git", *args], cwd=tmp_path, capture_output=True, text=True, check=True).stdout.strip()

    run("init", "-q")
    run("config", "user.email", "t@example.org")
    run("config", "user.name", "t")
    (tmp_path / "early.json").write_text("{}")
    run("add", ".")
    run("commit", "-qm", "a held-out record first")
    early = run("rev-parse", "HEAD")
    (tmp_path / "preregistration.json").write_text("{}")
    run("add", ".")
    run("commit", "-qm", "registration")
    registration = run("rev-parse", "HEAD")
    refused = subprocess.run(["git", "merge-base", "--is-ancestor", registration, early], cwd=tmp_path)
    assert refused.returncode == 1


def _held_out_record(spec, top1: float) -> dict:
    cfg = spec.resolved()
    return {"key": spec.key(), "spec": spec.to_dict(), "config": cfg.to_dict(), "top1": top1, "fp_top1": 90.0,
            "machine": {"cpu": "Xeon", "threads": 1, "device": "cpu"}}


def test_the_readme_status_counts_complete_cells_then_reports_the_outcome(tmp_path):
    """While a stage computes, the README counts its complete cells; once every run is stored it
    gives the registered rule's verdict against the written prediction."""
    from mrecg.study.sweeps import TABLES_ACT_INIT, Study

    status = load_script("scripts/readme_tables.py").heldout_status
    study = Study("mini", act_init=TABLES_ACT_INIT)
    runs = heldout.specs(study, 1)
    (tmp_path / "mini").mkdir()

    def store(specs):
        for s in specs:  # BRECQ loses 10 pt; MRECG recovers 10 % of it, +-0.1 pt over seeds
            top1 = 80.0 if s.method == "brecq" else 81.0 + 0.1 * (s.seed - 1)
            (tmp_path / "mini" / f"{s.key()}.json").write_text(json.dumps(_held_out_record(s, top1)))

    assert "Stage 1 (the test): 0 of 13 cells complete, 0 of 78 runs stored; not computed yet." in status(tmp_path)
    store(runs[:7])  # the first cell's six runs, one of the second's
    assert "Stage 1 (the test): 1 of 13 cells complete, 7 of 78 runs stored; still computing." in status(tmp_path)
    store(runs[7:])
    text = status(tmp_path)
    predicted = heldout.registration()["prediction"]["pooled_fraction"]["mrecg+brecq"]
    line = next(t for t in text.splitlines() if t.startswith("- Stage 1 (the test), MRECG+BRECQ over BRECQ"))
    assert "(preregistered 2026-12-04; records not yet committed)" in line and "; measured 10.0% [10.0%, 10.0%] (95 %, 13 cells)" in line
    assert f"Predicted pooled recovered fraction {predicted:.1%}" in line
    assert line.endswith(heldout.decide(heldout.cell_rows(
        [_held_out_record(s, 80.0 if s.method == "brecq" else 81.0 + 0.1 * (s.seed - 1)) for s in runs],
        "mrecg+brecq", "brecq"), predicted).lines()[0].split(": ", 1)[1])
    # beneath the verdict: how the prediction was made, and the cells. MRECG gains 1.0 +- 0.1 pt of a 10 pt room
    # in every cell: the 10 cells where the paper's fraction times 10 pt exceeds 1.25 read "smaller"
    below = [t for t in text.splitlines() if t.startswith("  - ")]
    assert below[0].startswith(f"  - How it was predicted: {predicted:.1%} is the paper's pooled ")
    assert below[1].startswith("  - Cells against the paper's gain scaled to our room: 2 consistent, 10 smaller, "
                               "0 larger, 1 too little room to test (at most 2 smaller allowed); against zero: 13 above")
    assert below[2].startswith("  - ResNet-50 W4A4, where the paper recovers -2%: gain +1.00 [+0.75, +1.25] pt in a "
                               "10.0 pt room (reads 'too little room to test'")
    assert below[3] == ("  - What the test can tell: in 1 of 13 cells the room is too little to test the paper's scaled "
                        "gain on its own; the pooled interval holds neither the paper's own pooled fraction at these "
                        f"cells ({heldout.registration()['prediction']['paper_at_held_out']['mrecg+brecq']:.1%}) nor "
                        f"the grid's pooled fraction ({heldout.registration()['prediction']['mini_family'][0]:.1%}).")
    assert "Stage 2: 0 of 13 cells complete" in text


def test_a_notebook_shows_the_held_out_cells_complete_so_far_and_never_computes_them(tmp_path):
    from mrecg.study.records import load_records
    from mrecg.study.sweeps import TABLES_ACT_INIT, Study

    study = Study("mini", act_init=TABLES_ACT_INIT)
    runs = heldout.specs(study, 1)
    (tmp_path / "mini").mkdir()
    for s in runs[:7]:  # the first cell's six runs, one of the second's
        (tmp_path / "mini" / f"{s.key()}.json").write_text(json.dumps(_held_out_record(s, 80.0)))
    first = (runs[0].model, heldout.bits_label((runs[0].w_bits, runs[0].a_bits)))
    assert heldout.complete_cells(study, tmp_path) == [first]
    stored = load_records(tmp_path, "mini", quiet=True)
    assert len(stored) == 7
    assert {r["key"] for r in heldout.held_records(stored, study, tmp_path)} == {s.key() for s in runs[:6]}
    assert heldout.status_lines(study, stored, tmp_path)[1] == (
        "- Stage 1 (the test): 1 of 13 cells complete, 7 of 78 runs stored; still computing.")
    assert len(list((tmp_path / "mini").glob("*.json"))) == 7  # read only
    # stage 2 in the first cell: its runs are shown only once all seven are stored, never a mean of fewer seeds
    second = [s for s in heldout.specs(study, 2) if (s.model, heldout.bits_label((s.w_bits, s.a_bits))) == first]
    assert len(second) == 7
    for count in (6, 7):
        for s in second[:count]:
            (tmp_path / "mini" / f"{s.key()}.json").write_text(json.dumps(_held_out_record(s, 80.0)))
        stored = load_records(tmp_path, "mini", quiet=True)
        shown = {r["key"] for r in heldout.held_records(stored, study, tmp_path)}
        assert shown == {s.key() for s in runs[:6] + (second if count == 7 else [])}


def test_the_last_line_says_what_a_weak_test_cannot_tell():
    """Cells mostly without room, and a pooled interval wide enough to hold the alternatives too."""
    from mrecg.study import stats

    fractions = [0.02, 0.08, 0.14, 0.20, 0.26]  # mean 14 %, interval about 3 % to 25 %
    rows = pd.DataFrame({"model": ["resnet50"] * 5, "bits": ["W4A4", "W2A4", "W3A3", "W2A2", "W4A4"],
                         "gain": [0.1] * 5, "against_zero": ["contains zero"] * 5,
                         "against_paper": [stats.TOO_LITTLE_ROOM] * 4 + ["consistent"],
                         "fraction": fractions, "gain_lo": [-0.1] * 5, "gain_hi": [0.3] * 5, "room": [1.0] * 5})
    decided = heldout.Outcome(stats.pooled(fractions, rows.gain.tolist()), 0.139, rows, "confirmed", ())
    last = heldout.details(decided, "mrecg+brecq", heldout.registration())[-1]
    assert last.startswith("What the test can tell: in 4 of 5 cells the room is too little to test the paper's "
                           "scaled gain on its own, so the conditions on cells could rarely fail; the pooled interval "
                           "also holds the paper's own pooled fraction at these cells (")
    assert last.endswith("), so it cannot tell the written prediction from them.")


def test_the_readme_s_reading_of_stage_1_matches_the_generated_verdict():
    """The prose under the status says "held" and "cannot tell": only while the generated lines
    (regenerated from the records and checked current elsewhere) say confirmed and cannot tell."""
    readme = (REPO / "README.md").read_text()
    block = readme.split("<!-- heldout-status:start -->")[1].split("<!-- heldout-status:end -->")[0]
    if "**Reading stage 1.**" not in readme:
        assert "- Stage 1 (the test), " not in block  # a decided stage is read in prose
        return
    stage1 = [line for line in block.splitlines() if line.startswith("- Stage 1 (the test), ")]
    assert len(stage1) == 1 and ": **confirmed.** " in stage1[0], stage1
    assert "so it cannot tell the written prediction from them" in block and "could rarely fail" in block


def test_a_decided_stage_dates_its_own_records_only(tmp_path):
    from mrecg.study.records import load_records
    from mrecg.study.sweeps import TABLES_ACT_INIT, Study

    study = Study("mini", act_init=TABLES_ACT_INIT)
    (tmp_path / "mini").mkdir()
    for s in heldout.specs(study, 1) + heldout.specs(study, 2)[:1]:  # stage 1 whole, one run of stage 2
        top1 = 80.0 if s.method != "mrecg+brecq" else 81.0 + 0.1 * (s.seed - 1)
        (tmp_path / "mini" / f"{s.key()}.json").write_text(json.dumps(_held_out_record(s, top1)))
    stored = load_records(tmp_path, "mini", quiet=True)
    seen = []
    lines = heldout.status_lines(study, stored, tmp_path, committed=lambda rs: seen.append(len(rs)) or ("a", "b"))
    assert seen == [78]  # the stage-2 run is not among stage 1's dates
    assert any(line.startswith("- Stage 1 (the test), MRECG+BRECQ over BRECQ (preregistered ") and
               "; records committed a to b): **" in line for line in lines)
