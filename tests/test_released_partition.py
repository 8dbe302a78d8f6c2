"""The released MRECG partition: joint edge units, the pooled 8-bit classifier input, the
official schemes' labels, and the model-family lookup."""

import json
from importlib import resources

import pytest
import torch
from torch import nn
from torchvision import models as tvm

from mrecg import data, models
from mrecg.merging.schemes import official_labels, official_scheme, released_unit_blocks
from mrecg.methods import recon_loss
from mrecg.quant.quantizer import ActQuantizer
from mrecg.recon.loop import cached_loss, reconstruct
from mrecg.recon.units import POOL, SchemeError, build_chain, partition

RELEASED = json.loads(resources.files("mrecg").joinpath("resources", "released", "partition.json").read_text())
# The official merges, in our element names / 0-based block numbers (paper, configs' comments)
OFFICIAL_NAMES = {
    "resnet18": ["layer1.1+layer2.0", "layer2.1+layer3.0"],
    "resnet50": ["layer1.2+layer2.0", "layer2.3+layer3.0+layer3.1", "layer3.5+layer4.0"],
}
OFFICIAL_MERGES = {
    "resnet18": [(1, 2), (3, 4)],  # layer1.1+layer2.0, layer2.1+layer3.0
    "resnet50": [(2, 3), (6, 7, 8), (12, 13)],  # layer1.2+layer2.0, layer2.3+layer3.0+layer3.1, layer3.5+layer4.0
    "mobilenetv2": [(2, 3), (5, 6), (8, 9, 10), (11, 12, 13), (15, 16)],
}


def _released_modules(chain, units, family):
    """Our units as the released code's module names (the resource's vocabulary)."""
    table = RELEASED["element_modules"]["mobilenetv2" if family == "mobilenetv2" else "resnet"]
    return [[m for e in u.elements for m in table.get(chain.names[e], [chain.names[e]])] for u in units]


@pytest.mark.parametrize("preset", ["mini", "paper"])
@pytest.mark.parametrize("name", models.NAMES)
def test_released_partition_equals_the_released_codes_units(name, preset):
    family = models.family(name)
    model = models.build(name, preset)
    chain = build_chain(model, None, 4, pooled_head=True)  # float weights: quantizing paper weights costs minutes
    for kind, scheme in (("natural", None), ("official", official_scheme(models.family(name)))):
        units = partition(chain, "block", scheme, joint_edges=True)
        assert _released_modules(chain, units, family) == RELEASED["units"][family][kind], kind
    natural = partition(chain, "block", None, joint_edges=True)
    assert [u.blocks for u in natural] == released_unit_blocks(family)
    # every chain element, each block included, is in exactly one unit: ptq.quantize measures each
    assert [e for u in natural for e in u.elements] == list(range(len(chain.elements)))
    assert len(official_labels(family)) == len(natural)  # one label per released unit
    if preset == "paper":  # the resource's module names are torchvision's
        named = dict(model.named_modules())
        ops = {"reshape", "mean"}
        assert all(m in named or m in ops for u in RELEASED["units"][family]["natural"] for m in u)


def test_released_unit_names_are_informative():
    mbv2 = partition(build_chain(models.build("mobilenetv2_x0.5", "mini"), None, 4, pooled_head=True), "block",
                     official_scheme("mobilenetv2"), joint_edges=True)
    assert [u.name for u in mbv2][:3] == ["stem+features.1", "features.2", "features.3+features.4"]
    assert mbv2[-1].name == "last_conv+pool+classifier" and mbv2[-1].blocks == ()
    assert mbv2[0].elements == (0, 1) and mbv2[0].blocks == (0,)
    r18 = partition(build_chain(models.build("resnet18", "mini"), None, 4, pooled_head=True), "block", None,
                    joint_edges=True)
    assert [u.name for u in r18][-3:] == ["layer4.0", "layer4.1+pool", "fc"]
    assert r18[-2].blocks == (7,) and r18[0].name == "stem"


@pytest.mark.parametrize("name", ["resnet18", "resnet50", "mobilenetv2_x1.0", "mobilenetv2_x0.5"])
def test_official_merges_land_on_the_documented_blocks(name):
    chain = build_chain(models.build(name, "mini"), None, 4, pooled_head=True)
    units = partition(chain, "block", official_scheme(models.family(name)), joint_edges=True)
    assert [u.blocks for u in units if len(u.blocks) > 1] == OFFICIAL_MERGES[models.family(name)]
    if name in OFFICIAL_NAMES:
        assert [u.name for u in units if len(u.blocks) > 1] == OFFICIAL_NAMES[name]
    # the baselines' partition of the same scheme merges the same blocks
    baseline = partition(build_chain(models.build(name, "mini"), None, 4), "block", official_scheme(models.family(name)))
    assert [u.blocks for u in baseline if u.blocks] == [u.blocks for u in units if u.blocks]


@pytest.mark.parametrize("name", ["resnet18", "mobilenetv2_x0.5"])
def test_pooled_head_moves_the_8bit_quantizer_onto_the_pooled_vector(name):
    model = models.build(name, "mini")
    default, released = build_chain(model, None, 4), build_chain(model, None, 4, pooled_head=True)
    bits = lambda m: [a.bits for a in m.modules() if isinstance(a, ActQuantizer)]
    assert bits(default)[-1] == 8 and bits(released)[-1] == 8
    assert bits(default)[:-1] == bits(released)[:-1] and set(bits(released)[:-1]) == {4}
    pool = released.names.index(POOL)
    assert isinstance(released.elements[pool][-1], ActQuantizer)  # the pooled vector
    last_map = released.elements[pool - 1]
    if name == "resnet18":
        assert isinstance(last_map.out_quant, nn.Identity)
    else:
        assert last_map[-1].aq is None


