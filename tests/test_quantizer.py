import pytest
import torch

from mrecg.quant.adaround import BetaSchedule, WeightQuantizer, inverse_rectified_sigmoid, rectified_sigmoid
from mrecg.quant.quantizer import ActQuantizer, FakeQuantSTE, fake_quantize, lp_search, scale_and_zero


@pytest.mark.parametrize(
    "bits, lo, hi, x, scale, zero, expected",
    [
        (2, -1.0, 2.0, [-1.6, -0.4, 0.26, 0.5, 1.49, 2.7], 1.0, 1, [-1, 0, 0, 0, 1, 2]),
        (3, -1.0, 2.5, [-1.3, -0.2, 0.3, 1.1, 2.6], 0.5, 2, [-1.0, 0.0, 0.5, 1.0, 2.5]),
        (4, 0.0, 1.5, [0.04, 0.76, 1.55, -0.2], 0.1, 0, [0.0, 0.8, 1.5, 0.0]),
        (8, -1.28, 1.27, [-1.3, 0.123, 1.3], 0.01, 128, [-1.28, 0.12, 1.27]),
    ],
)
def test_uniform_affine_quantizer_hand_computed(bits, lo, hi, x, scale, zero, expected):
    s, z = scale_and_zero(torch.tensor(lo), torch.tensor(hi), bits)
    assert s.item() == pytest.approx(scale) and z.item() == zero
    out = fake_quantize(torch.tensor(x), s, z, bits)
    assert torch.allclose(out, torch.tensor(expected, dtype=torch.float32), atol=1e-6)


def test_per_channel_scales_and_rounding():
    s, z = scale_and_zero(torch.tensor([-1.0, 0.0]), torch.tensor([2.0, 0.3]), 2)
    assert torch.allclose(s, torch.tensor([1.0, 0.1])) and z.tolist() == [1.0, 0.0]
    w = torch.tensor([[-0.7, 1.4, 5.0], [0.12, 0.26, -0.1]])
    out = fake_quantize(w, s[:, None], z[:, None], 2)
    assert torch.allclose(out, torch.tensor([[-1.0, 1.0, 2.0], [0.1, 0.3, 0.0]]))


def test_lp_search_is_exhaustive_over_the_shrink_grid():
    torch.manual_seed(0)
    x = torch.cat([torch.randn(4, 500), torch.tensor([[8.0], [-9.0], [0.1], [3.0]])], 1)
    scale, zero = lp_search(x, 3, channel_dim=0)
    for c in range(4):  # brute force, one channel at a time
        lo0, hi0 = min(x[c].min().item(), 0.0), max(x[c].max().item(), 0.0)
        errs = []
        for i in range(80):
            s, z = scale_and_zero(torch.tensor(lo0 * (1 - 0.01 * i)), torch.tensor(hi0 * (1 - 0.01 * i)), 3)
            errs.append(((fake_quantize(x[c], s, z, 3) - x[c]).abs() ** 2.4).mean().item())
        best = min(range(80), key=errs.__getitem__)
        s, z = scale_and_zero(torch.tensor(lo0 * (1 - 0.01 * best)), torch.tensor(hi0 * (1 - 0.01 * best)), 3)
        assert scale[c].item() == pytest.approx(s.item(), rel=1e-5) and zero[c].item() == z.item()
    assert best > 0  # the outlier channel really is clipped
    grid = torch.tensor([0.0, 1.0, 2.0, 3.0])  # already on a 2-bit grid: no shrink, zero error
    s, z = lp_search(grid, 2, channel_dim=None)
    assert s.item() == pytest.approx(1.0) and z.item() == 0


def test_learned_step_gradients_match_the_straight_through_formula():
    torch.manual_seed(0)
    x = torch.randn(1000) * 2
    x = x[~torch.isin(torch.round(x / 0.3), torch.tensor([-3.0, 4.0]))]  # autograd's clamp is ambiguous on the bound
    s1 = torch.tensor(0.3, requires_grad=True)
    x1 = x.clone().requires_grad_(True)
    FakeQuantSTE.apply(x1, s1, -3.0, 4.0).pow(2).sum().backward()
    s2 = torch.tensor(0.3, requires_grad=True)
    x2 = x.clone().requires_grad_(True)
    v = x2 / s2
    rounded = v + (v.round() - v).detach()  # round with a straight-through gradient
    (rounded.clamp(-3.0, 4.0) * s2).pow(2).sum().backward()
    assert torch.allclose(x1.grad, x2.grad) and s1.grad.item() == pytest.approx(s2.grad.item(), rel=1e-4)


