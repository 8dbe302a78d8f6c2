"""Runs on a real Dask cluster (a LocalCluster of 2 worker processes over loopback): the records are
the local pool's, bit for bit; a worker killed mid-sweep loses nothing; a driver killed mid-sweep
loses only its runs in flight; the paper code path runs there too."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from mrecg.study import runner
from mrecg.study.executors import ExecutorChoice
from mrecg.study.runs import RunSpec

distributed = pytest.importorskip("distributed", reason="the cluster extra: pip install -e '.[cluster]'")

REPO = Path(__file__).resolve().parents[1]
SPECS = [RunSpec("resnet18", "smoke", method="brecq", w_bits=2, a_bits=4, seed=s, iters=8) for s in range(4)]


def numbers(record: dict) -> dict:
    """A record without what differs between two computations of the same numbers: wall times, machine."""
    if isinstance(record, dict):
        return {k: numbers(v) for k, v in record.items() if k not in ("seconds", "machine")}
    return [numbers(v) for v in record] if isinstance(record, list) else record


def stored(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in (folder / "smoke").iterdir()}


@pytest.fixture(scope="module")
def cluster():
    """Two worker processes over loopback, not daemonic (what mrecg asks of any cluster's workers)."""
    import dask

    with dask.config.set({"distributed.worker.daemon": False}), distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None) as local, \
            distributed.Client(local) as client:
        yield ExecutorChoice("dask", scheduler=local.scheduler_address), client


@pytest.fixture(scope="module")
def pooled(tmp_path_factory) -> dict[str, dict]:
    """The four runs computed by this machine's pool of 2 processes: what the cluster must match."""
    folder = tmp_path_factory.mktemp("pool")
    return {r["key"]: r for r in runner.run_specs(SPECS, folder, workers=2)}


def test_the_cluster_computes_the_pools_records(cluster, pooled, tmp_path):
    choice, _ = cluster
    got = runner.run_specs(SPECS, tmp_path, executor=choice)
    assert [numbers(r) for r in got] == [numbers(pooled[s.key()]) for s in SPECS]
    assert {r["machine"]["threads"] for r in got} == {1} == {r["machine"]["threads"] for r in pooled.values()}


def test_a_worker_killed_mid_sweep_loses_nothing(cluster, pooled, tmp_path):
    choice, client = cluster
    done: list = []
    sweep = threading.Thread(target=lambda: done.append(
        runner.compute_missing(SPECS, tmp_path, executor=choice, report=lambda p, w: done.append(p.done))))
    sweep.start()
    deadline = time.time() + 600
    while not (tmp_path / "smoke").is_dir() or not any((tmp_path / "smoke").glob("*.json")):
        assert sweep.is_alive() and time.time() < deadline
        time.sleep(0.2)
    busy = [w for w, keys in client.processing().items() if keys]
    assert busy, "no run in flight after the first record"
    pid = client.run(os.getpid, workers=busy[:1])[busy[0]]
    os.kill(pid, signal.SIGKILL)  # its nanny starts a new one; the scheduler reruns its run elsewhere
    sweep.join(timeout=900)
    assert done[-1] == [] and [d for d in done[:-1] if d] == [1, 2, 3, 4]  # every run ended once (0: an ETA first)
    records = stored(tmp_path)
    assert sorted(records) == sorted(f"{s.key()}.json" for s in SPECS)  # no temporary file, none missing
    assert all(numbers(json.loads(b)) == numbers(pooled[Path(n).stem]) for n, b in records.items())


DRIVER = """
import sys
from mrecg.study import runner
from mrecg.study.executors import ExecutorChoice
from mrecg.study.runs import RunSpec

specs = [RunSpec("resnet18", "smoke", method="brecq", w_bits=2, a_bits=4, seed=s, iters=8) for s in range(4)]
runner.run_specs(specs, sys.argv[1], executor=ExecutorChoice("dask", scheduler=sys.argv[2]))
"""


def test_a_driver_killed_mid_sweep_loses_only_its_runs_in_flight(cluster, tmp_path):
    choice, _ = cluster
    env = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    driver = subprocess.Popen([sys.executable, "-c", DRIVER, str(tmp_path), choice.scheduler], env=env,
                              stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 600
    while not (tmp_path / "smoke").is_dir() or not any((tmp_path / "smoke").glob("*.json")):
        assert driver.poll() is None, driver.stderr.read()[-2000:]
        assert time.time() < deadline
        time.sleep(0.2)
    driver.kill()
    driver.wait()
    before = stored(tmp_path)
    assert 1 <= len(before) < 4
    todo = runner.missing(SPECS, tmp_path)
    assert {f"{s.key()}.json" for s in todo} == {f"{s.key()}.json" for s in SPECS} - set(before)
    runner.run_specs(SPECS, tmp_path, executor=choice)
    after = stored(tmp_path)
    assert len(after) == 4 and all(after[n] == b for n, b in before.items())  # only the missing ones computed


@pytest.fixture(scope="module")
def tiny_imagenet(tmp_path_factory) -> tuple[Path, Path]:
    """An ImageFolder of real 224 px JPEGs (4 classes, 6 train and 2 val images each) and a ResNet-18
    of random weights saved to a file: the paper preset's inputs at the smallest scale."""
    import torch
    import torchvision
    from PIL import Image

    root = tmp_path_factory.mktemp("imagenet")
    rng = np.random.default_rng(0)
    for split, per_class in (("train", 6), ("val", 2)):
        for c in range(4):
            folder = root / split / f"n{c:08d}"
            folder.mkdir(parents=True)
            for i in range(per_class):
                pixels = rng.integers(0, 256, size=(256, 256, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(folder / f"{c}_{i}.JPEG", quality=90)
    torch.manual_seed(0)
    weights = root / "resnet18-random.pt"
    torch.save(torchvision.models.resnet18().state_dict(), weights)
    return root, weights


def test_the_paper_code_path_runs_through_the_cluster(cluster, tiny_imagenet, tmp_path):
    """Calibration drawn from ImageFolder, the released partition (mrecg+brecq), 8-bit edges, evaluation."""
    choice, _ = cluster
    root, weights = tiny_imagenet
    spec = RunSpec("resnet18", "paper", weights=str(weights), data_root=str(root), method="mrecg+brecq",
                   w_bits=2, a_bits=4, iters=2, batch_size=4, calib_size=12, holdout_size=4, init_size=4)
    record, = runner.run_specs([spec], tmp_path, executor=choice)
    assert record["scheme_source"] == "official" and record["scheme"]
    assert record["config"]["calib_size"] == 12 and 0 <= record["top1"] <= 100
    assert record["machine"]["threads"] == 1 and (tmp_path / "paper" / f"{spec.key()}.json").is_file()
