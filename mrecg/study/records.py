"""Run records: where they are stored, how they are read, and whether the code that made them is
today's. Every reader of records goes through this module.

``run(spec)`` reads the record of ``spec`` from ``results_dir/<preset>/<key>.json`` or computes
it (:func:`mrecg.study.runs.compute`) and stores it atomically, so a killed run leaves no partial
record and the rerun starts that run again.

Each record says what computed it: the code fingerprint (:mod:`mrecg.study.fingerprint`, a hash
of the numerical code and the data it reads), the CPU model, the thread count, torch and the
device. A record whose fingerprint differs from the current code is *stale*: it is still read
(and reported as such by ``mrecg reproduce``), and recomputed only when asked
(``recompute_stale=True``), so that an edit never silently recomputes hours of work nor
silently mixes old numbers with new. This module is bookkeeping: it is not hashed, so editing it
leaves every record current.
"""

from __future__ import annotations

import json
import platform
import tempfile
import warnings
from pathlib import Path
from typing import Callable, Mapping

import torch

from .. import __version__
from ..config import knobs
from . import paths
from .fingerprint import code_fingerprint, computed_by
from .runs import ExperimentError, RunSpec, compute
from .storage import save_json

MANIFEST = "manifest.json"  # results/<preset>/manifest.json: every computation that added records
NOT_RECORDS = (MANIFEST, "noise.json", "preregistration.json")  # files beside the records in results/<preset>/


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine(device: str) -> dict:
    """Where a record was computed: the CPU model, threads, torch, the device and the platform."""
    return {"cpu": cpu_model(), "threads": torch.get_num_threads(), "torch": torch.__version__,
            "device": torch.cuda.get_device_name(torch.device(device)) if device.startswith("cuda") else "cpu",
            "platform": platform.platform()}


def stamp(device: str, extra_code: tuple[str, ...] = ()) -> dict:
    """The fields that say which code and machine made a record (``extra_code``: modules hashed
    for this kind of record only, e.g. :data:`mrecg.study.fingerprint.TOY`)."""
    return {"code": {"fingerprint": code_fingerprint(extra_code), "version": __version__}, "machine": machine(device)}


def record_path(spec: RunSpec, results_dir: str | Path | None = None) -> Path:
    return paths.results_dir(results_dir) / spec.preset / f"{spec.key()}.json"


def read_record(path: Path) -> dict | None:
    """A stored record, or None (with a warning naming the file) when it is unreadable."""
    try:
        record = json.loads(path.read_text())
        if not isinstance(record, dict) or "top1" not in record:
            raise ValueError("not a run record")
        return record
    except (OSError, ValueError) as e:
        warnings.warn(f"skipping unreadable record {path}: {str(e).splitlines()[0]}", stacklevel=2)
        return None


def is_stale(record: dict, extra_code: tuple[str, ...] = ()) -> bool:
    """Whether other code computed ``record`` (records from before fingerprints count as other code)."""
    return computed_by((record.get("code") or {}).get("fingerprint")) != code_fingerprint(extra_code)


