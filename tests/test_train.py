import subprocess
import sys

import pytest
import torch

from mrecg import models
from mrecg.train import TrainConfig, lr_at, train


def test_one_cycle_schedule_exact_values():
    assert lr_at(0, 100, 10, 0.1) == pytest.approx(0.01)
    assert lr_at(9, 100, 10, 0.1) == pytest.approx(0.1)
    assert lr_at(10, 100, 10, 0.1) == pytest.approx(0.1)
    assert lr_at(55, 100, 10, 0.1) == pytest.approx(0.05)
    assert lr_at(100, 100, 10, 0.1) == pytest.approx(0.0)


def test_config_validation():
    with pytest.raises(ValueError, match="epochs and batch_size must be positive"):
        TrainConfig(epochs=0)
    with pytest.raises(ValueError, match="momentum"):
        TrainConfig(momentum=1.5)


def test_training_learns_and_an_interrupted_run_resumes_bit_identically(tmp_path):
    cfg = TrainConfig(epochs=2, batch_size=64, lr=0.05, seed=3)
    whole, record = train("resnet18", cfg, tmp_path / "a.pt", progress=False, train_subset=2048)
    assert record["history"][-1]["test_top1"] > 60  # 10 classes: chance is 10%
    assert record["parameters"] == models.count_parameters(whole)
    assert record["device"] == "cpu"
    train("resnet18", cfg, tmp_path / "b.pt", progress=False, train_subset=2048, stop_after=1)
    assert torch.load(tmp_path / "b.pt", weights_only=False)["epoch"] == 1
    resumed, _ = train("resnet18", cfg, tmp_path / "b.pt", progress=False, train_subset=2048)
    for (k, a), b in zip(whole.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), k
    with pytest.raises(ValueError, match="belongs to another training run"):
        train("resnet18", TrainConfig(epochs=3), tmp_path / "b.pt", progress=False, train_subset=2048)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message given where no GPU is")
def test_training_on_cuda_without_a_gpu_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="torch sees no CUDA GPU"):
        train("resnet18", TrainConfig(epochs=1), tmp_path / "s.pt", progress=False, train_subset=64, device="cuda")


def test_cli_eval_prints_the_manifest_accuracy():
    name = "mobilenetv2_x0.5"
    out = subprocess.run(
        [sys.executable, "-m", "mrecg.cli", "eval", "--model", name, "--preset", "mini"],
        capture_output=True, text=True, check=True,
    ).stdout
    assert out.strip() == f"{name} (mini): top-1 {models.mini_manifest()[name]['fp_top1']:.2f}%"


def test_cli_bad_input_is_one_line_and_exit_code_2():
    run = subprocess.run(
        [sys.executable, "-m", "mrecg.cli", "eval", "--model", "resnet18", "--preset", "paper"],
        capture_output=True, text=True,
    )
    assert run.returncode == 2
    assert run.stderr.strip() == (
        "mrecg eval: error: the paper preset needs ImageNet: pass its root, the folder holding train/ and val/ "
        "(--data-root, or -p data_root in a notebook)"
    )