def _initialised(chain, x):
    for a in chain.modules():
        if isinstance(a, ActQuantizer):
            a.observe = True
    with torch.no_grad():
        chain.eval()(x)
    return chain


def test_pooled_quantizer_changes_nothing_on_a_1x1_map_and_something_on_a_larger_one():
    model = models.load("resnet18", "mini")
    x = data.calibration_set(data.fashion_mnist("test"), 32, seed=0)
    a = _initialised(build_chain(model, None, 4), x)
    b = _initialised(build_chain(model, None, 4, pooled_head=True), x)
    with torch.no_grad():
        assert torch.equal(a(x), b(x))  # mini: layer4's map is 1 x 1, pooling is the identity
        big = torch.nn.functional.interpolate(x[:8], size=64)  # layer4's map 2 x 2
        a = _initialised(build_chain(model, None, 4), big)
        b = _initialised(build_chain(model, None, 4, pooled_head=True), big)
        assert not torch.equal(a(big), b(big))


def test_released_float_chain_is_the_model():
    model = models.load("mobilenetv2_x0.5", "mini")
    x = torch.randn(4, 1, 32, 32)
    with torch.no_grad():
        assert torch.allclose(build_chain(model, pooled_head=True)(x), model(x), atol=1e-4, rtol=1e-4)


def _run(elements, x):
    with torch.no_grad():
        for e in elements:
            x = e.eval()(x)
    return x


def test_joint_units_reconstruct_as_one_problem():
    """The stem+block0 unit and the last_conv+pool+classifier unit reconstructed the way
    ptq.quantize reconstructs a unit: one module, float input and output of its elements."""
    torch.manual_seed(0)
    model = models.load("mobilenetv2_x0.35", "mini")
    calib = data.calibration_set(data.fashion_mnist("train"), 256, seed=0)
    fp, q = build_chain(model, pooled_head=True), build_chain(model, 2, 4, pooled_head=True)
    weights = [layer.wq.bits for layer in q.layers()]
    assert weights[0] == weights[-1] == 8 and set(weights[1:-1]) == {2}  # stem and classifier at 8 bits
    units = partition(q, "block", official_scheme("mobilenetv2"), joint_edges=True)
    _initialised(q, calib[:128])
    gen = torch.Generator().manual_seed(0)
    for unit in (units[0], units[-1]):
        x = _run(fp.elements[: unit.elements[0]], calib)
        target = _run([fp.elements[i] for i in unit.elements], x)
        module = nn.Sequential(*[q.elements[i] for i in unit.elements])
        nearest = cached_loss(module, x, target, "cpu", recon_loss)
        trace = reconstruct(module, x, x, target, iters=300, loss=recon_loss, batch_size=32, keep_prob=1.0, w_lr=1e-2, a_lr=4e-5,
                            round_lambda=0.1, warmup=0.2, device="cpu", generator=gen, trace_every=100)
        after = cached_loss(module, x, target, "cpu", recon_loss)
        print(unit.name, f"nearest {nearest:.4f} -> {after:.4f}")
        assert len(trace.points) >= 3 and after < nearest, unit.name
    assert target.shape == (256, 10)  # the last unit is matched on the logits


def test_inconsistent_released_layout_is_one_clear_line():
    model = models.build("resnet18", "mini")
    with pytest.raises(SchemeError, match="needs both") as err:
        partition(build_chain(model, None, 4), "block", None, joint_edges=True)
    assert "\n" not in str(err.value)
    with pytest.raises(SchemeError, match="needs both"):
        partition(build_chain(model, None, 4, pooled_head=True), "block")
    with pytest.raises(SchemeError, match="use block granularity"):
        partition(build_chain(model, None, 4, pooled_head=True), "layer", joint_edges=True)


@pytest.mark.parametrize("preset", ["mini", "paper"])
def test_model_family_from_type_and_configuration_and_from_the_name(preset):
    """One function answers for a model and for its name, and the two agree."""
    assert [models.family(models.build(n, preset)) for n in models.NAMES] == [
        "resnet18", "resnet50"] + ["mobilenetv2"] * 4 == [models.family(n) for n in models.NAMES]


@pytest.mark.parametrize(
    "model, message",
    [
        # 16 blocks, as ResNet-50 (and RegNetX-600MF) have: counting blocks cannot tell them apart
        (tvm.regnet_x_800mf, "no known family for model type RegNet"),
        (tvm.resnet34, r"ResNet of BasicBlocks \(3, 4, 6, 3\)"),
        (lambda: models.MiniResNet(tvm.resnet.Bottleneck, (2, 2, 2, 2), 8, 1, 10), r"ResNet of Bottlenecks \(2, 2, 2, 2\)"),
    ],
)
def test_unknown_model_family_is_one_clear_line(model, message):
    with pytest.raises(models.ModelError, match=message) as err:
        models.family(model())
    assert "\n" not in str(err.value)