def check_writable(folder: Path, what: str = "the results folder", option: str = "results_dir") -> None:
    """Fail before computing, not after, when ``folder`` (``what``, set by ``option``) could not take its output."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ExperimentError(f"cannot create {what} {folder}: {e.strerror}; pass another {option}") from None
    try:  # a real write: permissions, read-only mounts and full disks all show here
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError:
        raise ExperimentError(f"{what} {folder} is not writable; pass another {option}") from None


def _current(path: Path, force: bool, recompute_stale: bool, extra_code: tuple[str, ...]) -> dict | None:
    """The record at ``path`` when it may be used as it is: readable, not forced, and current with
    ``recompute_stale``; else None."""
    if force or not path.is_file():
        return None
    record = read_record(path)
    return None if record is None or (recompute_stale and is_stale(record, extra_code)) else record


def needs_computing(path: Path, force: bool = False, recompute_stale: bool = False,
                    extra_code: tuple[str, ...] = ()) -> bool:
    """Whether :func:`read_or_compute` would compute. Lets a caller compute the missing ones together."""
    return _current(path, force, recompute_stale, extra_code) is None


def read_or_compute(path: Path, make: Callable[[], dict], force: bool = False, recompute_stale: bool = False,
                    extra_code: tuple[str, ...] = ()) -> dict:
    """The record at ``path`` if it is readable (and current, with ``recompute_stale``), else
    ``make()`` stored there atomically. The one read-or-compute of every cached result."""
    if (record := _current(path, force, recompute_stale, extra_code)) is not None:
        return record
    check_writable(path.parent)
    record = json.loads(json.dumps(make()))  # exactly what a later read returns
    save_json(record, path)
    return record


def compute_record(spec: RunSpec, progress: bool = True, results_dir: str | Path | None = None,
                   passes: Mapping[str, dict] | None = None) -> dict:
    """The record of ``spec`` computed here (not stored): its numbers, its spec and configuration,
    and the stamp of the code and machine. The data-dependent ModCap pass it needs is taken from
    ``passes`` (pass key -> record: what a worker without the results folder is handed), else read
    from (or stored in) ``results_dir`` like any run; with neither, it is computed inside."""
    def pass_losses(pass_spec: RunSpec) -> list[float]:
        given = (passes or {}).get(pass_spec.key())
        record = given if given is not None else run(pass_spec, results_dir, progress=progress)
        return [u["loss"] for u in record["units"] if u["blocks"]]

    numbers = compute(spec, progress, pass_losses if results_dir is not None or passes else None)
    return {"key": spec.key(), "spec": spec.to_dict(), "config": spec.resolved().to_dict(), **numbers,
            **stamp(spec.resolved().device)}


def run(spec: RunSpec, results_dir: str | Path | None = None, force: bool = False, progress: bool = True,
        recompute_stale: bool = False) -> dict:
    """The record of ``spec``: read from ``results_dir`` (default: the repository's ``results/``) if
    stored (unless ``force``, or it is stale and ``recompute_stale``), else computed and stored. The
    data-dependent ModCap pass a run needs is itself read or computed as a record."""
    folder = paths.results_dir(results_dir)
    return read_or_compute(record_path(spec, folder), lambda: compute_record(spec, progress, folder), force,
                           recompute_stale)


def stored(spec: RunSpec, results_dir: str | Path, recompute_stale: bool = False) -> bool:
    """Whether ``run(spec)`` would read a record rather than compute one."""
    path = record_path(spec, results_dir)
    if not path.is_file():
        return False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        record = read_record(path)
    return record is not None and not (recompute_stale and is_stale(record))


def load_records(results_dir: str | Path | None = None, preset: str | None = None, quiet: bool = False) -> list[dict]:
    """Every readable record (unreadable ones are skipped, with a warning naming the file unless ``quiet``)."""
    folder = paths.results_dir(results_dir)
    pattern = f"{preset}/*.json" if preset else "*/*.json"
    with warnings.catch_warnings():
        if quiet:
            warnings.simplefilter("ignore")
        records = [read_record(p) for p in sorted(folder.glob(pattern)) if p.name not in NOT_RECORDS]
    return [r for r in records if r is not None]


def computations(results_dir: str | Path | None, preset: str) -> list[dict]:
    """The manifest's entries: one per computation that added records to ``results/<preset>/``."""
    path = paths.results_dir(results_dir) / preset / MANIFEST
    return json.loads(path.read_text())["computations"] if path.is_file() else []


def add_computation(results_dir: str | Path | None, preset: str, entry: dict) -> Path:
    """Append one computation to the manifest (atomically: the old manifest or the new, never half)."""
    path = paths.results_dir(results_dir) / preset / MANIFEST
    save_json({"preset": preset, "computations": [*computations(results_dir, preset), entry]}, path)
    return path


def load_results(results_dir: str | Path | None = None, preset: str | None = None):
    """One row per run: model, preset, the resolved configuration, top1, fp_top1, seconds, scheme,
    ...; the per-unit and per-block details stay in the ``units`` and ``errors`` columns."""
    import pandas as pd

    rows = []
    for r in load_records(results_dir, preset):
        # a record stored before a field existed was computed at that field's default
        config = {f.name: r["config"].get(f.name, f.default) for f in knobs()}
        row = {"model": r["spec"]["model"], "preset": r["spec"]["preset"], **config,
               **{k: r[k] for k in ("key", "top1", "fp_top1", "seconds", "scheme_source")}}
        row["scheme"] = json.dumps(r["scheme"])
        row["merges"] = sum(len(g) - 1 for g in r["scheme"])
        row["fingerprint"] = (r.get("code") or {}).get("fingerprint")
        row["stale"] = is_stale(r)
        row["units"], row["errors"] = r["units"], r["errors"]
        rows.append(row)
    return pd.DataFrame(rows)


__all__ = ["add_computation", "check_writable", "computations", "compute_record", "cpu_model", "is_stale", "load_records", "load_results", "machine", "needs_computing",
           "read_or_compute",
           "read_record", "record_path", "run", "stamp", "stored"]
