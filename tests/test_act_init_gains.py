"""benchmarks/act_init_gains.py reads the committed act_init=ours records and sizes the rest from them."""

import importlib.util
import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def load():
    spec = importlib.util.spec_from_file_location("act_init_gains", REPO / "benchmarks" / "act_init_gains.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_estimate_is_the_committed_seconds_per_extra_setup():
    gains = load()
    committed = sum(json.loads(gains.record_path(gains.spec(m, meth, w, a, s, "ours"), gains.COMMITTED).read_text())
                    ["seconds"] for m, w, a in gains.CELLS for pair in gains.PAIRS for meth in pair for s in (0, 1, 2))
    assert gains.estimate(["ours"], [0, 1, 2]) == 0
    assert gains.estimate(["ours", "qdrop", "mqbench"], [0, 1, 2]) == pytest.approx(2 * committed)
    assert committed > 0


def test_ours_is_read_from_the_committed_records(tmp_path):
    gains = load()
    s = gains.spec("resnet18", "brecq", 2, 2, 0, "ours")
    assert gains.record(s, tmp_path)["key"] == s.key()
    assert not any(tmp_path.iterdir())  # nothing computed, nothing written
