"""The whole reproduction: every notebook's runs computed first in one pool, then every notebook
executed on the cache, and a manifest of the computation.

``mrecg reproduce --preset mini`` and ``notebooks/run_all.ipynb`` (what the README's papermill
command runs) call :func:`reproduce`:

1. collect the specs of every figure module (:data:`mrecg.figures.FIGURES`), report the stored
   records that other code computed (stale; recomputed only with ``recompute_stale``);
2. compute the missing runs longest-first in one pool (:func:`mrecg.runner.run_specs`), printing
   progress with an estimate of what is left to the terminal;
3. execute each notebook with papermill into ``executed/<preset>/``; its figures go to
   ``figures/<preset>/``;
4. if anything was computed, add an entry to ``results/<preset>/manifest.json`` -- the record of
   the computation, which a re-plot never replaces; a re-plot records itself in
   ``runs/<preset>/replot.json`` (not committed).
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from . import paths
from .figures import Study, StudyError

if TYPE_CHECKING:
    from .noise import NoiseFloor

# The parameters cell of every figure notebook, in this order (a test checks the notebooks).
PARAMETERS = {
    "preset": ("mini", "smoke | mini | paper"),
    "device": ("cpu", "cpu or cuda[:N]"),
    "cache_device": ("auto", "auto: the device when the caches fit | cpu | disk | cuda[:N]"),
    "data_root": (None, "ImageNet root with train/ and val/ (paper preset only)"),
    "results_dir": (None, "None: results/ of the repository"),
    "figures_dir": (None, "None: figures/<preset>/ of the repository"),
    "seeds": (None, "None: each sweep's own seeds"),
    "force": (False, "True: recompute every run instead of reading the cache"),
    "recompute_stale": (False, "True: recompute the runs that other code computed"),
}
DRIVER_PARAMETERS = {**PARAMETERS, "executed_dir": (None, "None: executed/<preset>/ of the repository"),
                     "workers": (None, "None: one process per core (CPU), one at a time (GPU)")}
MANIFEST = "manifest.json"
OUTPUT_DIRS = ("results", "figures", "executed")  # what a reproduction writes: not a code change


def parameters_cell(params: dict = PARAMETERS) -> str:
    """The canonical source of a notebook's parameters cell."""
    width = max(len(f"{k} = {v[0]!r}") for k, v in params.items())
    return "\n".join(f"{f'{k} = {v[0]!r}':<{width}}  # {v[1]}" for k, v in params.items())


def check_notebook_parameters(namespace: dict, allowed: dict = PARAMETERS) -> Study:
    """Validate a notebook's parameters (its globals after papermill's injection) in one line:
    an unknown name (a misspelled ``-p``) or a bad value fails here, before any work."""
    ignore = {"In", "Out", "get_ipython", "exit", "quit", "open"}
    unknown = sorted(k for k, v in namespace.items() if not k.startswith("_") and k not in allowed and k not in ignore
                     and not callable(v) and not type(v).__name__ == "module")
    if unknown:
        raise StudyError(f"unknown notebook parameter {unknown[0]!r}; parameters are {', '.join(allowed)}")
    study = Study(namespace["preset"], namespace["seeds"], namespace["data_root"], namespace["device"],
                  cache_device=namespace["cache_device"])
    if study.preset == "paper" and not (study.data_root and Path(study.data_root, "val").is_dir()):
        raise StudyError("the paper preset needs ImageNet: pass -p data_root /path/to/imagenet (with train/ and val/)")
    return study


def notebook_setup(namespace: dict) -> tuple[Study, Path, Path, NoiseFloor]:
    """A figure notebook's first step after its parameters cell: the parameters checked (a bad or
    unknown one fails here, in one line), plots drawn off-screen (the notebook shows the saved
    files), the folders resolved from the repository, and the noise floor read and printed."""
    import matplotlib

    from . import noise

    matplotlib.use("Agg")
    study = check_notebook_parameters(namespace)
    results = paths.results_dir(namespace["results_dir"])
    floor = noise.floor(results, study.preset)
    print(floor)
    return study, results, paths.figures_dir(study.preset, namespace["figures_dir"]), floor


