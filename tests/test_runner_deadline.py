"""A sweep with a deadline starts only the runs expected to end before it (from this machine's stored
records, refined as runs end), leaves the rest for a later call, and says so."""

import json
import time

import pytest

from mrecg.reproduce import reproduce
from mrecg.study import records, runner
from mrecg.study.runs import RunSpec
from mrecg.study.sweeps import Study, StudyError

SPECS = [RunSpec("resnet18", "smoke", method="brecq", w_bits=2, a_bits=4, seed=s) for s in (1, 2)]


@pytest.fixture
def timed(tmp_path):
    """A results folder holding one smoke run computed here: the timing prior."""
    record = records.run(RunSpec("resnet18", "smoke", method="brecq", w_bits=2, a_bits=4, seed=0), tmp_path,
                             progress=False)
    return tmp_path, record


def test_timing_is_the_stored_seconds_per_cost_unit(timed):
    results, record = timed
    timing = runner.Timing(results, "cpu")
    assert timing.seconds(SPECS[0]) == pytest.approx(record["seconds"])  # same configuration, same cost
    longer = SPECS[0].with_(iters=4 * SPECS[0].iters)
    assert timing.seconds(longer) == pytest.approx(4 * record["seconds"])
    assert runner.Timing(results, "cuda").seconds(SPECS[0]) is None  # no GPU record: unknown


def test_runs_that_would_end_after_the_deadline_are_left(timed):
    results, record = timed
    soon = time.time() + 0.5 * record["seconds"]
    left = runner.compute_missing(SPECS, results, workers=1, deadline=soon)
    assert left == SPECS and not any(records.stored(s, results) for s in SPECS)
    assert runner.compute_missing(SPECS, results, workers=1, deadline=time.time() - 1) == SPECS  # past: nothing starts
    assert runner.compute_missing(SPECS, results, workers=1, deadline=time.time() + 60 * record["seconds"] + 60) == []
    assert all(records.stored(s, results) for s in SPECS)


def test_a_deadline_leaves_later_groups_unstarted_while_a_lower_one_does_not_fit(timed):
    """Cut short, a computation leaves whole groups: a short run of a later group does not start in the time a
    lower group's run cannot use (the held-out test's cells are committed whole)."""
    results, record = timed
    long_, short = SPECS[0].with_(iters=20 * SPECS[0].iters), SPECS[1]
    deadline = time.time() + 3 * record["seconds"] + 5  # the short run fits, the long one does not
    first = {long_.key(): 0, short.key(): 1}
    assert runner.compute_missing([long_, short], results, workers=1, deadline=deadline,
                                  group=lambda s: first[s.key()]) == [long_, short]
    assert not records.stored(short, results)
    short_first = {long_.key(): 1, short.key(): 0}
    assert runner.compute_missing([long_, short], results, workers=1, deadline=deadline,
                                  group=lambda s: short_first[s.key()]) == [long_]
    assert records.stored(short, results)


def test_reproduce_stops_after_and_records_what_is_left(tmp_path):
    summary = reproduce("smoke", results_dir=str(tmp_path), notebooks=False, models=["resnet18"],
                        stop_after=0.001, workers=1)
    assert summary["runs_left"] > 0 and summary["computed_runs"] <= 1  # the first run has no timing: it may start
    manifest = json.loads((tmp_path / "smoke" / "manifest.json").read_text()) if summary["computed_runs"] else None
    assert manifest is None or manifest["computations"][-1]["runs_left"] == summary["runs_left"]
    with pytest.raises(StudyError, match="use it with --compute-only"):
        reproduce("smoke", results_dir=str(tmp_path), stop_after=10)
    with pytest.raises(StudyError, match="positive number of minutes"):
        reproduce("smoke", results_dir=str(tmp_path), notebooks=False, stop_after=0)


def test_timing_prefers_the_same_kind_of_run_then_the_same_method(tmp_path):
    timing = runner.Timing(tmp_path, "cpu")  # no records: nothing known
    brecq = RunSpec("resnet18", "mini", method="brecq", w_bits=2, a_bits=4)
    assert timing.seconds(brecq) is None
    cost = runner.estimated_cost(brecq)
    timing.add(brecq, 100 * cost)
    timing.add(brecq.with_(seed=1), 300 * cost)
    assert timing.seconds(brecq) == pytest.approx(300 * cost)  # the slowest of its kind
    other_model = RunSpec("mobilenetv2_x0.5", "mini", method="brecq", w_bits=2, a_bits=4)
    assert timing.seconds(other_model) == pytest.approx(200 * runner.estimated_cost(other_model))  # same method: median
    qdrop = RunSpec("mobilenetv2_x0.5", "mini", method="qdrop", w_bits=2, a_bits=4)
    timing.add(RunSpec("resnet18", "mini", method="adaround", w_bits=2, a_bits=4),
               1000 * runner.estimated_cost(RunSpec("resnet18", "mini", method="adaround", w_bits=2, a_bits=4)))
    assert timing.seconds(qdrop) == pytest.approx(300 * runner.estimated_cost(qdrop))  # median of 100, 300, 1000


def test_the_eta_sums_what_is_expected_of_the_runs_not_ended():
    progress = runner.Progress(total=3, expected={"a": 100.0, "b": 50.0, "c": 30.0})
    assert progress.eta_seconds(workers=1, now=progress.started) == 180.0
    progress.began["a"] = progress.started
    assert progress.eta_seconds(workers=2, now=progress.started + 40) == (60.0 + 50.0 + 30.0) / 2
    assert progress.eta_seconds(workers=1, now=progress.started + 500) == 80.0  # a overran: counted as ending now
    without = runner.Progress(total=2, cost_left=10.0)  # no timing: throughput of the runs ended so far
    assert without.eta_seconds(workers=1) is None
    without.cost_done, without.cost_left = 5.0, 5.0
    assert without.eta_seconds(workers=1, now=without.started + 60) == pytest.approx(60.0)


def test_runs_start_by_group_then_longest_first():
    short, long_ = (RunSpec("resnet18", "mini", method="brecq", w_bits=2, a_bits=4, iters=n) for n in (100, 900))
    other = RunSpec("resnet18", "mini", method="brecq", w_bits=4, a_bits=4, iters=500)
    assert runner.schedule([short, other, long_]) == [long_, other, short]
    group = {short.key(): 0, long_.key(): 1, other.key(): 0}
    assert runner.schedule([short, other, long_], group=lambda s: group[s.key()]) == [other, short, long_]


def test_a_cell_is_a_notebooks_runs_of_one_model_and_bit_width():
    from mrecg.figures import all_specs
    from mrecg.reproduce import cells

    per = all_specs(Study("mini"))
    rank = cells(per)
    t1 = per["01_table1_accuracy"]
    w4a4 = {rank[s.key()] for s in t1 if (s.model, s.w_bits, s.a_bits) == ("mobilenetv2_x0.5", 4, 4)}
    w2a4 = {rank[s.key()] for s in t1 if (s.model, s.w_bits, s.a_bits) == ("mobilenetv2_x0.5", 2, 4)}
    assert len(w4a4) == len(w2a4) == 1 and w4a4 != w2a4
    ours = next(s for s in t1 if s.modcap_pass() is not None and (s.model, s.w_bits) == ("mobilenetv2_x0.5", 4))
    assert rank[ours.modcap_pass().key()] == rank[ours.key()]  # the pass goes with the cell that needs it
    shared = next(s for s in per["06_iteration_budget"] if s.key() in {t.key() for t in t1})
    assert rank[shared.key()] < min(rank[s.key()] for s in per["02_table2_components"])  # stays in Table 1's cell
