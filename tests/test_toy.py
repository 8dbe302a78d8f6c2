"""Notebook 00's toy: it meets the theorem's premises, its capacity knob reaches the quantizers, its
measures mean what they say, the committed sweep decides the claims as the notebook prints them, and
the interactive control redraws (from the cache, and computing a new setting)."""

from pathlib import Path

import pytest
import torch

from mrecg import data
from mrecg.config import PTQConfig
from mrecg.figures import toy as toy_figure
from mrecg.quant.layers import QuantLayer
from mrecg.recon.ptq import quantize
from mrecg.study import oscillation, toy
from mrecg.study.sweeps import Study

RESULTS = Path(__file__).resolve().parents[1] / "results"


def _forbid_computing(monkeypatch, why: str) -> None:
    """Fail on any toy run, in this process or handed to the workers."""
    monkeypatch.setattr(toy_figure, "_computed", lambda *a, **k: pytest.fail(why))
    monkeypatch.setattr(toy_figure, "_pool", lambda: pytest.fail(why))


@pytest.fixture
def no_compute(monkeypatch):
    _forbid_computing(monkeypatch, "a cached toy run was computed")


def test_the_toy_meets_the_premises_and_varies_capacity_by_bits_alone():
    model = toy.toy_model()
    blocks = list(model.features[1:-1])
    assert len(blocks) == toy.N_BLOCKS
    assert {(b.out_channels, b.use_res_connect, b.stride) for b in blocks} == {(toy.WIDTH, True, 1)}
    weights = {sum(m.weight.numel() for m in b.modules() if isinstance(m, torch.nn.Conv2d)) for b in blocks}
    assert len(weights) == 1  # equal parameter counts: only the bits differ
    for contrast, bits in ((0, 2), (1, 2), (2, 2), (3, 4)):
        cap = toy.capacity(model, toy.Setting(contrast, bits).block_bits())
        assert all(cap.comparable)
        assert [b / a for a, b in zip(cap.values, cap.values[1:])] == pytest.approx(
            [(bits + contrast) / bits, bits / (bits + contrast), (bits + contrast) / bits])
        assert oscillation.capacity_contrast(cap.values, cap.comparable) == pytest.approx(
            torch.log2(torch.tensor((bits + contrast) / bits)).item())
    assert toy.Setting(2, 3).block_bits() == [3, 5, 3, 5]
    for bad in (dict(contrast=7, bits=2), dict(contrast=-1), dict(contrast=0, bits=1), dict(contrast=1, k=4)):
        with pytest.raises(ValueError):
            toy.Setting(**bad)


def test_per_block_bits_reach_the_weight_quantizers():
    model = toy.toy_model()
    calib = data.calibration_set(data.fashion_mnist("train"), 64, 0)
    cfg = PTQConfig(method="brecq", w_bits=2, a_bits=8, iters=2, batch_size=16, calib_size=32, holdout_size=32,
                    init_size=16)
    q, report = quantize(model, calib, cfg, progress=False, block_w_bits=[2, 6, 3, 8])
    bits = [{m.wq.bits for m in q.elements[e].modules() if isinstance(m, QuantLayer)} for e in q.block_elements]
    assert bits == [{2}, {6}, {3}, {8}]
    assert {m.wq.bits for m in q.elements[0].modules() if isinstance(m, QuantLayer)} == {8}  # the first layer: 8 bits
    with pytest.raises(ValueError, match="4 blocks"):
        quantize(model, calib, cfg, progress=False, block_w_bits=[2, 4])


def test_the_measures():
    assert oscillation.excess_variation([1, 2, 3, 5]) == 0  # monotone: no oscillation however steep
    assert oscillation.excess_variation([0, 2, 1, 3]) == pytest.approx(2)  # one fall of 1 on a rising curve
    assert oscillation.oscillation_share([0, 2, 1, 3]) == pytest.approx(0.4)  # 2 of a total variation of 5
    assert oscillation.oscillation_share([4, 4, 4]) == 0
    assert oscillation.unit_ends([[0, 1], [2], [3, 4]]) == [1, 2, 4]
    assert oscillation.capacity_contrast([1, 2, 1, 4], [True, False, True]) == pytest.approx(1.5)
    record = {"errors": [{"block": None, "error": 1, "fp_energy": 1}]
              + [{"block": i, "error": e, "fp_energy": 2} for i, e in enumerate((1, 3, 2, 4))]
              + [{"block": None, "error": 1, "fp_energy": 4}], "modcap": [2, 1, 2, 1]}
    assert oscillation.block_values(record["errors"]) == [0.5, 1.5, 1.0, 2.0]
    assert oscillation.output_error(record["errors"]) == 0.25
    assert oscillation.step_means(record) == {"rise": -0.5, "drop": 1.0, "agree": 1.0}  # every step as the theorem says


def test_the_control_redraws_from_the_cache(no_compute):
    control = toy_figure.ToyControl(Study("mini"), RESULTS)  # contrast 2, bits 2, k 2: in the committed sweep
    first = control.image.value
    assert first[:8] == b"\x89PNG\r\n\x1a\n"
    assert "Setting(contrast=2, bits=2, k=2)" in control.verdicts.value
    control.contrast.value = 1
    assert control.image.value[:8] == b"\x89PNG\r\n\x1a\n" and control.image.value != first
    assert "Setting(contrast=1, bits=2, k=2)" in control.verdicts.value
    assert "(c) merging lowers the output error" in control.verdicts.value
    control.bits.value = 8  # 8 + 1 bits: refused in words, nothing computed
    assert "at most 8" in control.verdicts.value


