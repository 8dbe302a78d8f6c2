"""Every Python block of the README and of the book's pages (docs/*.md, where the README's Python API,
records and "How to extend" sections moved) runs as written (the long one at the smoke preset), so the
prose and the code cannot drift apart."""

import re
from pathlib import Path

import pytest
from conftest import load_script

from mrecg import methods
from mrecg.study import records, runs

ROOT = Path(__file__).resolve().parents[1]
PYTHON = r"```python\n(.*?)```"
# the pages holding Python blocks, in the order their blocks run (later blocks use earlier ones' names)
PAGES = [ROOT / "README.md", ROOT / "docs" / "usage.md", ROOT / "docs" / "records.md", ROOT / "docs" / "extend.md"]
BLOCKS = [block for page in PAGES for block in re.findall(PYTHON, page.read_text(), flags=re.S)]


def test_the_readme_has_the_blocks_this_test_runs():
    holding = {p for p in [ROOT / "README.md", *(ROOT / "docs").rglob("*.md")]
               if "_build" not in p.parts and re.search(PYTHON, p.read_text(), flags=re.S)}
    assert holding <= set(PAGES), f"Python blocks this test does not run: {sorted(map(str, holding - set(PAGES)))}"
    assert len(BLOCKS) == 4
    assert 'PTQConfig.preset_config("mini", method="mrecg+qdrop"' in BLOCKS[1]
    assert "methods.register(" in BLOCKS[3]


def test_the_api_blocks_run_and_the_cached_experiment_is_read_not_computed(monkeypatch, capsys):
    namespace: dict = {}
    exec(BLOCKS[0], namespace)
    assert 85 < float(capsys.readouterr().out.split()[-1]) < 95
    # the quantization block as written, at the smoke preset (the mini one takes minutes)
    exec(BLOCKS[1].replace('preset_config("mini"', 'preset_config("smoke"'), namespace)
    assert namespace["chosen"].source == "official" and namespace["cfg"].batch_size == 128
    assert [u.blocks for u in namespace["report"].units if u.blocks] == namespace["report"].scheme
    monkeypatch.setattr(records, "compute", lambda *a, **k: pytest.fail("the README's cached run was computed"))
    exec(BLOCKS[2], namespace)
    assert namespace["record"]["top1"] > 80 and len(namespace["table"]) > 50


def test_the_loss_only_method_of_how_to_extend(capsys):
    namespace: dict = {}
    try:
        exec(BLOCKS[3], namespace)
        top1 = float(capsys.readouterr().out.split()[-1])
        assert top1 > 80, top1
        report = namespace["report"]
        # the loop optimised the L1 loss: units end below their round-to-nearest loss
        better = [u.loss < u.loss_nearest for u in report.units if u.blocks]
        assert sum(better) >= 0.75 * len(better)
        # ...and the method's own loss was called by the loop
        calls = []
        l1 = namespace["l1_loss"]
        methods.METHODS["brecq-l1"] = methods.Method("brecq-l1", loss=lambda p, t: calls.append(1) or l1(p, t))
        spec = runs.RunSpec("resnet18", "smoke", method="brecq-l1", iters=3)
        assert spec.key() != runs.RunSpec("resnet18", "smoke", method="brecq", iters=3).key()
        from mrecg import PTQConfig, data, models, quantize
        quantize(models.load("resnet18", "mini"), data.calibration_set(data.fashion_mnist("train"), 192, 0),
                 PTQConfig.preset_config("smoke", method="brecq-l1", iters=3), progress=False)
        # 3 iterations in each of the 10 units (stem, 8 blocks, head), and each unit's loss measured with it
        # before and after its reconstruction (one chunk of the 128 smoke images each)
        assert len(calls) == (3 + 2) * 10
    finally:
        methods.METHODS.pop("brecq-l1", None)


def test_findings_md_is_the_generated_list_of_the_committed_records():
    """FINDINGS.md is regenerated and compared: a number typed in, or left over from other records, fails."""
    module = load_script("scripts/readme_tables.py")
    text = module.FINDINGS.read_text()
    assert text == module.findings_file(), "FINDINGS.md is stale: run python scripts/readme_tables.py"
    assert "family (released MRECG over its baseline" in text  # the family-level answer leads Table 1
    assert "contradicted" not in text and "supported" not in text  # no verdict rests on a fixed floor
