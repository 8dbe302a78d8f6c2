"""Where a sweep's runs are computed: one seam, an executor with the futures interface of
:mod:`concurrent.futures`, so that the scheduler of :mod:`mrecg.study.runner` (cell by cell,
longest first, passes before dependents, a deadline) is the same on one machine and on a cluster.

- ``local`` (the default): a pool of processes on this machine, one thread each per core share.
- ``dask``: the workers of a running Dask scheduler (``tcp://HOST:PORT``), through
  ``Client.get_executor()``; the engine reruns elsewhere the runs of a worker that dies.
- ``slurm``: Dask workers started as Slurm jobs by dask-jobqueue, one GPU per job and
  ``runs_per_gpu`` worker processes sharing it.

A worker returns its record and writes nothing: the driver stores each record as it comes back, so
no shared filesystem is needed and a record cannot appear after the driver stopped. The engines
are an optional extra (``pip install -e ".[cluster]"``); the core install does not need them.
"""

from __future__ import annotations

import argparse
import ctypes
import importlib
import multiprocessing
import os
import shutil
import signal
import socket
import threading
import time
from concurrent.futures import Executor, ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Iterator
from urllib.parse import urlsplit

KINDS = ("local", "dask", "slurm")
EXTRA = 'pip install -e ".[cluster]"'
ENGINE = {"dask": ("distributed", "dask[distributed]"), "slurm": ("dask_jobqueue", "dask-jobqueue")}
RUN_MEMORY_GB = 8  # per run on a GPU job: the paper path peaked at 7.6 GB of host memory (gpu_paper_path_h200.jsonl)


class ExecutorError(ValueError):
    """A bad executor choice, said in one line before any job is submitted."""


@dataclass(frozen=True)
class ExecutorChoice:
    """Which engine computes the runs, and its options (driver options: no record depends on them)."""

    kind: str = "local"
    scheduler: str | None = None  # dask: the address of a running scheduler
    partition: str | None = None  # slurm
    gpus: int | None = None  # slurm: jobs of one GPU each
    runs_per_gpu: int = 1  # slurm: worker processes sharing one GPU

    @staticmethod
    def add_flags(parser: argparse.ArgumentParser) -> None:
        """The flags of ``mrecg reproduce`` that choose the executor."""
        parser.add_argument("--executor", default="local", help="local (default: this machine), dask (the workers "
                            f"of --scheduler) or slurm (dask-jobqueue GPU jobs); dask and slurm need: {EXTRA}")
        parser.add_argument("--scheduler", metavar="tcp://HOST:PORT", help="a running Dask scheduler (dask)")
        parser.add_argument("--partition", help="the Slurm partition of the GPU jobs (slurm)")
        parser.add_argument("--gpus", type=int, help="Slurm jobs of one GPU each (slurm)")
        parser.add_argument("--runs-per-gpu", type=int, default=1, help="runs sharing one GPU (slurm; default 1)")

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> ExecutorChoice:
        return cls(args.executor, args.scheduler, args.partition, args.gpus, args.runs_per_gpu)

    def check(self) -> None:
        """Every bad choice in one line, before any job is submitted."""
        if self.kind not in KINDS:
            raise ExecutorError(f"unknown executor {self.kind!r}; choose one of {', '.join(KINDS)}")
        if self.kind == "local":
            if self.scheduler or self.partition or self.gpus is not None or self.runs_per_gpu != 1:
                raise ExecutorError("--scheduler goes with --executor dask; --partition, --gpus and --runs-per-gpu "
                                    "with --executor slurm")
            return
        if self.kind == "dask" and (self.partition or self.gpus is not None or self.runs_per_gpu != 1):
            raise ExecutorError("--partition, --gpus and --runs-per-gpu go with --executor slurm; the workers of a "
                                "Dask scheduler set their own (dask worker --nworkers N, one per run on a GPU)")
        if self.kind == "dask" and not self.scheduler:
            raise ExecutorError("--executor dask needs --scheduler tcp://HOST:PORT (a running Dask scheduler)")
        if self.kind == "slurm":
            if not self.partition:
                raise ExecutorError("--executor slurm needs --partition (the Slurm partition of the GPU jobs)")
            if self.gpus is None or self.gpus < 1:
                raise ExecutorError(f"--gpus must be at least 1 with --executor slurm, got {self.gpus}")
            if self.runs_per_gpu < 1:
                raise ExecutorError(f"--runs-per-gpu must be at least 1, got {self.runs_per_gpu}")
        module, package = ENGINE[self.kind]
        try:
            importlib.import_module(module)
        except ImportError:
            raise ExecutorError(f"--executor {self.kind} needs the {package} package, which the cluster extra "
                                f"installs: {EXTRA}") from None
        if self.kind == "dask":
            reachable(self.scheduler)
        elif shutil.which("sbatch") is None:
            raise ExecutorError("--executor slurm submits jobs with sbatch, which is not on PATH here; run it on "
                                "the cluster's login node")


