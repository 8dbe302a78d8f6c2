import json
import subprocess
import sys
import time

import pytest

from mrecg import config
from mrecg.study import fingerprint, records, runs
from mrecg.study.records import load_results, record_path, run
from mrecg.study.runs import RunSpec

SPEC = RunSpec("resnet18", preset="smoke", method="brecq", w_bits=4, a_bits=4, iters=5)


def test_cache_hit_returns_the_identical_record_without_recomputing(tmp_path, monkeypatch):
    first = run(SPEC, tmp_path, progress=False)
    assert first["top1"] > 10 and len(first["units"]) == 10 and len(first["errors"]) == 10
    stored = record_path(SPEC, tmp_path)
    assert stored.parent.name == "smoke" and json.loads(stored.read_text()) == first

    def boom(*a, **k):
        raise AssertionError("recomputed a cached run")

    monkeypatch.setattr(records, "compute", boom)
    assert run(SPEC, tmp_path) == first
    with pytest.raises(AssertionError, match="recomputed"):
        run(SPEC, tmp_path, force=True)


def test_spec_hash_is_stable_across_processes():
    code = ("from mrecg.study.runs import RunSpec; "
            "print(RunSpec('resnet18', preset='smoke', method='brecq', w_bits=4, a_bits=4, iters=5).key())")
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert other == SPEC.key()
    assert RunSpec("resnet18", preset="smoke", iters=6).key() != RunSpec("resnet18", preset="smoke", iters=5).key()
    assert RunSpec("resnet18", scheme=[[0, 1], [2]] + [[b] for b in range(3, 8)]).scheme[0] == (0, 1)


def test_changing_a_preset_changes_the_key_so_no_stale_record_is_read(monkeypatch):
    before = SPEC.key()
    monkeypatch.setitem(config.PRESETS["smoke"], "w_lr", 5e-3)
    assert SPEC.config().w_lr == 5e-3 and SPEC.key() != before


def test_a_killed_run_leaves_no_partial_record_and_the_rerun_completes(tmp_path):
    spec = RunSpec("resnet18", preset="smoke", method="brecq", iters=400)
    code = (f"from mrecg.study.runs import RunSpec, run; "
            f"run(RunSpec('resnet18', preset='smoke', method='brecq', iters=400), {str(tmp_path)!r}, progress=False)")
    proc = subprocess.Popen([sys.executable, "-c", code])
    time.sleep(12)  # inside the reconstruction loop by now
    proc.kill()
    proc.wait()
    assert not record_path(spec, tmp_path).exists()
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]  # not even a temporary file
    record = run(spec.with_(iters=5), tmp_path, progress=False)
    assert record["config"]["iters"] == 5 and len(list(tmp_path.rglob("*.json"))) == 1


def test_results_load_into_one_table_and_export_as_csv(tmp_path):
    run(SPEC, tmp_path, progress=False)
    run(RunSpec("resnet18", preset="smoke", method="nearest"), tmp_path, progress=False)
    table = load_results(tmp_path)
    assert len(table) == 2 and set(table["method"]) == {"brecq", "nearest"}
    assert {"model", "w_bits", "top1", "fp_top1", "seconds", "scheme", "merges", "units", "errors"} <= set(table.columns)
    out = subprocess.run([sys.executable, "-m", "mrecg.cli", "results", "--dir", str(tmp_path), "--csv"],
                         capture_output=True, text=True, check=True).stdout
    assert out.splitlines()[0].startswith("model,preset,method") and len(out.splitlines()) == 3


def test_bad_spec_fails_at_construction():
    with pytest.raises(ValueError, match="unknown model"):
        RunSpec("vgg16")
    with pytest.raises(ValueError, match="unknown method"):
        RunSpec("resnet18", method="gptq")
    with pytest.raises(ValueError, match="unknown setting 'figure_dir'"):
        RunSpec("resnet18", figure_dir="x")
    with pytest.raises(ValueError, match=r"seed must be in 0..2\^63-1"):
        RunSpec("resnet18", seed=2**64)


def test_one_configuration_has_one_key_however_it_is_spelled():
    assert RunSpec("resnet18", method="brecq").key() == RunSpec("resnet18", method="brecq", batch_size=32).key()
    mrecg = RunSpec("mobilenetv2_x0.5", method="mrecg+brecq", scheme="modcap:loss")
    assert mrecg.key() == RunSpec("mobilenetv2_x0.5", method="mrecg+brecq", scheme="modcap:loss", k=7,
                                  calib_size=4096, batch_size=256).key()
    assert RunSpec("resnet18", method="mrecg+brecq").key() == RunSpec("resnet18", method="mrecg+brecq",
                                                                     scheme="official").key()
    # knobs that cannot matter do not split keys: where it runs, how often it logs
    assert RunSpec("resnet18", method="brecq", device="cpu", trace_every=7).key() == RunSpec("resnet18").key()
    with pytest.raises(ValueError, match="k counts the merges of a modcap"):
        RunSpec("resnet18", method="mrecg+brecq", k=3)  # the official scheme has its own merges
    # ...while what does matter does
    assert RunSpec("resnet18", seed=1).key() != RunSpec("resnet18").key()
    assert mrecg.key() != RunSpec("mobilenetv2_x0.5", method="mrecg+brecq", scheme="modcap:loss", k=6).key()


def test_records_say_what_computed_them_and_stale_ones_are_recomputed_only_when_asked(tmp_path, monkeypatch):
    first = run(SPEC, tmp_path, progress=False)
    assert first["code"]["fingerprint"] == fingerprint.code_fingerprint()
    assert first["machine"]["cpu"] == records.cpu_model() and first["machine"]["threads"] >= 1
    assert not records.is_stale(first)
    monkeypatch.setattr(records, "code_fingerprint", lambda extra=(): "other-code")  # the code changed
    assert records.is_stale(first)
    assert run(SPEC, tmp_path) == first  # read, not recomputed
    again = run(SPEC, tmp_path, progress=False, recompute_stale=True)
    assert again["code"]["fingerprint"] == "other-code" and again["top1"] == first["top1"]


def test_the_fingerprint_ignores_docstrings_but_not_code():
    a = fingerprint.code_lines
    x = '"""doc"""\ndef f():\n    "why"\n\n    # note\n    return 1\n'
    assert a(x) == a('"""other doc"""\ndef f():\n    return 1\n') != a('def f():\n    return 2\n')


def test_a_corrupt_record_is_named_and_recomputed(tmp_path):
    path = record_path(SPEC, tmp_path)
    path.parent.mkdir(parents=True)
    path.write_text('{"top1": 9')  # truncated
    with pytest.warns(UserWarning, match=f"skipping unreadable record {path}"):
        assert records.load_records(tmp_path) == []
    with pytest.warns(UserWarning, match="unreadable record"):
        record = run(SPEC, tmp_path, progress=False)
    assert json.loads(path.read_text()) == record


def test_an_unwritable_results_folder_fails_before_computing(tmp_path, monkeypatch):
    import os

    monkeypatch.setattr(records, "compute", lambda *a, **k: pytest.fail("computed before checking the folder"))
    (tmp_path / "a_file").write_text("")
    with pytest.raises(runs.ExperimentError, match="cannot create the results folder"):
        run(SPEC, tmp_path / "a_file")  # results/<preset> would sit under a file
    if os.geteuid() != 0:  # root writes through permissions; the case above covers it
        (tmp_path / "ro" / "smoke").mkdir(parents=True)
        os.chmod(tmp_path / "ro" / "smoke", 0o555)
        with pytest.raises(runs.ExperimentError, match="is not writable"):
            run(SPEC, tmp_path / "ro")
