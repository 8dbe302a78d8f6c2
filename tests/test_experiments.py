import json
import subprocess
import sys
import time

import pytest

from mrecg import config, experiments
from mrecg.experiments import RunSpec, load_results, record_path, run

SPEC = RunSpec("resnet18", preset="smoke", method="brecq", w_bits=4, a_bits=4, iters=5)


def test_cache_hit_returns_the_identical_record_without_recomputing(tmp_path, monkeypatch):
    first = run(SPEC, tmp_path, progress=False)
    assert first["top1"] > 10 and len(first["units"]) == 10 and len(first["errors"]) == 10
    stored = record_path(SPEC, tmp_path)
    assert stored.parent.name == "smoke" and json.loads(stored.read_text()) == first

    def boom(*a, **k):
        raise AssertionError("recomputed a cached run")

    monkeypatch.setattr(experiments, "compute", boom)
    assert run(SPEC, tmp_path) == first
    with pytest.raises(AssertionError, match="recomputed"):
        run(SPEC, tmp_path, force=True)


def test_spec_hash_is_stable_across_processes():
    code = ("from mrecg.experiments import RunSpec; "
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
    code = (f"from mrecg.experiments import RunSpec, run; "
            f"run(RunSpec('resnet18', preset='smoke', method='brecq', iters=400), {str(tmp_path)!r}, progress=False)")
    proc = subprocess.Popen([sys.executable, "-c", code])
    time.sleep(12)  # inside the reconstruction loop by now
    proc.kill()
    proc.wait()
    assert not record_path(spec, tmp_path).exists()
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]  # not even a temporary file
    record = run(spec.__class__(**{**spec.to_dict(), "iters": 5}), tmp_path, progress=False)
    assert record["spec"]["iters"] == 5 and len(list(tmp_path.rglob("*.json"))) == 1


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
