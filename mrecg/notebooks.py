"""Helpers the papermill driver uses to find and parameterise the figure notebooks."""

from __future__ import annotations

import os
from pathlib import Path


def figure_notebooks(folder: str | os.PathLike) -> list[Path]:
    """The numbered notebooks (``00_*.ipynb`` ... ``99_*.ipynb``) in run order."""
    return sorted(p for p in Path(folder).glob("[0-9][0-9]_*.ipynb"))


def notebook_parameters(**params) -> dict:
    """Driver parameters passed on to every notebook; paths made absolute, since each
    notebook runs with its own folder as working directory."""
    out = dict(params)
    for key in ("results_dir", "figures_dir", "data_root"):
        if out.get(key) is not None:
            out[key] = str(Path(out[key]).resolve())
    return out


MANIFEST = "manifest.json"


def record_keys(results_dir: str | os.PathLike, preset: str) -> set[str]:
    """Keys of the records stored for ``preset`` (to tell computed runs from cache hits)."""
    return {p.stem for p in Path(results_dir, preset).glob("*.json") if p.name != MANIFEST}


# What run_all itself writes: deleting or changing these (to regenerate from an empty cache) is not a code change.
OUTPUT_DIRS = ("results", "figures")


def code_version(repo: str | os.PathLike | None = None) -> dict:
    """The git commit of the package and whether tracked files other than the outputs differ from it."""
    import subprocess

    here = Path(repo) if repo is not None else Path(__file__).parent
    outputs = [f":(top,exclude){d}" for d in OUTPUT_DIRS]
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True,
                                cwd=here).stdout.strip()
        dirty = bool(subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ":(top)", *outputs],
                                    capture_output=True, text=True, check=True, cwd=here).stdout.strip())
    except (OSError, subprocess.CalledProcessError):
        return {"commit": "unknown", "uncommitted_changes": None}
    return {"commit": commit, "uncommitted_changes": dirty}


def write_manifest(results_dir: str | os.PathLike, preset: str, notebooks: list[dict],
                   source: dict | None = None) -> Path:
    """Record how the results were made: machine, torch, the commit the run started from
    (``source``, from :func:`code_version`), and per notebook its wall time, how many runs it
    computed and their compute seconds (the other runs it used came from the cache)."""
    import json
    import platform

    import torch

    from . import __version__
    from .storage import save_json

    source = source or code_version()
    folder = Path(results_dir, preset)
    for nb in notebooks:
        seconds = [json.loads((folder / f"{k}.json").read_text()).get("seconds", 0.0) for k in nb.pop("computed_keys")]
        nb["computed_run_seconds"] = round(sum(seconds), 1)
    manifest = {
        "preset": preset,
        "mrecg": __version__,
        **source,
        "torch": torch.__version__,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {torch.get_num_threads()} torch threads, "
                   f"{platform.processor() or platform.platform()}",
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "notebooks": notebooks,
        "total_seconds": round(sum(nb["seconds"] for nb in notebooks), 1),
    }
    path = folder / MANIFEST
    save_json(manifest, path)
    return path
