"""benchmarks/act_init_gains.py reads the committed act_init=ours records and sizes the rest from them."""

import json
import shutil

import pytest
from conftest import load_script


def load():
    return load_script("benchmarks/act_init_gains.py")


def test_estimate_is_the_committed_seconds_per_run_left(tmp_path):
    gains = load()
    committed = sum(json.loads(gains.record_path(gains.spec(m, meth, w, a, s, "ours"), gains.COMMITTED).read_text())
                    ["seconds"] for m, w, a in gains.CELLS for pair in gains.PAIRS for meth in pair for s in (0, 1, 2))
    h200 = sum(json.loads(gains.record_path(gains.spec(m, meth, w, a, s, "ours"), gains.COMMITTED).read_text())
               ["seconds"] for m, w, a in gains.CELLS for pair in gains.PAIRS for meth in pair for s in (0, 1, 2)
               if json.loads(gains.record_path(gains.spec(m, meth, w, a, s, "ours"), gains.COMMITTED).read_text())
               ["machine"]["device"] != "cpu")
    # runs committed from another machine (ResNet-18 W2A2 ran partly on an H200) are computed here again
    assert gains.estimate(["ours"], [0, 1, 2], records=tmp_path) >= h200
    assert gains.estimate(["ours", "qdrop", "mqbench"], [0, 1, 2], records=tmp_path) == pytest.approx(
        2 * committed + gains.estimate(["ours"], [0, 1, 2], records=tmp_path))
    assert committed > 0


def test_ours_is_computed_again_only_where_it_ran_on_another_machine_type(tmp_path, monkeypatch):
    gains = load()
    committed = tmp_path / "committed"  # the grid as committed, one record marked as an H200's
    shutil.copytree(gains.COMMITTED / "mini", committed / "mini")
    marked = gains.spec("resnet18", "brecq", 2, 2, 1, "ours")
    record = json.loads(gains.record_path(marked, committed).read_text())
    gains.record_path(marked, committed).write_text(json.dumps(dict(record, machine=dict(record["machine"],
                                                                                         device="NVIDIA H200"))))
    monkeypatch.setattr(gains, "COMMITTED", committed)
    tmp_path = tmp_path / "records"
    tmp_path.mkdir()
    cpu = gains.spec("mobilenetv2_x0.5", "brecq", 2, 2, 0, "ours")  # committed on a 1-thread CPU
    h200 = marked
    committed = json.loads(gains.record_path(cpu, gains.COMMITTED).read_text())
    assert gains.needs_computing(cpu, tmp_path) == (gains.machine_of(committed) != gains.here())
    assert gains.needs_computing(h200, tmp_path)  # another machine type: to compute here
    assert gains.needs_computing(gains.spec("resnet18", "brecq", 2, 2, 0, "qdrop"), tmp_path)
    # reading, whatever this machine is: the committed record when the benchmark computed none
    assert gains.record(h200, tmp_path, compute=False)["key"] == h200.key()
    assert gains.record(gains.spec("resnet18", "brecq", 2, 2, 0, "qdrop"), tmp_path, compute=False) is None
    assert not any(tmp_path.iterdir())  # nothing computed, nothing written


def test_a_table_row_never_pairs_runs_of_two_machine_types(tmp_path):
    gains = load()
    lines = gains.table(["ours"], [0, 1, 2], [("resnet18", 2, 2)], gains.PAIRS[:1], tmp_path)
    assert lines[2] == "| resnet18 | W2A2 | brecq | ours | runs of two machine types | | | |"  # CPU and H200 records


def test_cells_are_checked_before_any_work():
    gains = load()
    assert gains.parse_cell("resnet18:2/2") == ("resnet18", 2, 2)
    for bad in ("resnet18", "resnet18:4/4", "resnet18:two/2"):
        with pytest.raises(Exception, match="resnet18"):
            gains.parse_cell(bad)


def test_the_decision_follows_the_released_mrecg_setups_moves():
    from mrecg.study.stats import paired

    gains = load()
    row = dict(model="m", bits="W2A2", baseline="brecq", mixed=False, gain=None)
    within = dict(row, act_init="mqbench", move=paired([0.1, -0.2, 0.3], [0.0, 0.0, 0.0]))
    beyond = dict(row, act_init="mqbench", move=paired([0.5, 0.6, 0.55], [0.0, 0.0, 0.0]))
    other = dict(row, act_init="qdrop", move=paired([1.1, 1.2, 1.15], [0.0, 0.0, 0.0]))
    assert gains.decision([within, other]).startswith("**Keep ours.**")
    assert "Sensitivity: the `qdrop` setup moves it beyond its interval in 1 of 1 cells" in gains.decision([within, other])
    assert gains.decision([within, beyond]).startswith("**Recompute.**") and "in 1 of 2 cells" in gains.decision(
        [within, beyond])
    assert gains.decision([other]).startswith("Undecided")
    assert gains.decision([beyond], "ours").endswith("until that grid is complete, the tables below still show `ours`.")
    assert gains.decision([beyond], "mqbench").endswith("recomputed.")
    elsewhere = dict(within, model="n")  # a second cell, measured with another setup only
    assert gains.decision([within, dict(other, model="n")]).startswith(
        "Undecided: the released MRECG code's setup (`mqbench`) is measured against ours on one machine type in 1 of 2")
    assert gains.decision([within, elsewhere]).startswith("**Keep ours.**")
    assert gains.decision([beyond, dict(other, model="n")]).startswith("**Recompute.**")  # one moved cell suffices
