"""Where a reproduction reads and writes, resolved from the repository, never the working directory.

A notebook opened in JupyterLab runs in ``notebooks/``, papermill from the root runs wherever it
was started: both must find the committed cache. Every preset writes apart from the others
(``figures/<preset>/``, ``executed/<preset>/``), so only the committed preset's outputs can
replace committed files.
"""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1]  # mrecg/


def _is_repo(folder: Path) -> bool:
    project = folder / "pyproject.toml"
    return project.is_file() and 'name = "mrecg"' in project.read_text() and (folder / "notebooks").is_dir()


def repo_root() -> Path:
    """The mrecg checkout: the package's parent (an editable install), else the first folder up
    from the working directory that is one; else the working directory."""
    here = Path.cwd().resolve()
    for folder in (PACKAGE.parent, here, *here.parents):
        if _is_repo(folder):
            return folder
    return Path.cwd().resolve()


def resolve(path: str | os.PathLike | None, default: Path) -> Path:
    """``path`` made absolute against the repository, wherever the caller runs (``None``: ``default``)."""
    if path is None:
        return default
    p = Path(path).expanduser()
    return p if p.is_absolute() else repo_root() / p


def portable(path: Path) -> str:
    """``path`` as a notebook parameter: relative to the repository when inside it (what :func:`resolve`
    reads back), so that an executed notebook names no folder of the machine that ran it."""
    root = repo_root()
    return path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path)


def results_dir(path: str | os.PathLike | None = None) -> Path:
    """The run records (``<results>/<preset>/<key>.json``)."""
    return resolve(path, repo_root() / "results")


def figures_dir(preset: str, path: str | os.PathLike | None = None) -> Path:
    """``figures/<preset>`` unless given."""
    return resolve(path, repo_root() / "figures" / preset)


def executed_dir(preset: str, path: str | os.PathLike | None = None) -> Path:
    """Executed notebooks, with their outputs: ``executed/<preset>`` unless given."""
    return resolve(path, repo_root() / "executed" / preset)


def notebooks_dir() -> Path:
    return repo_root() / "notebooks"
