import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from mrecg import PTQConfig, data, evaluate, models, quantize
from mrecg.config import ConfigError
from mrecg.methods import recon_loss
from mrecg.quant.layers import QuantLayer
from mrecg.recon.loop import flush_denormal, flush_denormal_enabled, reconstruct
from mrecg.recon.units import SchemeError


@pytest.fixture(scope="module")
def calib():
    return data.calibration_set(data.fashion_mnist("train"), 512, seed=0)


@pytest.fixture(scope="module")
def test_loader(fashion_test):
    return data.TensorLoader(fashion_test, batch_size=1000)


def test_brecq_beats_round_to_nearest_at_w4a4(calib, test_loader):
    model = models.load("mobilenetv2_x0.5", "mini")
    cfg = PTQConfig.preset_config("smoke", w_bits=4, a_bits=4, iters=150, batch_size=32, calib_size=256, holdout_size=128)
    nearest, rep_n = quantize(model, calib, cfg.with_(method="nearest"), progress=False)
    brecq, rep_b = quantize(model, calib, cfg.with_(method="brecq"), progress=False)
    top_n, top_b = evaluate(nearest, test_loader), evaluate(brecq, test_loader)
    assert top_b > top_n + 1.0, (top_n, top_b)
    # reconstruction lowers the loss of the blocks it optimises, against nearest rounding
    blocks = [u for u in rep_b.units if u.blocks]
    improved = [u.loss < u.loss_nearest for u in blocks]
    assert sum(improved) >= 0.8 * len(blocks)
    assert blocks[3].loss < 0.9 * blocks[3].loss_nearest
    # the same per-block error is recorded for every method, one per block, on the hold-out batch
    assert len(rep_n.block_errors) == len(rep_b.block_errors) == 17
    assert sum(rep_b.block_errors) < sum(rep_n.block_errors)
    assert rep_b.holdout == "held-out" and rep_b.scheme == [[b] for b in range(17)]


def test_same_config_and_seed_give_identical_results(calib):
    model = models.load("resnet18", "mini")
    cfg = PTQConfig.preset_config("smoke", method="qdrop", w_bits=2, a_bits=4)
    _, a = quantize(model, calib, cfg, progress=False)
    _, b = quantize(model, calib, cfg, progress=False)
    _, c = quantize(model, calib, cfg.with_(seed=1), progress=False)
    assert a.unit_losses == b.unit_losses and a.block_errors == b.block_errors
    assert a.unit_losses != c.unit_losses


def test_layerwise_adaround_runs_every_layer_as_a_unit(calib):
    model = models.load("resnet18", "mini")
    cfg = PTQConfig.preset_config("smoke", method="adaround", w_bits=4, a_bits=4, iters=20, trace_every=5)
    q, rep = quantize(model, calib, cfg, progress=False)
    assert len(rep.units) == 21 and rep.units[1].name == "layer1.0/body.0"
    assert all(len(u.trace) == 5 for u in rep.units) and all(u.seconds > 0 for u in rep.units)
    assert len(rep.errors) == 10 and len(rep.block_errors) == 8
    assert all(layer.wq.mode == "hard" for layer in q.layers())
    assert rep.scheme == []


def test_merged_units_record_one_loss_each_and_per_block_errors(calib):
    model = models.load("resnet18", "mini")
    cfg = PTQConfig.preset_config("smoke", method="brecq", iters=10, scheme=[[0], [1, 2], [3, 4], [5], [6], [7]])
    _, rep = quantize(model, calib, cfg, progress=False)
    assert [u.blocks for u in rep.units] == [[], [0], [1, 2], [3, 4], [5], [6], [7], []]
    assert len(rep.block_errors) == 8 and rep.scheme == [[0], [1, 2], [3, 4], [5], [6], [7]]


