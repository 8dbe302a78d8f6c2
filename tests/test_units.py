import pytest
import torch
from torch import nn

from mrecg import models
from mrecg.quant.layers import QuantLayer
from mrecg.quant.quantizer import ActQuantizer
from mrecg.recon.units import SchemeError, build_chain, partition, validate_scheme

UNITS = {"resnet18": (21, 10), "resnet50": (54, 18)}  # (layer, block); MobileNetV2: (53, 20)


def _randomise_bn(model):
    gen = torch.Generator().manual_seed(0)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            for t, lo, hi in ((m.running_mean, -0.5, 0.5), (m.running_var, 0.5, 2.0), (m.weight.data, 0.5, 1.5), (m.bias.data, -0.2, 0.2)):
                t.copy_(torch.rand(t.shape, generator=gen) * (hi - lo) + lo)
    return model.eval()


def test_bn_folding_equals_conv_then_bn():
    conv, bn = nn.Conv2d(4, 6, 3, stride=2, padding=1, groups=2, bias=False), nn.BatchNorm2d(6)
    _randomise_bn(nn.Sequential(conv, bn))
    x = torch.randn(2, 4, 9, 9)
    assert torch.allclose(QuantLayer(conv, bn)(x), bn(conv(x)), atol=1e-6)


@pytest.mark.parametrize("name", models.NAMES)
def test_folded_float_chain_equals_the_model(name):
    model = _randomise_bn(models.build(name, "mini"))
    x = torch.randn(3, 1, 32, 32)
    with torch.no_grad():
        assert torch.allclose(build_chain(model)(x), model(x), atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("name", models.NAMES)
def test_unit_counts_for_every_model(name):
    chain = build_chain(models.build(name, "mini"), 4, 4)
    layer, block = UNITS.get(name, (53, 20))
    assert len(partition(chain, "layer")) == layer
    units = partition(chain, "block")
    assert len(units) == block
    assert [u.blocks for u in units if u.blocks] == [(b,) for b in range(block - 2 - name.startswith("mobilenet"))]


def test_first_and_last_layers_and_head_input_use_8_bits():
    chain = build_chain(models.build("mobilenetv2_x0.5", "mini"), 2, 4)
    bits = [layer.wq.bits for layer in chain.layers()]
    assert bits[0] == 8 and bits[-1] == 8 and set(bits[1:-1]) == {2}
    acts = [m.bits for m in chain.modules() if isinstance(m, ActQuantizer)]
    assert acts[-1] == 8 and set(acts[:-1]) == {4}
    # activation quantizers sit after every activation function and at every block output
    assert len(acts) == 1 + (1 + 16 * 2) + 17 + 1  # stem, inside blocks (block 0 has no expansion), outputs, last conv


def test_schemes_group_blocks_into_merged_units():
    chain = build_chain(models.build("resnet18", "mini"), 4, 4)
    units = partition(chain, "block", [[0], [1, 2], [3, 4], [5], [6], [7]])
    assert [u.name for u in units] == ["stem", "layer1.0", "layer1.1+layer2.0", "layer2.1+layer3.0", "layer3.1", "layer4.0", "layer4.1", "head"]
    assert units[2].blocks == (1, 2) and units[2].elements == (2, 3)


@pytest.mark.parametrize(
    "scheme, message",
    [
        ([[0], [1, 3], [2]], "not a run of consecutive blocks"),
        ([[0], [1]], "must cover blocks 0..3"),
        ([[0], [1], [2], [3], [4]], "out of range"),
        ([[0, 1], [], [2, 3]], "empty"),
        ([[1, 0], [2, 3]], "not a run of consecutive blocks"),
        ([[0], [0], [1, 2, 3]], "must cover blocks 0..3 once"),
        ([[0.5], [1, 2, 3]], "integer block indices"),
    ],
)
def test_malformed_schemes_are_rejected_with_one_line(scheme, message):
    with pytest.raises(SchemeError, match=message) as err:
        validate_scheme(scheme, 4)
    assert "\n" not in str(err.value)
