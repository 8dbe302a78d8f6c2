"""A grid split across machines by model: each part computes only its models' runs (and their
ModCap passes), and the parts together are the whole grid."""

import json

from mrecg.figures import all_specs
from mrecg.reproduce import reproduce
from mrecg.study.sweeps import Study


def test_a_split_computes_only_its_models_and_records_the_split(tmp_path):
    summary = reproduce("smoke", results_dir=str(tmp_path), notebooks=False, models=["resnet18"])
    records = [json.loads(p.read_text()) for p in (tmp_path / "smoke").glob("[0-9a-f]*.json")]
    grid = {s.key() for group in all_specs(Study("smoke")).values() for s in group
            if s.model == "resnet18"}
    assert {r["spec"]["model"] for r in records} == {"resnet18"}
    assert grid <= {r["key"] for r in records}
    assert not (tmp_path / "smoke" / "toy").exists()  # the toy has no model: the unsplit run computes it
    manifest = json.loads((tmp_path / "smoke" / "manifest.json").read_text())
    assert manifest["computations"][-1]["models"] == ["resnet18"] == summary["models"]
    assert summary["computed_runs"] == len(records)


def test_the_device_script_computes_what_is_missing_and_unpacks_here(tmp_path):
    """scripts/device_compute.sh as a lent machine runs it: the part starts from the stored records,
    brings back only the new ones (records-cpu.tgz); scripts/device_unpack.sh adds them to a results
    folder and appends the part's computation to its manifest."""
    import os
    import subprocess
    import tarfile
    from pathlib import Path

    from mrecg.study import records

    repo = Path(__file__).resolve().parents[1]
    grid = [s for group in all_specs(Study("smoke")).values() for s in group if s.model == "resnet18"]
    stored = records.run(grid[0], tmp_path / "seed", progress=False)  # committed before the call
    run = subprocess.run(["bash", "scripts/device_compute.sh", "600", "cpu", "2", "resnet18"], cwd=repo,
                         env={**os.environ, "OUT": str(tmp_path / "out"), "PRESET": "smoke",
                              "SEED_RESULTS": str(tmp_path / "seed")}, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-2000:]
    with tarfile.open(tmp_path / "out" / "records-cpu.tgz") as archive:
        names = archive.getnames()
    keys = {Path(n).stem for n in names if n.endswith(".json") and "manifest" not in n}
    assert {s.key() for s in grid[1:]} - {stored["key"]} <= keys and stored["key"] not in keys
    assert "smoke/manifest.json" in names and "cpu: " in run.stdout and not (tmp_path / "out" / "results-cpu").exists()

    here = tmp_path / "here"
    (here / "smoke").mkdir(parents=True)
    (here / "smoke" / "manifest.json").write_text(json.dumps({"preset": "smoke", "computations": [{"commit": "x"}]}))
    unpack = subprocess.run(["bash", "scripts/device_unpack.sh", str(tmp_path / "out" / "records-cpu.tgz"), str(here)],
                            cwd=repo, capture_output=True, text=True)
    assert unpack.returncode == 0, unpack.stderr
    assert {p.stem for p in (here / "smoke").glob("[0-9a-f]*.json")} == keys
    computations = json.loads((here / "smoke" / "manifest.json").read_text())["computations"]
    assert computations[0] == {"commit": "x"} and computations[1]["models"] == ["resnet18"]