def figure_notebooks(folder: str | os.PathLike | None = None) -> list[Path]:
    """The numbered notebooks (``00_*.ipynb`` ... ``99_*.ipynb``) in run order."""
    return sorted(Path(folder or paths.notebooks_dir()).glob("[0-9][0-9]_*.ipynb"))


def code_version(repo: str | os.PathLike | None = None) -> dict:
    """The git commit and whether tracked files other than the outputs differ from it."""
    here = Path(repo) if repo is not None else paths.repo_root()
    outputs = [f":(top,exclude){d}" for d in OUTPUT_DIRS]
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True,
                                cwd=here).stdout.strip()
        dirty = bool(subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ":(top)", *outputs],
                                    capture_output=True, text=True, check=True, cwd=here).stdout.strip())
    except (OSError, subprocess.CalledProcessError):
        return {"commit": "unknown", "uncommitted_changes": None}
    return {"commit": commit, "uncommitted_changes": dirty}


def say(message: str) -> None:
    """One progress line on the terminal (the kernel's real stderr also under papermill)."""
    print(f"[mrecg] {message}", file=sys.__stderr__ or sys.stderr, flush=True)


def cells(per_notebook: dict[str, list]) -> dict[str, int]:
    """Run key -> its cell's rank: a cell is one notebook's runs of one model and bit-width, in the
    notebooks' order; a run two notebooks share, or a ModCap pass, goes with the first cell that
    needs it. Computing cell by cell leaves whole paired comparisons when a computation stops early."""
    rank: dict[tuple, int] = {}
    out: dict[str, int] = {}
    for name, specs in per_notebook.items():
        for s in specs:
            r = rank.setdefault((name, s.model, s.w_bits, s.a_bits), len(rank))
            for needed in (s, s.modcap_pass()):
                if needed is not None:
                    out.setdefault(needed.key(), r)
    return out


