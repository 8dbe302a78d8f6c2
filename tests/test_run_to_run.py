"""benchmarks/run_to_run.py appends rows to a preset's noise file without rewriting what it says
about them, and the noise floor reads the new rows."""

import json

from conftest import load_script


def load():
    return load_script("benchmarks/run_to_run.py")


def row(top1: float, device: str) -> dict:
    return {"key": "k", "fingerprint": "f", "top1": top1, "cpu": "x", "device": device, "threads": 1}


def test_append_keeps_the_description_and_earlier_rows(tmp_path, capsys):
    r2r = load()
    (tmp_path / "mini").mkdir()
    path = tmp_path / "mini" / "noise.json"
    path.write_text(json.dumps({"about": "measured by hand", "rows": [row(80.0, "cpu")]}))
    r2r.append([row(80.5, "cuda")], "mini", results_dir=str(tmp_path))
    stored = json.loads(path.read_text())
    assert stored["about"] == "measured by hand"
    assert [r["top1"] for r in stored["rows"]] == [80.0, 80.5]
    assert "may land up to 0.50 pt from ours" in capsys.readouterr().out


def test_a_new_file_gets_the_standard_description(tmp_path, capsys):
    r2r = load()
    r2r.append([row(70.0, "cpu")], "smoke", results_dir=str(tmp_path))
    assert json.loads((tmp_path / "smoke" / "noise.json").read_text())["about"] == r2r.ABOUT
