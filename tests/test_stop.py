"""Stopping a sweep stops it: SIGTERM kills every worker and keeps only the records finished before it;
a driver killed without a signal takes its workers with it; the next call computes only what is missing."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DRIVER = """
import sys
from mrecg.study import runner
from mrecg.study.runs import RunSpec

specs = [RunSpec("resnet18", "smoke", method="brecq", w_bits=2, a_bits=4, seed=s, iters=8) for s in range(4)]
runner.run_specs(specs, sys.argv[1], workers=2)
"""


def descendants(pid: int) -> set[int]:
    """Every process below ``pid`` (the pool's workers and multiprocessing's helper)."""
    out, todo = set(), [pid]
    while todo:
        p = todo.pop()
        for task in Path(f"/proc/{p}/task").glob("*"):
            try:
                children = {int(c) for c in (task / "children").read_text().split()}
            except OSError:
                continue
            todo += children - out
            out |= children
    return out


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has ended
    except OSError:
        return False


def records(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in (folder / "smoke").glob("*.json")}


def start(results: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    return subprocess.Popen([sys.executable, "-c", DRIVER, str(results)], env=env, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)


def wait_for_more_records(driver: subprocess.Popen, results: Path, than: int) -> set[int]:
    """Once a new record is stored: the driver's processes (its two workers are up by then)."""
    deadline = time.time() + 600
    while len(records(results)) <= than:
        assert driver.poll() is None, driver.stderr.read()[-2000:]
        assert time.time() < deadline
        time.sleep(0.2)
    return descendants(driver.pid)


def test_stop_kills_the_workers_keeps_what_finished_and_resumes(tmp_path):
    driver = start(tmp_path)
    try:
        pool = wait_for_more_records(driver, tmp_path, than=0)
        assert len(pool) >= 2
        stop = time.time()
        driver.send_signal(signal.SIGTERM)
        assert driver.wait(timeout=60) == -signal.SIGTERM  # ended by the signal, after its cleanup
        assert "Traceback" not in (err := driver.stderr.read())
        kept = records(tmp_path)
        line = [x for x in err.splitlines() if "stopped:" in x]
        assert line == [(f"[mrecg] stopped: {len(kept)} finished records kept, {4 - len(kept)} runs left "
                         "(in flight ones discarded); the same call computes them")]
        time.sleep(5)
        assert not [p for p in pool if alive(p)]
        assert records(tmp_path) == kept and len(kept) < 4
        assert all(p.stat().st_mtime <= stop for p in (tmp_path / "smoke").iterdir())  # nor a temporary file

        driver = start(tmp_path)  # the driver dies without a signal: its workers follow it
        pool = wait_for_more_records(driver, tmp_path, than=len(kept))
        os.kill(driver.pid, signal.SIGKILL)
        driver.wait(timeout=60)
        time.sleep(5)
        assert not [p for p in pool if alive(p)]
    finally:
        if driver.poll() is None:
            os.killpg(driver.pid, signal.SIGKILL)

    before = records(tmp_path)
    resumed = subprocess.run([sys.executable, "-c", DRIVER, str(tmp_path)], cwd=REPO, capture_output=True,
                             text=True, env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=900)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    after = records(tmp_path)
    assert len(after) == 4 and all(after[name] == data for name, data in before.items())  # none recomputed