def test_the_control_computes_a_new_setting_once(tmp_path, monkeypatch):
    study = Study("smoke")
    control = toy_figure.ToyControl(study, tmp_path, contrast=1, bits=3, k=1)
    stored = sorted((tmp_path / "smoke" / "toy").glob("*.json"))
    assert len(stored) == 2 * len(toy.PRESETS["smoke"].seeds)  # block by block and merged, at every seed
    assert "Setting(contrast=1, bits=3, k=1)" in control.verdicts.value
    # the runs were spread over the cores: a worker process gives this process's numbers exactly
    again = toy_figure._computed(toy.Setting(1, 3, 1), 0, "smoke", None)
    first = toy_figure.records(study, tmp_path, [toy.Setting(1, 3, 1)])[0]
    assert (again["errors"], again["units"], again["top1"]) == (first["errors"], first["units"], first["top1"])
    _forbid_computing(monkeypatch, "a stored setting was computed again")
    got = toy_figure.records(study, tmp_path, [toy.Setting(1, 3, 0), toy.Setting(1, 3, 1)])
    assert {r["scheme"] == [[0, 1], [2], [3]] for r in got} == {True, False}
    assert all(r["block_bits"] == [3, 4, 3, 4] for r in got)


def test_the_committed_sweep_decides_the_claims(no_compute):
    study = Study("mini")
    records = toy_figure.records(study, RESULTS, toy_figure.settings(study))
    assert len(records) == 9 * 5 and {r["seed"] for r in records} == {0, 1, 2, 3, 4}
    assert max(max(oscillation.block_values(r["errors"])) for r in records if r["setting"]["k"] == 0) < 0.4
    table = oscillation.claims(records)
    assert set(table.seeds) == {5}
    verdicts = {(r.claim, r.contrast, r.k): r.verdict for r in table.itertuples()}
    oscillates, more = "(a) the block-by-block error oscillates", "(a) it oscillates more than at contrast"
    falls, rises = "(b) the error falls where ModCap rises", "(b) the error rises where ModCap drops"
    flatter, output = "(c) merging lowers the oscillation at every block end", "(c) merging lowers the output error"
    at_ends = "(c) merging lowers the oscillation at the merged units' ends"
    assert verdicts == {
        (oscillates, 0, 0): "undecided",  # (d): no oscillation without contrast
        (oscillates, 1, 0): "supported",
        (oscillates, 2, 0): "supported",
        (f"{more} 0", 1, 0): "supported",
        (f"{more} 1", 2, 0): "undecided",  # it does not keep growing from contrast 1 to 2
        (falls, 1, 0): "undecided",  # a capacity rise does not lower the error
        (falls, 2, 0): "undecided",
        (rises, 1, 0): "supported",
        (rises, 2, 0): "supported",
        # k = 1 leaves three units, so the matched points (the units' ends) can oscillate: merging does not calm them
        (flatter, 0, 1): "undecided", (at_ends, 0, 1): "undecided", (output, 0, 1): "contradicted",
        (flatter, 1, 1): "undecided", (at_ends, 1, 1): "undecided", (output, 1, 1): "contradicted",
        (flatter, 2, 1): "undecided", (at_ends, 2, 1): "undecided", (output, 2, 1): "contradicted",
        # k = 2 leaves two units, which cannot oscillate: no unit-end row, and the block curve is flatter
        (flatter, 0, 2): "undecided", (output, 0, 2): "contradicted",
        (flatter, 1, 2): "supported", (output, 1, 2): "contradicted",
        (flatter, 2, 2): "supported", (output, 2, 2): "contradicted",  # merging raises the output error everywhere
    }
    row = table[(table.claim == output) & (table.contrast == 2) & (table.k == 2)].iloc[0]
    assert (row["mean"], row.lo, row.hi) == pytest.approx((-0.020234, -0.032059, -0.008409), abs=1e-6)
    lines = oscillation.plainly(table)
    assert "(c) merging lowers the output error: yes nowhere; no, the opposite holds, at contrast 0 (k = 1), " \
           "contrast 0 (k = 2), contrast 1 (k = 1), contrast 1 (k = 2), contrast 2 (k = 1), contrast 2 (k = 2)." in lines


def test_the_real_networks_on_the_toys_measures():
    real = toy_figure.real_frame(RESULTS, "mini")
    assert sorted(set(real.model)) == ["mobilenetv2_x0.5", "resnet18"] and set(real.label) == {"BRECQ", "MRECG"}
    table = toy_figure.real_claims(real).set_index(["model", "claim"]).verdict
    assert table.to_dict() == {
        ("mobilenetv2_x0.5", "MRECG lowers the oscillation at every block end"): "contradicted",
        ("mobilenetv2_x0.5", "MRECG lowers the oscillation at its unit ends"): "undecided",
        ("mobilenetv2_x0.5", "MRECG lowers the output error"): "supported",
        ("resnet18", "MRECG lowers the oscillation at every block end"): "undecided",
        ("resnet18", "MRECG lowers the oscillation at its unit ends"): "undecided",
        ("resnet18", "MRECG lowers the output error"): "undecided",
    }