def test_qdrop_keeps_quantization_with_the_given_probability():
    aq = ActQuantizer(2)
    aq.observe = True
    x = torch.rand(100_000) * 3
    quantized = aq(x)
    aq.keep_prob = 0.5
    torch.manual_seed(0)
    mixed = aq.train()(x)
    kept = (mixed == quantized) & (quantized != x)
    dropped = (mixed == x) & (quantized != x)
    assert torch.all(kept | dropped | (quantized == x))
    assert kept.sum() / (kept.sum() + dropped.sum()) == pytest.approx(0.5, abs=0.01)
    assert torch.equal(aq.eval()(x), quantized)  # never at inference


def test_activation_quantizer_refuses_to_run_uninitialised():
    with pytest.raises(RuntimeError, match="before its range was initialised"):
        ActQuantizer(4)(torch.ones(3))
    with pytest.raises(ValueError, match="bits must be in 2..8"):
        ActQuantizer(1)


def _weight_quantizer_without_clipping(w, bits):
    wq = WeightQuantizer(w, bits)
    lo, hi = w.min(1).values.clamp(max=0), w.max(1).values.clamp(min=0)
    s, z = scale_and_zero(lo, hi, bits)
    wq.scale.copy_(s[:, None]), wq.zero.copy_(z[:, None])
    return wq


def test_adaround_soft_init_reproduces_float_weights_and_hard_rounding_is_floor_or_ceil():
    torch.manual_seed(0)
    w = torch.randn(8, 50)
    wq = _weight_quantizer_without_clipping(w, 3)
    wq.init_adaround(w)
    on_grid = (w / wq.scale + wq.zero >= 0) & (w / wq.scale + wq.zero <= 7)
    assert on_grid.float().mean() > 0.95  # only the extremes fall off (the zero point is an integer)
    assert (wq(w) - w)[on_grid].abs().max() < 1e-6
    assert torch.allclose(wq(w)[~on_grid], fake_quantize(w, wq.scale, wq.zero, 3).expand_as(w)[~on_grid])
    with torch.no_grad():
        wq.v.add_(torch.randn_like(wq.v) * 3)
    wq.harden()
    grid = wq(w) / wq.scale
    floor = torch.floor(w / wq.scale)
    inner = on_grid & (floor + 1 + wq.zero <= 7)
    up = (wq.v >= 0).float()
    assert 0.2 < up[inner].mean() < 0.8  # both directions occur
    assert torch.allclose(grid[inner], (floor + up)[inner], atol=1e-5)


def test_rectified_sigmoid_reaches_zero_and_one():
    v = torch.tensor([-100.0, 100.0, 0.0])
    assert rectified_sigmoid(v).tolist() == [0.0, 1.0, pytest.approx(0.5)]
    h = torch.tensor([0.05, 0.3, 0.9])
    assert torch.allclose(rectified_sigmoid(inverse_rectified_sigmoid(h)), h, atol=1e-6)


def test_beta_schedule_exact_values():
    beta = BetaSchedule(iters=1000)
    assert [beta(t) for t in (0, 200, 600, 1000)] == [20.0, 20.0, 11.0, 2.0]
    assert not beta.active(199) and beta.active(200)


def test_rounding_regulariser_on_known_h():
    wq = WeightQuantizer(torch.zeros(1, 4), 4)
    wq.v = torch.nn.Parameter(inverse_rectified_sigmoid(torch.tensor([[0.0, 0.999999, 0.5, 0.25]])))
    # 1 - |2h - 1|^2 = [0, ~0, 1, 0.75]
    assert wq.regularizer(2.0).item() == pytest.approx(1.75, abs=1e-4)
    assert wq.regularizer(20.0).item() == pytest.approx(1 + (1 - 0.5**20), abs=1e-4)
