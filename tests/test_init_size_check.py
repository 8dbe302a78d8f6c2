"""benchmarks/init_size_check.py pairs a stored run with the same run initialised on more images:
the stored record is the base only where this device type computed it, other seeds are computed
on both sides, and a rerun skips the pairs it has."""

import json
import subprocess
import sys
from pathlib import Path

from mrecg.study import records
from mrecg.study.runs import RunSpec

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "init_size_check.py"


def test_pairs_by_seed_reuse_the_stored_base_and_resume(tmp_path):
    spec = RunSpec("resnet18", "smoke", method="mrecg+brecq", w_bits=2, a_bits=4, seed=0)
    stored = records.run(spec, tmp_path, progress=False)
    out = tmp_path / "rows.jsonl"
    cmd = [sys.executable, str(SCRIPT), spec.key(), "--preset", "smoke", "--results-dir", str(tmp_path),
           "--seeds", "0", "1", "--out", str(out)]
    first = subprocess.run(cmd, capture_output=True, text=True, check=True)
    rows = {r["seed"]: r for r in map(json.loads, out.read_text().splitlines())}
    assert sorted(rows) == [0, 1]
    assert rows[0]["base"] == "the stored record" and rows[0]["top1_base"] == stored["top1"]
    assert rows[1]["base"] == "computed here"
    size = spec.config().calib_size  # the expanded set: 4 x the smoke preset's 128 images
    assert size == 512 and all(r["init_size"] == size and r["init_size_base"] == 64 for r in rows.values())
    assert all(r["device"] == "cpu" and 0 < r["top1"] <= 100 for r in rows.values())
    assert "resnet18 mrecg+brecq W2A4 (cpu), ranges from 512 vs 64 images" in first.stdout
    assert "(95 %, 2 seeds)" in first.stdout

    again = subprocess.run(cmd, capture_output=True, text=True, check=True)
    assert len(out.read_text().splitlines()) == 2 and " s\n" not in again.stdout  # nothing recomputed


def test_an_unknown_key_fails_in_one_line_before_any_work(tmp_path):
    run = subprocess.run([sys.executable, str(SCRIPT), "0123456789abcdef", "--results-dir", str(tmp_path)],
                         capture_output=True, text=True)
    assert run.returncode != 0 and run.stderr.strip().splitlines()[-1].startswith("init_size_check: no readable record")
