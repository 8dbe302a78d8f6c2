"""Notebook 00's toy: it meets the theorem's premises, its capacity knob reaches the quantizers, its
measures mean what they say, the committed sweep decides the claims as the notebook prints them, and
the interactive control redraws (from the cache, and computing a new setting)."""

from pathlib import Path

import pytest
import torch

from mrecg import data
from mrecg.config import PTQConfig
from mrecg.figures import Study
from mrecg.figures import toy as toy_figure
from mrecg.layers import QuantLayer
from mrecg.ptq import quantize
from mrecg.study import toy

RESULTS = Path(__file__).resolve().parents[1] / "results"


@pytest.fixture
def no_compute(monkeypatch):
    monkeypatch.setattr(toy, "run", lambda *a, **k: pytest.fail("a cached toy run was computed"))


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
        assert toy.capacity_contrast(cap.values, cap.comparable) == pytest.approx(
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
    assert toy.excess_variation([1, 2, 3, 5]) == 0  # monotone: no oscillation however steep
    assert toy.excess_variation([0, 2, 1, 3]) == pytest.approx(2)  # one fall of 1 on a rising curve
    assert toy.oscillation_share([0, 2, 1, 3]) == pytest.approx(0.4)  # 2 of a total variation of 5
    assert toy.oscillation_share([4, 4, 4]) == 0
    assert toy.unit_ends([[0, 1], [2], [3, 4]]) == [1, 2, 4]
    assert toy.capacity_contrast([1, 2, 1, 4], [True, False, True]) == pytest.approx(1.5)
    record = {"errors": [{"block": None, "error": 1, "fp_energy": 1}]
              + [{"block": i, "error": e, "fp_energy": 2} for i, e in enumerate((1, 3, 2, 4))]
              + [{"block": None, "error": 1, "fp_energy": 4}], "modcap": [2, 1, 2, 1]}
    assert toy.block_values(record["errors"]) == [0.5, 1.5, 1.0, 2.0]
    assert toy.output_error(record["errors"]) == 0.25
    assert toy.step_means(record) == {"rise": -0.5, "drop": 1.0, "agree": 1.0}  # every step as the theorem says
