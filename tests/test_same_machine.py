"""Mixed-machine pairs made whole: the runs that ran on another machine recomputed here, the rest untouched."""

import json
import shutil
from pathlib import Path

import pytest
import torch

from mrecg import same_machine
from mrecg.config import PRESETS
from mrecg.figures import fig4, fig5
from mrecg.study.records import machine, read_record, record_path, stored
from mrecg.study.sweeps import Study, StudyError

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_the_run_from_another_machine_is_recomputed_here_and_nothing_else(tmp_path, one_thread):
    """The committed smoke batch curve, all on this machine but one run marked as an H200's."""
    results = tmp_path / "results"
    shutil.copytree(REPO / "results" / "smoke", results / "smoke")
    study = Study("smoke")
    here = dict(machine("cpu"), threads=1)
    specs = fig5.specs(study)
    paths = [record_path(s, results) for s in specs]
    for path in paths:
        record = json.loads(path.read_text())
        path.write_text(json.dumps(dict(record, machine=here)))
    moved = next(s for s in specs if s.resolved().batch_size == 16 and s.resolved().calib_size == PRESETS["smoke"][
        "calib_size"])  # paired with batch 8 and with 4x the images
    record = read_record(record_path(moved, results))
    record_path(moved, results).write_text(json.dumps(dict(record, machine=dict(here, device="NVIDIA H200"))))
    before = {p: p.read_bytes() for p in paths}

    mixed = same_machine.mixed_pairs(study, results, ["fig5"])
    assert mixed and all(moved.key() in keys for _, *keys in mixed)
    assert [s.key() for s in same_machine.plan(study, results, ["fig5"], same_machine.here("cpu", 1))] == [moved.key()]

    computed, todo, left = same_machine.recompute(study, results, ["fig5"], workers=1)
    assert computed == {moved.key()} and [s.key() for s in todo] == [moved.key()] and left == []
    assert same_machine.mixed_pairs(study, results, ["fig5"]) == []
    again = read_record(record_path(moved, results))
    assert again["machine"]["device"] == "cpu" and again["machine"]["threads"] == 1 and 0 < again["top1"] <= 100
    assert [p for p in paths if p.read_bytes() != before[p]] == [record_path(moved, results)]


def test_unknown_figures_are_refused_before_any_work():
    with pytest.raises(StudyError, match="no paired figure fig9; choose from table1, table2"):
        same_machine.check_names(["table1", "fig9"])


def test_every_pair_of_the_committed_grid_ran_on_one_machine():
    """What the findings stand on: no paired comparison of the committed mini grid spans two machines
    (Fig. 4's Welch comparison included), so no verdict is left out for mixing them."""
    assert same_machine.mixed_pairs(Study("mini"), REPO / "results") == []
    specs = [s for s in fig4.specs(Study("mini")) if stored(s, REPO / "results")]
    frame = fig4.frame([read_record(record_path(s, REPO / "results")) for s in specs])
    assert frame[frame.kind != "BRECQ"].machine.nunique() == 1
    assert all("mixed machines" not in word for _, word in fig4.claims(frame).values())
