"""benchmarks/released_xcheck.py without the released code: its argument errors, and our side at a
tiny size writing a well-formed, resumable row."""

import json

import pytest
from conftest import load_script



@pytest.fixture(scope="module")
def xcheck():
    return load_script("benchmarks/released_xcheck.py")


def error_of(xcheck, capsys, argv: list[str]) -> str:
    assert xcheck.main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ")
    return err


def test_missing_released_folder_is_one_line(xcheck, capsys, tmp_path):
    err = error_of(xcheck, capsys, ["--released", str(tmp_path / "nowhere")])
    assert "is not a folder; it should hold QDrop/ and BRECQ/" in err


def test_folder_without_checkouts_names_the_repository(xcheck, capsys, tmp_path):
    (tmp_path / "QDrop").mkdir()
    err = error_of(xcheck, capsys, ["--released", str(tmp_path), "--runs", "qdrop:2/2"])
    assert "does not look like a checkout of wimh966/QDrop (no qdrop/solver/recon.py)" in err
    err = error_of(xcheck, capsys, ["--released", str(tmp_path), "--runs", "brecq:2/4"])
    assert "BRECQ is not a folder; clone https://github.com/yhhhli/BRECQ there" in err


def test_released_runs_need_a_checkout(xcheck, capsys):
    err = error_of(xcheck, capsys, ["--runs", "qdrop:2/4"])
    assert "released qdrop runs need --released DIR or --qdrop PATH" in err


def test_bad_run_and_iterations(xcheck, capsys):
    with pytest.raises(SystemExit) as exit_:
        xcheck.main(["--runs", "qdrop:2-4"])
    assert exit_.value.code == 2 and "must look like qdrop:2/4" in capsys.readouterr().err
    err = error_of(xcheck, capsys, ["--impl", "ours", "--iters", "0"])
    assert "--iters must be > 0, got 0" in err


def test_ours_writes_a_row_and_resumes(xcheck, capsys, tmp_path):
    out = tmp_path / "rows.jsonl"
    argv = ["--impl", "ours", "--runs", "qdrop:2/4", "--seeds", "0", "--iters", "2",
            "--variant", "with_replacement", "--out", str(out)]
    assert xcheck.main(argv) == 0
    (row,) = [json.loads(line) for line in out.read_text().splitlines()]
    assert {k: row[k] for k in ("impl", "method", "bits", "seed", "iters", "lr", "act_init", "variant")} == {
        "impl": "ours", "method": "qdrop", "bits": "2/4", "seed": 0, "iters": 2, "lr": {"w": 1e-3, "a": 4e-5},
        "act_init": "ours", "variant": ["with_replacement"]}
    assert row["code"].startswith("mrecg@") and 10 < row["top1"] <= 100
    assert row["machine"]["threads"] == 1
    capsys.readouterr()
    assert xcheck.main(argv) == 0  # the stored row is not computed again
    assert "stored" in capsys.readouterr().out and len(out.read_text().splitlines()) == 1


def test_stem_before_pool_makes_the_stem_a_layer_unit(xcheck):
    from mrecg.recon.units import build_chain, partition

    from mrecg import models

    q = build_chain(models.load("resnet18", "mini"), 2, 2)
    ours, released = partition(q, "block"), xcheck.stem_before_pool(partition)(q, "block")
    assert (ours[0].elements, ours[0].layer) == ((0,), None)  # ours: the stem with its max-pool
    assert (released[0].elements, released[0].layer) == ((0,), "0")  # the conv layer, before the max-pool
    assert type(q.elements[0].get_submodule("0")).__name__ == "QuantLayer"
    assert released[1:] == ours[1:]


def test_the_table_pairs_seeds_of_one_machine_type_and_decides_the_tolerance(xcheck):
    cpu = {"cpu": "A", "threads": 1, "device": "cpu"}
    base = dict(method="qdrop", bits="2/2", iters=500, act_init="qdrop", machine=cpu)
    released = [dict(base, impl="released", code="wimh966/QDrop@x", seed=s, top1=t, variant=[])
                for s, t in ((0, 85.0), (1, 85.2), (2, 85.4))]
    close = [dict(base, impl="ours", code="mrecg@y", seed=s, top1=t, variant=[])
             for s, t in ((0, 85.1), (1, 85.35), (2, 85.45))]  # differences +0.1, +0.15, +0.05
    ours = [dict(r, impl="ours", code="mrecg@y") for r in released]
    far = [dict(r, variant=["two_adams"], top1=r["top1"] - 1.0) for r in ours]  # -1.0 at every seed
    elsewhere = [dict(r, variant=["with_replacement"], machine=dict(cpu, cpu="B")) for r in ours]
    lines = xcheck.table(released + close + far + elsewhere).splitlines()
    rows = {line.split(" | ")[2]: line.split(" | ")[3:] for line in lines[2:]}
    assert rows["ours, act_init=qdrop"] == ["85.30", "0, 1, 2", "+0.10 [-0.02, +0.22]", "yes", "yes |"]
    assert rows["ours, act_init=qdrop, released choices: two_adams"][2:] == ["-1.00 [-1.00, -1.00]", "no", "no |"]
    assert rows["ours, act_init=qdrop, released choices: with_replacement"][2:] == ["", "", " |"]  # no pair: other CPU
    assert xcheck.within(-0.5, 0.1) == "undecided (wider)"


def test_brecq_is_measured_against_qdrops_loop_at_drop_prob_1_when_it_ran(xcheck):
    """MRECG's BRECQ is QDrop's loop keeping every quantized activation: the reference for ours and
    for yhhhli/BRECQ's own two-stage pipeline alike."""
    cpu = {"cpu": "A", "threads": 1, "device": "cpu"}
    base = dict(method="brecq", bits="2/4", iters=500, machine=cpu, variant=[])
    loop = [dict(base, impl="released", code="wimh966/QDrop@x", act_init="qdrop", seed=s, top1=90.0 + s / 10)
            for s in range(3)]
    two_stage = [dict(r, code="yhhhli/BRECQ@z", act_init="brecq", top1=r["top1"] - 1.0) for r in loop]
    ours = [dict(r, impl="ours", code="mrecg@y", act_init="ours", top1=r["top1"] + 0.1) for r in loop]
    rows = {line.split(" | ")[2]: line.split(" | ")[5] for line in xcheck.table(loop + two_stage + ours).splitlines()[2:]}
    assert rows == {"ours, act_init=ours": "+0.10 [+0.10, +0.10]", "released (wimh966/QDrop)": "",
                    "released (yhhhli/BRECQ)": "-1.00 [-1.00, -1.00]"}


def test_the_readme_names_one_configuration_per_method_and_its_reference(xcheck):
    cpu = {"cpu": "A", "threads": 1, "device": "cpu"}
    rows = [dict(impl="ours", method="qdrop", act_init="qdrop", variant=["stem_before_pool"], code="mrecg@y"),
            dict(impl="ours", method="qdrop", act_init="ours", variant=[], code="mrecg@y"),
            dict(impl="ours", method="brecq", act_init="ours", variant=[], code="mrecg@y"),
            dict(impl="released", method="brecq", act_init="qdrop", variant=[], code="wimh966/QDrop@x"),
            dict(impl="released", method="brecq", act_init="brecq", variant=[], code="yhhhli/BRECQ@z")]
    rows = [dict(r, machine=cpu, bits="2/4", iters=500, seed=0, top1=90.0) for r in rows]
    assert [(r["method"], r["act_init"]) for r in xcheck.named(rows)] == [("qdrop", "qdrop"), ("brecq", "ours"),
                                                                          ("brecq", "qdrop")]
