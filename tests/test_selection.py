import json
import re
import subprocess
import sys

import pytest
from torch import nn
from torchvision.models.resnet import BasicBlock

from mrecg import PTQConfig, data, models, quantize
from mrecg.config import ConfigError
from mrecg.merging import modcap, selection
from mrecg.merging.schemes import (
    merges_of,
    official_scheme,
    random_scheme,
    scheme_from_merges,
    top_k_merges,
    top_k_scheme,
)
from mrecg.recon.units import SchemeError, build_chain, partition, validate_scheme

STAGE_BOUNDARIES = {2, 5, 9, 12, 15}  # MobileNetV2: (last block of a stage, first of the next)


def test_data_free_modcap_of_a_two_block_network_matches_the_hand_formula():
    down = nn.Sequential(nn.Conv2d(4, 8, 1, stride=2, bias=False), nn.BatchNorm2d(8))
    blocks = [BasicBlock(4, 4), BasicBlock(4, 8, stride=2, downsample=down)]
    mc = modcap.data_free(blocks, w_bits=4)
    # block 0: two 3x3 convs 4->4 (144 weights each) at 4 bits, stride 1
    # block 1: 3x3 4->8 stride 2 (288 weights, x 2^2), 3x3 8->8 (576), 1x1 4->8 stride 2 (32, x 2^2)
    assert mc.values == [(144 + 144) * 4, 288 * 4 * 4 + 576 * 4 + 32 * 4 * 4] == [1152, 7424]
    assert mc.scores == [7424 - 1152] and mc.comparable == [True]
    assert modcap.data_free(blocks, 4, stride_exponent=1).values == [1152, 288 * 4 * 2 + 576 * 4 + 32 * 4 * 2]
    assert modcap.data_free(blocks, 2).values == [576, 3712]


def test_depthwise_convs_count_their_real_parameters():
    mc = modcap.data_free(models.build("mobilenetv2_x1.0", "paper"), w_bits=4, stride_exponent=0)
    # block 0 of MobileNetV2: depthwise 3x3 over 32 channels (288) + 1x1 32->16 (512)
    assert mc.values[0] == (288 + 512) * 4
    # block 0 has no expansion layer: not topologically homogeneous with block 1; all others are
    assert mc.comparable == [False] + [True] * 15


def test_data_free_selection_on_torchvision_mobilenetv2():
    mc = modcap.data_free(models.build("mobilenetv2_x1.0", "paper"), w_bits=4)
    chosen = top_k_merges(mc.scores, 5, mc.comparable)
    print("data-free top-5 merges (pair i joins blocks i, i+1):", sorted(chosen))
    # Our documented formula picks the jumps into the *second* block of the wide stages, and
    # only two of the five stage-boundary pairs (see docs/quantization.md, "MRECG: ModCap and the choice of merges").
    assert chosen == {6, 10, 12, 13, 15}
    assert chosen & STAGE_BOUNDARIES == {12, 15}


def _paper_curve(reference_file, label):
    text = reference_file("paper_notes.md").read_text()
    line = re.search(rf"^\s*{label}\s+([\d. ]+)$", text, re.M).group(1)
    return [float(v) for v in line.split()]


def test_oriented_differences_on_the_papers_brecq_curve_pick_the_stage_boundaries(reference_file):
    brecq = _paper_curve(reference_file, "BRECQ")
    assert len(brecq) == 17
    scores = [a - b for a, b in zip(brecq, brecq[1:])]  # a loss drop = a capacity rise
    assert top_k_merges(scores, 5) == STAGE_BOUNDARIES
    assert top_k_merges([abs(s) for s in scores], 5) != STAGE_BOUNDARIES