def reachable(address: str, timeout: float = 5.0) -> None:
    """Fail in one line unless a TCP connection to the scheduler opens (a typo, a firewall, no scheduler)."""
    parts = urlsplit(address if "://" in address else f"tcp://{address}")
    try:
        host, port = parts.hostname, parts.port
    except ValueError:
        host = port = None
    if parts.scheme not in ("tcp", "tls") or not host or not port:
        raise ExecutorError(f"--scheduler wants tcp://HOST:PORT, got {address!r}")
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as e:
        raise ExecutorError(f"cannot reach the Dask scheduler at {address}: {e.strerror or e}") from None


@dataclass
class Pool:
    """An executor and what the scheduler needs beside it."""

    executor: Executor
    slots: Callable[[], int]  # how many runs it computes at once, now
    kill: Callable[[], None]  # stop every worker at once: the runs in flight are discarded
    threads: int  # torch threads of one run


def die_with_parent(parent: int) -> None:
    """A worker's first act: exit when the driver dies, even by SIGKILL (no signal reaches the pool).
    Linux's parent-death signal where there is one, else a thread watching the parent's pid."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        def watch() -> None:
            while os.getppid() == parent:
                time.sleep(1)
            os._exit(1)
        threading.Thread(target=watch, daemon=True).start()
    if os.getppid() != parent:  # it died before the signal was armed
        os._exit(1)


@contextmanager
def local_pool(workers: int) -> Iterator[Pool]:
    """``workers`` processes of this machine, started fresh (spawn), one core share of threads each."""
    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                               initializer=die_with_parent, initargs=(os.getpid(),))

    def kill() -> None:
        for process in list((getattr(pool, "_processes", None) or {}).values()):
            process.kill()  # Python 3.14 has pool.terminate_workers(); 3.10-3.13 only this
        pool.shutdown(wait=False, cancel_futures=True)

    with pool:
        yield Pool(pool, lambda: workers, kill, max(1, (os.cpu_count() or 1) // workers))


NOT_DAEMONIC = "DASK_DISTRIBUTED__WORKER__DAEMON=False"  # a worker's environment: its runs may start processes


def daemonic() -> bool:
    return multiprocessing.current_process().daemon


@contextmanager
def dask_pool(client) -> Iterator[Pool]:
    """The workers of a Dask ``client``'s scheduler, one run per worker thread, one torch thread per run.
    A daemonic worker (Dask's default) cannot start the data-loading processes of an ImageNet run: refused
    before any run is submitted."""
    if any(client.run(daemonic).values()):
        raise ExecutorError(f"the Dask workers are daemonic, and a run's data loaders start processes: start "
                            f"them with {NOT_DAEMONIC} in their environment")
    executor = client.get_executor()
    try:
        yield Pool(executor, lambda: max(1, sum(client.nthreads().values())), lambda: executor.shutdown(wait=False), 1)
    finally:
        executor.shutdown(wait=False)


@contextmanager
def open_pool(choice: ExecutorChoice, workers: int) -> Iterator[Pool]:
    """The pool of ``choice`` (``workers``: the local pool's processes), closed on the way out."""
    if choice.kind == "local":
        with local_pool(workers) as pool:
            yield pool
        return
    from distributed import Client

    if choice.kind == "dask":
        with Client(choice.scheduler, timeout="20s") as client, dask_pool(client) as pool:
            yield pool
        return
    import dask
    from dask_jobqueue import SLURMCluster

    n = choice.runs_per_gpu
    memory = dask.config.get("jobqueue.slurm.memory", None) or f"{RUN_MEMORY_GB * n}GB"
    with SLURMCluster(queue=choice.partition, cores=n, processes=n, memory=memory,
                      job_extra_directives=["--gres=gpu:1"], job_script_prologue=[f"export {NOT_DAEMONIC}"]
                      ) as cluster, Client(cluster) as client:
        cluster.scale(jobs=choice.gpus)
        with dask_pool(client) as pool:
            pool.slots = lambda: choice.gpus * n  # jobs still queued count: the scheduler holds their runs
            yield pool


__all__ = ["ExecutorChoice", "ExecutorError", "KINDS", "Pool", "die_with_parent", "open_pool", "reachable"]