def reproduce(preset: str = "mini", device: str = "cpu", cache_device: str = "auto", data_root: str | None = None,
              results_dir: str | None = None, figures_dir: str | None = None, executed_dir: str | None = None,
              seeds=None, force: bool = False, recompute_stale: bool = False, workers: int | None = None,
              notebooks: bool = True, models: Sequence[str] | None = None, stop_after: float | None = None) -> dict:
    """Compute what is missing, execute the notebooks, record the computation. Returns the
    summary that went into the manifest (or the re-plot record).
    ``models`` computes only those models' runs, so that one grid can be split across machines
    (whole models, so that a model's paired comparisons share a machine when the split finishes).
    ``stop_after`` (minutes): start no run expected to end later; the rest is left for a later call."""
    from . import experiments, runner
    from .figures import all_specs, toy

    study = Study(preset, seeds, data_root, device, cache_device)
    if models and notebooks:
        raise StudyError("models splits a grid across machines; use it with --compute-only")
    if stop_after is not None and notebooks:
        raise StudyError("stop_after leaves runs uncomputed, which the notebooks would compute; use it with "
                         "--compute-only")
    if stop_after is not None and stop_after <= 0:
        raise StudyError(f"stop_after must be a positive number of minutes, got {stop_after:g}")
    deadline = time.time() + 60 * stop_after if stop_after is not None else None
    per_notebook = all_specs(study)
    if models:
        known = {s.model for group in per_notebook.values() for s in group}
        if unknown := sorted(set(models) - known):
            raise StudyError(f"no run of the {preset} grid uses {', '.join(unknown)}; "
                             f"its models are {', '.join(sorted(known))}")
        per_notebook = {name: [s for s in group if s.model in models] for name, group in per_notebook.items()}
    results = paths.results_dir(results_dir)
    figures = paths.figures_dir(preset, figures_dir)
    executed = paths.executed_dir(preset, executed_dir)
    experiments.check_writable(results / preset)
    source, started = code_version(), time.perf_counter()

    first_seen: dict[str, str] = {}  # run (or the ModCap pass it needs) -> the first notebook that needs it
    by_key: dict = {}
    for name, specs in per_notebook.items():
        for s in specs:
            for needed in (s, s.modcap_pass()):
                if needed is not None:
                    first_seen.setdefault(needed.key(), name)
                    by_key.setdefault(needed.key(), needed)
    specs = [s for group in per_notebook.values() for s in group]
    stored = [experiments.read_record(experiments.record_path(s, results))
              for s in {s.key(): s for s in specs}.values() if experiments.stored(s, results)]
    stale = [r["key"] for r in stored if experiments.is_stale(r)]
    if stale:
        say(f"{len(stale)} stored runs were computed by other code (fingerprint differs from "
            f"{experiments.code_fingerprint()}): " + ("recomputing them" if recompute_stale else
                                                       "reading them; pass recompute_stale to recompute"))
    todo = runner.missing(specs, results, force, recompute_stale)
    say(f"{preset}: {len({s.key() for s in specs})} runs, {len(todo)} to compute (ModCap passes included)")
    t0 = time.perf_counter()
    cell = cells(per_notebook)
    left = runner.compute(todo, results, force or recompute_stale, workers, report=runner.terminal_reporter(
        f"{preset}: "), deadline=deadline, group=lambda s: cell[s.key()]) if todo else []
    compute_seconds = time.perf_counter() - t0
    if left:
        say(f"{len(left)} runs left for a later call (the same command): started, they were not expected to end "
            f"within the {stop_after:g} minutes")
    computed_keys = {s.key() for s in todo} - {s.key() for s in left}
    if not models and not left:  # the toy has no model: a split computation leaves it to the unsplit one
        chosen = toy.settings(study)
        before = {p: p.read_bytes() for p in toy.record_paths(study, results, chosen) if p.is_file()}
        toy.records(study, results, chosen, force, recompute_stale)
        changed = any(before.get(p) != p.read_bytes() for p in toy.record_paths(study, results, chosen))
        computed_keys |= {"toy"} if changed else set()

    done = []
    for nb in figure_notebooks() if notebooks else []:
        t = time.perf_counter()
        say(f"executing {nb.stem}")
        _execute(nb, executed / nb.name, dict(preset=preset, device=device, cache_device=cache_device,
                                               data_root=data_root,
                                               results_dir=str(results), figures_dir=str(figures),
                                               seeds=list(seeds) if seeds is not None else None,
                                               force=False, recompute_stale=False))
        mine = [k for k, n in first_seen.items() if n == nb.stem and k in computed_keys]
        seconds = [json.loads(experiments.record_path(by_key[k], results).read_text())["seconds"] for k in mine]
        done.append({"notebook": nb.stem, "notebook_seconds": round(time.perf_counter() - t, 1),
                     "computed_runs": len(mine), "computed_run_seconds": round(sum(seconds), 1)})
    summary = {
        **source, **({"models": list(models)} if models else {}), "fingerprint": experiments.code_fingerprint(), "started": time.strftime("%Y-%m-%d %H:%M:%S"),
        "machine": f"{experiments.cpu_model()}, {os.cpu_count()} cores, {platform.platform()}",
        "workers": workers or (runner.default_workers(todo) if todo else None),
        "computed_runs": len(computed_keys), **({"runs_left": len(left)} if left else {}),
        "stale_runs_read": 0 if recompute_stale else len(stale),
        "compute_wall_seconds": round(compute_seconds, 1),
        "total_wall_seconds": round(time.perf_counter() - started, 1), "notebooks": done,
    }
    if computed_keys:
        path = results / preset / MANIFEST
        manifest = json.loads(path.read_text()) if path.is_file() else {"preset": preset, "computations": []}
        manifest["computations"].append(summary)
        from .storage import save_json

        save_json(manifest, path)
        say(f"manifest of the computation: {path}")
    else:
        from .storage import save_json

        save_json(summary, paths.repo_root() / "runs" / preset / "replot.json")
    say(f"done in {summary['total_wall_seconds']:.0f} s: {len(computed_keys)} runs computed, figures in {figures}")
    return summary


def _execute(notebook: Path, out: Path, parameters: dict) -> None:
    import papermill as pm

    out.parent.mkdir(parents=True, exist_ok=True)
    pm.execute_notebook(str(notebook), str(out), cwd=str(notebook.parent), progress_bar=False, parameters=parameters)
