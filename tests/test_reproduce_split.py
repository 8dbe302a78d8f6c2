"""A grid split across machines by model: each part computes only its models' runs (and their
ModCap passes), and the parts together are the whole grid."""

import json

from mrecg.figures import Study, all_specs
from mrecg.reproduce import reproduce


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


def test_the_device_script_brings_a_part_back_as_one_archive(tmp_path):
    """scripts/device_compute.sh as a lent machine runs it: the part's records in records-cpu.tgz."""
    import subprocess
    import tarfile
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    run = subprocess.run(["bash", "scripts/device_compute.sh", "600", "cpu", "2", "resnet18"], cwd=repo,
                         env={**__import__("os").environ, "OUT": str(tmp_path), "PRESET": "smoke"},
                         capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-2000:]
    with tarfile.open(tmp_path / "records-cpu.tgz") as archive:
        keys = {Path(n).stem for n in archive.getnames() if n.endswith(".json") and "manifest" not in n}
    grid = {s.key() for group in all_specs(Study("smoke")).values() for s in group if s.model == "resnet18"}
    assert grid <= keys and "cpu: " in run.stdout and not (tmp_path / "results-cpu").exists()
