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
    assert manifest["computations"][-1]["worker_machines"] == [records[0]["machine"]]  # one machine computed all