def test_top_k_merging_and_chaining_on_synthetic_scores():
    scores = [5.0, 1.0, 4.0, 4.5, 0.0, 3.0]  # 7 blocks
    assert top_k_scheme(scores, 3) == [[0, 1], [2, 3, 4], [5], [6]]
    assert top_k_scheme(scores, 0) == [[b] for b in range(7)]
    assert top_k_scheme(scores, 6) == [list(range(7))]
    assert top_k_scheme(scores, 3, comparable=[False, True, True, True, True, True]) == [[0], [1], [2, 3, 4], [5, 6]]
    assert top_k_merges([2.0, 2.0, 2.0], 2) == {0, 1}  # ties go to the earlier pair
    assert scheme_from_merges(5, {0, 1, 3}) == [[0, 1, 2], [3, 4]]


def test_bad_selection_input_is_one_clear_line():
    with pytest.raises(SchemeError, match="k = 7 but there are only 6 comparable adjacent pairs"):
        top_k_merges([1.0] * 6, 7)
    with pytest.raises(SchemeError, match="only 5 comparable"):
        top_k_merges([1.0] * 6, 6, comparable=[False] + [True] * 5)
    with pytest.raises(ConfigError, match="scheme 'modcap:flops' must be official, modcap:loss"):
        PTQConfig(method="mrecg+brecq", scheme="modcap:flops")
    with pytest.raises(ConfigError, match="adaround reconstructs layer by layer"):
        PTQConfig(method="adaround", scheme="official")
    with pytest.raises(ConfigError, match="scheme 'best' must be"):
        PTQConfig(method="mrecg+brecq", scheme="best")


def test_random_sampler_is_seeded_valid_and_respects_count():
    schemes = [random_scheme(17, seed, merges=5) for seed in range(50)]
    assert schemes[3] == random_scheme(17, 3, merges=5)
    assert len({json.dumps(s) for s in schemes}) > 40
    for s in schemes:
        assert validate_scheme(s, 17) == s and len(merges_of(s)) == 5
    with pytest.raises(SchemeError, match="cannot draw 17 merges"):
        random_scheme(17, 0, merges=17)


@pytest.mark.parametrize(
    "name, merged",
    [
        ("resnet18", ["layer1.1+layer2.0", "layer2.1+layer3.0"]),
        ("resnet50", ["layer1.2+layer2.0", "layer2.3+layer3.0+layer3.1", "layer3.5+layer4.0"]),
        ("mobilenetv2_x0.35", ["features.3+features.4", "features.6+features.7", "features.9+features.10+features.11",
                               "features.12+features.13+features.14", "features.16+features.17"]),
    ],
)
def test_official_schemes_in_our_block_indexing(name, merged):
    scheme = official_scheme(models.family(name))
    units = partition(build_chain(models.build(name, "mini"), 4, 4), "block", scheme)
    assert [u.name for u in units if len(u.blocks) > 1] == merged


@pytest.fixture(scope="module")
def calib():
    return data.calibration_set(data.fashion_mnist("train"), 512, seed=0)


@pytest.mark.parametrize("kind", ["loss", "params"])
def test_mrecg_runs_end_to_end_on_a_mini_checkpoint(kind, calib):
    model = models.load("mobilenetv2_x0.5", "mini")
    cfg = PTQConfig.preset_config("smoke", method="mrecg+brecq", w_bits=2, a_bits=4, scheme=f"modcap:{kind}", iters=20)
    assert (cfg.calib_size, cfg.batch_size) == (512, 128)  # the smoke preset's expanded batch: x4 images, x8 batch
    calib = data.calibration_set(data.fashion_mnist("train"), 512 + 64, seed=0)
    cfg, chosen = selection.select(model, calib, cfg)
    assert chosen.source == f"modcap:{kind}" and chosen.modcap["kind"] == kind
    values = chosen.modcap["values"]
    scores = [(a - b) if kind == "loss" else (b - a) for a, b in zip(values, values[1:])]
    assert chosen.scheme == top_k_scheme(scores, 7, chosen.modcap["comparable"])
    q, rep = quantize(model, calib, cfg, progress=False)
    merged = [u for u in rep.units if len(u.blocks) > 1]
    assert merged and [u.blocks for u in rep.units if u.blocks] == rep.scheme == chosen.scheme
    assert all(u.loss > 0 for u in rep.units) and len(rep.block_errors) == 17


