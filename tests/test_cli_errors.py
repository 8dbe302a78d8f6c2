"""Bad input: one line that names the fix, exit code 2, before any long computation."""

import gzip
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
# a proxy nobody listens on: every download fails at once, with or without a network
OFFLINE = {**os.environ, "http_proxy": "http://127.0.0.1:9", "https_proxy": "http://127.0.0.1:9",
           "HTTP_PROXY": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9", "TORCH_HOME": ""}


def mrecg(*args, env=None, timeout=300):
    """The command line in a fresh interpreter, running this checkout's package."""
    env = {**(env or os.environ), "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "mrecg.cli", *map(str, args)], capture_output=True, text=True,
                          env=env, timeout=timeout)


def in_process(capsys, *args) -> SimpleNamespace:
    """``mrecg.cli.main`` in this process (no interpreter to start): its exit code, stdout and stderr."""
    from mrecg.cli import main

    try:
        code = main([str(a) for a in args])
    except SystemExit as e:  # argparse: --help, usage errors
        code = e.code
    out = capsys.readouterr()
    return SimpleNamespace(returncode=code, stdout=out.out, stderr=out.err)


def one_line_error(run, text: str) -> None:
    assert run.returncode == 2, (run.returncode, run.stderr[-2000:])
    lines = [line for line in run.stderr.strip().splitlines() if line]
    assert len(lines) == 1 and text in lines[0], run.stderr[-2000:]
    assert "Traceback" not in run.stderr and "weights_only" not in run.stderr


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message given where no GPU is")
@pytest.mark.parametrize("command", ["quantize", "eval"])
def test_a_missing_gpu_is_one_line(command):
    one_line_error(mrecg(command, "--model", "resnet18", "--device", "cuda"), "torch sees no CUDA GPU")


@pytest.mark.parametrize("command", ["quantize", "eval"])
def test_a_device_name_that_is_no_device_is_one_line(command):
    one_line_error(mrecg(command, "--model", "resnet18", "--device", "gpu0"), "device must be")


def test_a_download_without_network_is_one_line_and_leaves_no_folders(tmp_path):
    one_line_error(mrecg("data", "--download", "--root", tmp_path / "fm", env=OFFLINE), "could not download Fashion-MNIST")
    assert not (tmp_path / "fm" / "FashionMNIST").exists()


def test_paper_weights_without_data_root_fail_before_downloading_and_without_network_in_one_line(tmp_path):
    one_line_error(mrecg("eval", "--model", "resnet18", "--preset", "paper", "--weights", "IMAGENET1K_V1",
                         env=OFFLINE), "the paper preset needs ImageNet")
    (tmp_path / "imagenet" / "val").mkdir(parents=True)
    env = {**OFFLINE, "TORCH_HOME": str(tmp_path / "torch")}
    one_line_error(mrecg("eval", "--model", "resnet18", "--preset", "paper", "--weights", "IMAGENET1K_V1",
                         "--data-root", tmp_path / "imagenet", env=env), "could not download torchvision's")


def test_results_csv_to_a_missing_folder_and_into_a_closed_pipe(tmp_path):
    one_line_error(mrecg("results", "--csv", tmp_path / "no" / "such" / "out.csv"),
                   f"cannot write {tmp_path / 'no' / 'such' / 'out.csv'}: there is no folder {tmp_path / 'no' / 'such'}")
    record = next((REPO / "results" / "mini").glob("[0-9a-f]*.json"))
    many = tmp_path / "many" / "mini"
    many.mkdir(parents=True)
    for i in range(400):  # far more CSV than a pipe buffers, so the writer meets the closed pipe
        shutil.copy(record, many / f"{i:04d}.json")
    run = subprocess.run(f"{sys.executable} -m mrecg.cli results --dir {tmp_path / 'many'} --csv | head -n 2",
                         shell=True, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert len(run.stdout.splitlines()) == 2 and "Error" not in run.stderr and "Traceback" not in run.stderr


def test_a_corrupt_record_is_named_and_the_table_still_loads(tmp_path):
    folder = tmp_path / "mini"
    folder.mkdir()
    good = next((REPO / "results" / "mini").glob("[0-9a-f]*.json"))
    shutil.copy(good, folder / good.name)
    (folder / "0000000000000000.json").write_text('{"top1": 8')
    run = mrecg("results", "--dir", tmp_path, "--csv")
    assert run.returncode == 0 and len(run.stdout.splitlines()) == 2
    assert "0000000000000000.json" in run.stderr


@pytest.mark.parametrize("content", [b"\x00garbage\xff" * 50, "pickle"])
def test_an_unreadable_weights_file_is_one_line_without_torchs_hint(tmp_path, content):
    path = tmp_path / "weights.pth"
    if content == "pickle":
        torch.save({"net": torch.nn.Linear(2, 2)}, path)  # a pickled module: refused by weights_only loading
    else:
        path.write_bytes(content)
    (tmp_path / "imagenet" / "val").mkdir(parents=True)
    one_line_error(mrecg("eval", "--model", "resnet18", "--preset", "paper", "--weights", path,
                         "--data-root", tmp_path / "imagenet"), "cannot read checkpoint")


def test_a_corrupt_or_truncated_training_state_is_one_line(tmp_path):
    state = tmp_path / "resnet18.state.pt"
    state.write_text("epoch=x")
    one_line_error(mrecg("train", "--model", "resnet18", "--epochs", "1", "--state-dir", tmp_path),
                   "is corrupt or truncated; delete it")
    torch.save({"name": "resnet18", "epoch": 1}, state)  # a state missing its entries
    one_line_error(mrecg("train", "--model", "resnet18", "--epochs", "1", "--state-dir", tmp_path),
                   "is corrupt or truncated")


def test_out_of_range_seed_and_zero_epochs():
    one_line_error(mrecg("quantize", "--model", "resnet18", "--preset", "smoke", "--seed", 2**64),
                   "seed must be in 0..2^63-1")
    one_line_error(mrecg("train", "--model", "resnet18", "--epochs", "0"), "epochs and batch_size must be positive")


def test_an_empty_data_root_is_not_silently_replaced_by_the_system_copy(tmp_path, monkeypatch):
    run = mrecg("data", "--root", tmp_path)
    one_line_error(run, f"Fashion-MNIST not found in {tmp_path}; install it")
    assert "/usr/share/datasets" not in run.stderr
    from mrecg import data

    monkeypatch.setattr(data, "SYSTEM_FASHION_MNIST", tmp_path / "no-system-copy")  # a machine without the package
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MRECG_DATA", raising=False)
    with pytest.raises(data.DataError) as err:
        data.load_fashion_mnist_arrays("test")
    assert str(err.value).count("no-system-copy") == 1 and str(err.value).count("data,") == 1


def test_an_unknown_setting_in_a_spec_and_k_without_a_selection_are_one_line():
    one_line_error(mrecg("quantize", "--model", "resnet18", "--preset", "smoke", "--method", "mrecg+brecq",
                         "--k", "3"), "k counts the merges of a modcap:* or random:* scheme")
    run = mrecg("reproduce", "--preset", "huge")
    assert run.returncode == 2 and "invalid choice: 'huge'" in run.stderr


def test_reproduce_into_an_unwritable_results_folder_fails_before_computing(tmp_path):
    (tmp_path / "a_file").write_text("")
    one_line_error(mrecg("reproduce", "--preset", "smoke", "--results-dir", tmp_path / "a_file", "--compute-only"),
                   "cannot create the results folder")


def test_cli_records_are_json_with_code_and_machine():
    """With progress on, stdout is the JSON object alone: progress and notices go to stderr."""
    run = mrecg("quantize", "--model", "resnet18", "--preset", "smoke", "--iters", "3", "--json")
    assert run.returncode == 0, run.stderr
    record = json.loads(run.stdout)
    assert record["code"]["fingerprint"] and record["machine"]["cpu"]
    assert "reconstruction caches:" in run.stderr


def test_splitting_a_grid_by_model_names_its_models_and_needs_compute_only(tmp_path):
    one_line_error(mrecg("reproduce", "--preset", "smoke", "--compute-only", "--models", "resnet9",
                         "--results-dir", tmp_path), "its models are mobilenetv2_x0.5, resnet18")
    one_line_error(mrecg("reproduce", "--preset", "smoke", "--models", "resnet18", "--results-dir", tmp_path),
                   "use it with --compute-only")
    assert not any(tmp_path.iterdir())


def test_stop_after_needs_compute_only_and_a_positive_time(tmp_path):
    one_line_error(mrecg("reproduce", "--preset", "smoke", "--stop-after", "30", "--results-dir", tmp_path),
                   "use it with --compute-only")
    one_line_error(mrecg("reproduce", "--preset", "smoke", "--compute-only", "--stop-after", "-1", "--results-dir",
                         tmp_path), "positive number of minutes")
    assert not any(tmp_path.iterdir())


def test_a_truncated_idx_file_is_one_line_naming_it(tmp_path, capsys):
    from mrecg import data

    for name in (f for pair in data.FASHION_MNIST_FILES.values() for f in pair[:2]):
        shutil.copy(data.find_fashion_mnist() / name, tmp_path / name)
    for name in ("train-images-idx3-ubyte.gz", "t10k-images-idx3-ubyte.gz"):  # a download cut short
        (tmp_path / name).write_bytes((tmp_path / name).read_bytes()[:5000])
    for args in (("data", "--root", tmp_path), ("eval", "--model", "resnet18", "--data-root", tmp_path),
                 ("quantize", "--model", "resnet18", "--preset", "smoke", "--data-root", tmp_path)):
        one_line_error(in_process(capsys, *args), f"cannot read {tmp_path}/")
    bad = tmp_path / "t10k-labels-idx1-ubyte.gz"
    bad.write_bytes(b"not gzip at all")
    with pytest.raises(data.DataError, match="delete it and install or download"):
        data.read_idx(bad)
    with gzip.open(bad, "wb") as f:  # a whole gzip stream still reads
        f.write(bytes([0, 0, 8, 1, 0, 0, 0, 2, 7, 9]))
    assert data.read_idx(bad).tolist() == [7, 9]


@pytest.mark.parametrize("args, message", [
    (("quantize", "--model", "resnet18", "--preset", "smoke", "--a-lr", "nan"), "a_lr must be a finite number, got nan"),
    (("quantize", "--model", "resnet18", "--w-lr", "inf"), "w_lr must be a finite number, got inf"),
    (("quantize", "--model", "resnet18", "--init-size", "5000"),
     "init_size (5000) is larger than the calibration set (1024)"),
    (("quantize", "--model", "resnet18", "--method", "brecq", "--k", "3"),
     "brecq merges no blocks, so there is nothing to count: drop k or pass scheme modcap:loss"),
    (("modcap", "--model", "resnet18", "--kind", "params", "--stride-exponent", "nan"),
     "stride_exponent must be a finite number"),
    (("modcap", "--model", "resnet18", "--kind", "params", "--bits", "9/9"), "w_bits must be in 2..8, got 9"),
    (("modcap", "--model", "resnet18", "--kind", "params", "--seed", "-1"), "seed must be in 0..2^63-1"),
    (("train", "--model", "resnet18", "--seed", "-1"), "seed must be in 0..2^63-1, got -1"),
    (("reproduce", "--preset", "smoke", "--workers", "0"), "workers must be a whole number >= 1"),
    (("reproduce", "--preset", "paper", "--compute-only"), "the paper preset needs ImageNet"),
])
def test_bad_values_are_one_line_before_any_work(capsys, args, message):
    one_line_error(in_process(capsys, *args), message)


def test_negative_workers_are_one_line_without_leaked_semaphores(tmp_path):
    run = mrecg("reproduce", "--preset", "smoke", "--compute-only", "--workers", "-1", "--results-dir", tmp_path)
    one_line_error(run, "workers must be a whole number >= 1 (or None: one per core), got -1")
    assert "semaphore" not in run.stderr and not any(tmp_path.iterdir())


def test_unusable_output_folders_fail_before_training_or_computing(tmp_path, capsys):
    a_file = tmp_path / "a_file"
    a_file.write_text("")
    one_line_error(in_process(capsys, "train", "--model", "resnet18", "--epochs", "1", "--state-dir", a_file),
                   f"cannot create the training state folder {a_file}")
    one_line_error(in_process(capsys, "train", "--model", "resnet18", "--epochs", "1", "--state-dir", tmp_path / "s",
                              "--out", a_file / "x.pt"), f"cannot create the weights' folder {a_file}")
    assert not (tmp_path / "s" / "resnet18.state.pt").exists()  # no epoch was trained
    one_line_error(in_process(capsys, "reproduce", "--preset", "smoke", "--results-dir", tmp_path / "results",
                              "--figures-dir", a_file), f"cannot create the figures folder {a_file}")
    assert not list((tmp_path / "results").rglob("*.json"))  # nothing computed


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_weights_folder_fails_before_training(tmp_path, capsys):
    (tmp_path / "ro").mkdir(mode=0o555)
    one_line_error(in_process(capsys, "train", "--model", "resnet18", "--epochs", "1", "--state-dir", tmp_path / "s",
                              "--out", tmp_path / "ro" / "x.pt"), "is not writable; pass another --out")


@pytest.mark.parametrize("args, message", [
    ((), "mrecg: error: the following arguments are required: command; see mrecg --help"),
    (("quantize", "--model", "resnet9"), "mrecg quantize: error: argument --model: invalid choice: 'resnet9'"),
    (("quantize", "--model", "resnet18", "--bits", "4"), "bits must look like W/A"),
    (("results", "--colour"), "mrecg: error: unrecognized arguments: --colour; see mrecg --help"),
])
def test_usage_errors_are_one_line_pointing_to_help(capsys, args, message):
    run = in_process(capsys, *args)
    one_line_error(run, message)
    assert run.stderr.rstrip().endswith("--help")


@pytest.mark.parametrize("command", ["", "data", "train", "eval", "quantize", "modcap", "results", "reproduce",
                                     "notebooks"])
def test_help_is_plain_text(capsys, command):
    run = in_process(capsys, *([command] if command else []), "--help")
    assert run.returncode == 0 and "usage: mrecg" in run.stdout
    assert not any(markup in run.stdout for markup in ("``", ":class:", ":func:", ":mod:", ":data:", ":meth:"))


def test_eval_takes_every_preset_that_quantize_takes():
    from mrecg.cli import build_parser

    parser = build_parser()
    for preset in ("smoke", "mini", "paper"):
        for command in ("eval", "quantize", "modcap"):
            assert parser.parse_args([command, "--model", "resnet18", "--preset", preset]).preset == preset


def test_same_machine_names_its_figures_and_needs_compute_only(tmp_path):
    one_line_error(mrecg("reproduce", "--preset", "smoke", "--compute-only", "--same-machine", "fig9",
                         "--results-dir", tmp_path), "no paired figure fig9; choose from table1")
    one_line_error(mrecg("reproduce", "--preset", "smoke", "--same-machine", "--results-dir", tmp_path),
                   "use it with --compute-only")
    assert not any(tmp_path.iterdir())


def test_reproduce_names_the_range_setups(tmp_path):
    one_line_error(mrecg("reproduce", "--preset", "smoke", "--compute-only", "--act-init", "released",
                         "--results-dir", tmp_path), "act_init must be one of ours, qdrop, mqbench")
    assert not any(tmp_path.iterdir())
