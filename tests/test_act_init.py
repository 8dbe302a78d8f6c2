"""The released range setups (``act_init``): exact values against hand computations, the wiring
onto the float network, and record keys that the new field leaves unchanged."""

import json
from pathlib import Path

import pytest
import torch
from torch import nn

from mrecg import models
from mrecg.config import ConfigError, PTQConfig
from mrecg.quant.quantizer import ActQuantizer
from mrecg.recon.range_setup import EmaRange, mqbench_batch_range, qdrop_search, setup_ranges
from mrecg.recon.units import build_chain
from mrecg.study.runs import RunSpec

REPO = Path(__file__).resolve().parents[1]

# 99 ones and one 4, 2 bits (levels 0..3). By hand, the mean |q(x) - x|^2.4 over clips c with
# step c / 3: c = 3.0 leaves the 4 one step away (0.01); c = 3.16, 3.2, 3.24 give 0.00745,
# 0.00734, 0.00748 (the ones drift to c / 3, the 4 is clipped to c); wider clips cost the ones
# more, narrower the 4. Both released grids contain c = 3.2: QDrop's 4 * 80 / 100, MQBench's
# [1, 4] shrunk by 20 % (its low end widened to 0).
OUTLIER = torch.tensor([1.0] * 99 + [4.0])


def test_qdrop_one_sided_search_picks_the_hand_computed_clip():
    scale, zero = qdrop_search(OUTLIER, bits=2, channel_dim=None)
    assert scale == torch.tensor(4.0) / 100 * 80 / 3  # the released arithmetic: range / 100 * i, / (qmax - qmin)
    assert zero == 0


def test_qdrop_negative_data_gets_the_mirrored_clip():
    scale, zero = qdrop_search(-OUTLIER, bits=2, channel_dim=None)
    assert scale == torch.tensor(4.0) / 100 * 80 / 3
    assert zero == 3  # the grid's top level is 0


def test_qdrop_two_sided_search_is_per_channel_over_width_and_zero_point():
    # Channel 0 spans [-1, 2]: only width 3 (i = 100) with zero point 1 quantizes it exactly.
    # Channel 1 is [0, 3], non-negative, but the tensor is two-sided, so it gets the 2-D search
    # too: width 3, zero point 0 is exact. Every other candidate leaves an error.
    w = torch.tensor([[-1.0, 0.0, 1.0, 2.0], [0.0, 1.0, 2.0, 3.0]])
    scale, zero = qdrop_search(w, bits=2, channel_dim=0)
    assert scale.tolist() == [1.0, 1.0]
    assert zero.tolist() == [1.0, 0.0]


def test_mqbench_batch_range_shrinks_min_and_max_together():
    lo, hi = mqbench_batch_range(OUTLIER, bits=2)
    assert lo == torch.tensor(1.0) * 0.8 and hi == torch.tensor(4.0) * 0.8


def test_mqbench_ema_averages_the_batches_chosen_ends():
    ema = EmaRange(bits=2)
    ema.observe(torch.tensor([0.0, 1.0, 2.0, 3.0]))  # exact at [0, 3]: the first candidate wins
    ema.observe(torch.tensor([0.0, 2.0, 4.0, 6.0]))  # exact at [0, 6]
    assert ema.hi == torch.tensor(3.0) * 0.9 + torch.tensor(6.0) * 0.1
    scale, zero = ema.qparams()
    assert scale == ema.hi / 3 and zero == 0
    assert scale.item() == pytest.approx(1.1)


def test_qdrop_setup_reads_the_float_network():
    model = models.load("resnet18", "mini")
    images = torch.randn(4, 1, 32, 32)
    q, fp = build_chain(model, 2, 4), build_chain(model)
    front = nn.Sequential(q.elements[0], q.elements[1])  # the stem and the first block keep the test quick
    setup_ranges("qdrop", front, images, images, "cpu")
    assert all(aq.initialized for aq in front.modules() if isinstance(aq, ActQuantizer))
    stem = q.elements[0][0]
    with torch.no_grad():
        float_stem = fp.elements[0][0](images)  # the stem's output before the max-pool
        float_block = fp.elements[1](fp.elements[0](images))
    for aq, seen in ((stem.aq, float_stem), (q.elements[1].out_quant, float_block)):
        scale, zero = qdrop_search(seen, aq.bits, channel_dim=None)
        assert aq.scale.detach() == scale and aq.zero == zero
    # weights: the per-channel 2-D search on the folded weight
    w_scale, w_zero = qdrop_search(stem.weight, 8, channel_dim=0)
    assert torch.equal(stem.wq.scale.flatten(), w_scale) and torch.equal(stem.wq.zero.flatten(), w_zero)


def test_act_init_is_validated():
    with pytest.raises(ConfigError, match="act_init must be one of ours, qdrop, mqbench"):
        PTQConfig(act_init="brecq")


def test_default_act_init_leaves_committed_keys_unchanged():
    record = json.loads((REPO / "results" / "mini" / "059df989de0953b0.json").read_text())
    spec = RunSpec.from_dict(record["spec"])
    assert spec.key() == record["key"] == "059df989de0953b0"
    assert "act_init" not in spec.resolved().key_dict()
    assert spec.with_(act_init="ours").key() == record["key"]
    assert spec.with_(act_init="qdrop").key() != record["key"]


def test_step_gradient_scaling_multiplies_the_step_gradient_only():
    x = torch.tensor([[0.3, 1.2, 2.6, 7.0]], requires_grad=True)
    grads = {}
    for scaled in (False, True):
        aq = ActQuantizer(2)
        aq.scale.data.fill_(1.0)
        aq.initialized, aq.grad_scaled = True, scaled
        out = aq(x)
        assert out.tolist() == [[0.0, 1.0, 3.0, 3.0]]  # the value is unchanged by the scaling
        (out * torch.tensor([[1.0, 2.0, 3.0, 4.0]])).sum().backward()
        grads[scaled] = aq.scale.grad.item()
    # LSQ by hand, s = 1: dq/ds = q/s - x/s inside the grid, the clamp bound (3) outside:
    # 1 * (0 - 0.3) + 2 * (1 - 1.2) + 3 * (3 - 2.6) + 4 * 3 = 12.5
    assert grads[False] == pytest.approx(12.5)
    assert grads[True] == (torch.tensor(grads[False]) * (4 * 3) ** -0.5).item()  # 1 / sqrt(numel * qmax)