def test_quantize_takes_only_a_concrete_scheme(calib):
    cfg = PTQConfig.preset_config("smoke", method="mrecg+brecq", iters=5)
    assert cfg.selection() == "official"  # the released method by default
    with pytest.raises(ConfigError, match="must be resolved to block groups first"):
        quantize(models.load("resnet18", "mini"), calib, cfg, progress=False)


def test_explicit_official_and_random_schemes_are_honoured(calib):
    model = models.load("resnet18", "mini")
    base = PTQConfig.preset_config("smoke", method="mrecg+qdrop", iters=5, calib_size=256, batch_size=32)
    cfg, chosen = selection.select(model, calib, base)
    assert chosen.scheme == official_scheme("resnet18") and chosen.source == "official"
    _, rep = quantize(model, calib, cfg, progress=False)
    assert rep.scheme == official_scheme("resnet18")
    _, chosen = selection.select(model, calib, base.with_(scheme="random:3"))
    assert chosen.scheme == random_scheme(8, 3, merges=2) and chosen.source == "random:3"
    cfg, chosen = selection.select(model, calib, base.with_(scheme=((0, 1, 2), (3,), (4,), (5,), (6,), (7,))))
    assert chosen.scheme[0] == [0, 1, 2] and chosen.source == "explicit"


def test_too_many_merges_fail_before_the_modcap_pass(calib, monkeypatch):
    monkeypatch.setattr(selection, "block_losses", lambda *a, **k: pytest.fail("ran the ModCap pass"))
    cfg = PTQConfig.preset_config("smoke", method="mrecg+brecq", scheme="modcap:loss", k=50)
    with pytest.raises(ConfigError, match="k = 50 but resnet18 has only 7 adjacent block pairs"):
        selection.select(models.load("resnet18", "mini"), calib, cfg)


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "mrecg.cli", *args], capture_output=True, text=True)


@pytest.mark.parametrize("name", models.NAMES)
def test_cli_modcap_prints_both_kinds_for_every_model(name):
    run = _cli("modcap", "--model", name, "--preset", "smoke", "--json", "--quiet")
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout)
    n_blocks = {"resnet18": 8, "resnet50": 16}.get(name, 17)
    for kind in ("params", "loss"):
        assert len(out[kind]["rows"]) == n_blocks
        assert validate_scheme(out[kind]["scheme"], n_blocks) == out[kind]["scheme"]
        assert len(merges_of(out[kind]["scheme"])) == out["k"]


def test_cli_quantize_mrecg_prints_scheme_and_modcap():
    run = _cli("quantize", "--model", "resnet18", "--preset", "smoke", "--method", "mrecg+brecq", "--bits", "2/4",
               "--scheme", "modcap:params", "--k", "3", "--calib-size", "128", "--batch-size", "16", "--json", "--quiet")
    assert run.returncode == 0, run.stderr
    record = json.loads(run.stdout)
    assert record["scheme_source"] == "modcap:params" and len(merges_of(record["scheme"])) == 3
    assert len(record["modcap"]["values"]) == 8
    bad = _cli("quantize", "--model", "resnet18", "--preset", "smoke", "--method", "mrecg+brecq",
               "--scheme", "modcap:loss", "--k", "9")
    assert bad.returncode == 2 and "k = 9 but resnet18 has only 7 adjacent block pairs" in bad.stderr
    bad = _cli("quantize", "--model", "resnet18", "--preset", "smoke", "--scheme", "[[0],[2]]")
    assert bad.returncode == 2 and ("not a run of consecutive blocks" in bad.stderr or "must cover" in bad.stderr)


def test_block_sizes_are_weight_counts():
    params = modcap.block_sizes(models.build("mobilenetv2_x1.0", "paper"))
    assert params[0] == 288 + 512 and len(params) == 17