def test_reconstruction_flushes_denormals_and_restores_the_callers_setting():
    layer = QuantLayer(nn.Conv2d(2, 2, 1), None, "relu", w_bits=2, a_bits=2)
    layer.aq.observe = True
    x = torch.rand(8, 2, 3, 3)
    target = layer(x).detach()
    seen = []
    layer.register_forward_pre_hook(lambda m, i: seen.append(flush_denormal_enabled()))
    torch.set_flush_denormal(False)
    reconstruct(layer, x, x, target, loss=recon_loss, iters=3, batch_size=4, keep_prob=1.0, w_lr=1e-3, a_lr=4e-5, round_lambda=0.1,
                warmup=0.2, device="cpu", generator=torch.Generator().manual_seed(0), trace_every=1)
    assert seen == [True] * 3 and not flush_denormal_enabled()
    with flush_denormal():
        assert flush_denormal_enabled()
    assert not flush_denormal_enabled()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(method="gptq"), "unknown method 'gptq'"),
        (dict(w_bits=1), "w_bits must be in 2..8"),
        (dict(w_bits=9), "w_bits must be in 2..8"),
        (dict(a_bits=1), "a_bits must be in 2..8"),
        (dict(iters=0), "iters must be > 0"),
        (dict(batch_size=-1), "batch_size must be > 0"),
        (dict(calib_size=16, batch_size=32), "smaller than the batch"),
        (dict(keep_prob=0.0), "keep_prob must be in"),
        (dict(a_lr=float("nan")), "a_lr must be a finite number, got nan"),
        (dict(stride_exponent=float("inf")), "stride_exponent must be a finite number, got inf"),
        (dict(init_size=2048), "init_size \\(2048\\) is larger than the calibration set \\(1024\\)"),
    ],
)
def test_bad_config_is_one_clear_line(kwargs, message):
    with pytest.raises(ConfigError, match=message) as err:
        PTQConfig(**kwargs)
    assert "\n" not in str(err.value)


def test_malformed_scheme_fails_before_any_work(calib):
    cfg = PTQConfig.preset_config("smoke", scheme=[[0, 2], [1], [3], [4], [5], [6], [7]])
    with pytest.raises(SchemeError, match="consecutive"):
        quantize(models.load("resnet18", "mini"), calib, cfg, progress=False)


def test_unknown_preset():
    with pytest.raises(ConfigError, match="unknown preset 'huge'"):
        PTQConfig.preset_config("huge")


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "mrecg.cli", *args], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})


def test_cli_quantize_prints_one_json_record():
    run = _cli("quantize", "--model", "resnet18", "--preset", "smoke", "--method", "brecq", "--bits", "2/4",
               "--seed", "1", "--json", "--quiet")
    assert run.returncode == 0, run.stderr
    record = json.loads(run.stdout)
    assert record["model"] == "resnet18" and record["bits"] == "2/4" and record["seed"] == 1
    assert record["fp_top1"] == models.mini_manifest()["resnet18"]["fp_top1"]
    assert 10 < record["top1"] <= 100 and len(record["unit_losses"]) == 10 and record["seconds"] > 0


@pytest.mark.parametrize(
    "args, message",
    [
        (["--bits", "4"], "bits must look like W/A"),
        (["--bits", "1/4"], "w_bits must be in 2..8"),
        (["--iters", "-5"], "iters must be > 0"),
        (["--calib-size", "8"], "smaller than the batch"),
    ],
)
def test_cli_quantize_bad_input(args, message):
    run = _cli("quantize", "--model", "resnet18", "--preset", "smoke", *args)
    assert run.returncode == 2 and message in run.stderr.strip().splitlines()[-1]


def test_disk_cache_is_bit_identical_and_fp16_cache_is_close(calib):
    model = models.load("resnet18", "mini")
    cfg = PTQConfig.preset_config("smoke", method="brecq", iters=10)
    _, ram = quantize(model, calib, cfg, progress=False)
    _, disk = quantize(model, calib, cfg.with_(cache_device="disk"), progress=False)
    _, half = quantize(model, calib, cfg.with_(cache_dtype="float16"), progress=False)
    assert disk.unit_losses == ram.unit_losses
    # fp16 inputs move a few rounding decisions; early units agree closely, the total within 10 %
    assert half.unit_losses[:3] == pytest.approx(ram.unit_losses[:3], rel=0.02)
    assert sum(half.unit_losses) == pytest.approx(sum(ram.unit_losses), rel=0.10)
    with pytest.raises(ConfigError, match="cache_device"):
        cfg.with_(cache_device="tape")
