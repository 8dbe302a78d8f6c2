"""The notebooks' plumbing, in one place: their parameters, the setup each runs first, how each
``.ipynb`` is built from its text source, and how a reproduction executes them.

Each ``notebooks/NN_name.py`` (jupytext percent format) is the source of ``notebooks/NN_name.ipynb``,
built from it without outputs and with stable cell ids: ``mrecg notebooks`` rebuilds every
``.ipynb``; a test checks that sources and notebooks agree and that every parameters cell is the
canonical one (:data:`PARAMETERS`).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

from .. import data
from . import paths
from .sweeps import TABLES_ACT_INIT, Study, StudyError

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
    "act_init": (TABLES_ACT_INIT, "range setup of every run: ours | qdrop | mqbench (the released MRECG code's)"),
    "force": (False, "True: recompute every run instead of reading the cache"),
    "recompute_stale": (False, "True: recompute the runs that other code computed"),
}
DRIVER_PARAMETERS = {**PARAMETERS, "executed_dir": (None, "None: executed/<preset>/ of the repository"),
                     "workers": (None, "None: one process per core (CPU), one at a time (GPU)")}

KERNELSPEC = {"name": "python3", "display_name": "Python 3", "language": "python"}


def sources(folder: Path | None = None) -> list[Path]:
    folder = folder or paths.notebooks_dir()
    return sorted(folder.glob("*.py"))


def build(source: Path) -> str:
    """The ``.ipynb`` text of a percent-format source (no outputs, stable ids, fixed metadata)."""
    import jupytext
    import nbformat

    nb = jupytext.read(source)
    nb.metadata = {"kernelspec": KERNELSPEC}
    for i, cell in enumerate(nb.cells):
        cell.id = f"cell-{i}"
        cell.metadata = {k: v for k, v in cell.metadata.items() if k == "tags"}
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    return nbformat.writes(nb) + "\n"


def write_all(folder: Path | None = None) -> list[Path]:
    """Rebuild every notebook whose source changed; return the rebuilt ones."""
    changed = []
    for src in sources(folder):
        target, text = src.with_suffix(".ipynb"), build(src)
        if not target.is_file() or target.read_text() != text:
            target.write_text(text)
            changed.append(target)
    return changed


def mismatched(folder: Path | None = None) -> list[Path]:
    """Notebooks that differ from what their source builds (or have no source)."""
    folder = folder or paths.notebooks_dir()
    built = {src.with_suffix(".ipynb") for src in sources(folder)}
    stale = [src.with_suffix(".ipynb") for src in sources(folder)
             if not src.with_suffix(".ipynb").is_file() or src.with_suffix(".ipynb").read_text() != build(src)]
    orphans = [nb for nb in folder.glob("*.ipynb") if nb not in built]
    return sorted(stale + orphans)


def parameters_source(notebook: Path) -> str:
    """The source of the cell tagged ``parameters``."""
    nb = json.loads(notebook.read_text())
    cells = [c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", [])]
    if len(cells) != 1:
        raise ValueError(f"{notebook.name} has {len(cells)} parameters cells; it needs exactly one")
    return "".join(cells[0]["source"])


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
    for name in (k for k, (default, _) in allowed.items() if default is False):  # flags: papermill -p force True
        if not isinstance(namespace[name], bool):
            raise StudyError(f"{name} must be True or False, got {namespace[name]!r}")
    study = Study(namespace["preset"], namespace["seeds"], namespace["data_root"], namespace["device"],
                  cache_device=namespace["cache_device"], act_init=namespace["act_init"])
    if study.preset == "paper":
        data.require_imagenet(study.data_root)
    return study


def notebook_setup(namespace: dict) -> tuple[Study, Path, Path, NoiseFloor]:
    """A figure notebook's first step after its parameters cell: the parameters checked (a bad or
    unknown one fails here, in one line), plots drawn off-screen (the notebook shows the saved
    files), the folders resolved from the repository, and how far a rerun on another machine may
    land (:mod:`mrecg.study.noise`) read and printed."""
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


def local_kernel_manager() -> type:
    """papermill's kernel manager with the kernel on local (IPC) sockets in the temporary folder
    instead of TCP ports: nothing listens on the network, and the kernel's warning about
    unencrypted TCP, once per notebook, does not apply."""
    import tempfile
    import uuid

    from jupyter_client import AsyncKernelManager

    class LocalKernelManager(AsyncKernelManager):
        def __init__(self, **kwargs: object) -> None:
            where = os.path.join(tempfile.gettempdir(), f"mrecg-kernel-{uuid.uuid4().hex[:12]}")
            super().__init__(**{"transport": "ipc", "ip": where, **kwargs})

    return LocalKernelManager


STYLER_ID = re.compile(r"\bT_[0-9a-f]{5}(?![0-9A-Za-z])")  # pandas Styler: a random id per displayed table
ADDRESS = re.compile(r" at 0x[0-9a-f]+>")  # <pandas.io.formats.style.Styler at 0x7f...>


WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def scrub(text: str) -> str:
    """An executed notebook without what changes from one execution or machine to the next:
    papermill's timings, paths and versions (its parameters are kept), the kernel's execution
    timestamps, the Python version, the random id of the injected parameters cell, and in the
    outputs the random ids of pandas' styled tables and of widgets, the memory addresses in objects'
    reprs, and the machine's path of the repository."""
    import nbformat

    nb = nbformat.reads(text, as_version=4)
    parameters = nb.metadata.get("papermill", {}).get("parameters", {})
    nb.metadata = {"kernelspec": KERNELSPEC, "papermill": {"parameters": parameters},
                   **({"language_info": {k: v for k, v in nb.metadata.language_info.items() if k != "version"}}
                      if "language_info" in nb.metadata else {})}
    root = f"{paths.repo_root()}/"  # a path the notebook printed is shown relative to the repository
    for i, cell in enumerate(nb.cells):
        cell.metadata = {k: v for k, v in cell.metadata.items() if k == "tags"}
        if "injected-parameters" in cell.metadata.get("tags", []):
            cell.id = "injected-parameters"
        for j, output in enumerate(cell.get("outputs", [])):
            if "text" in output:  # printed lines
                output["text"] = output["text"].replace(root, "")
            shown = output.get("data", {})
            if "text/html" in shown:  # a pandas Styler's table: its random id becomes the output's place
                shown["text/html"] = STYLER_ID.sub(f"T_{i}_{j}", shown["text/html"]).replace(root, "")
            if "text/plain" in shown:  # an object shown by its repr: no memory address
                shown["text/plain"] = ADDRESS.sub(">", shown["text/plain"]).replace(root, "")
            if WIDGET_VIEW in shown:  # a widget's random model id becomes the output's place
                shown[WIDGET_VIEW]["model_id"] = f"widget-{i}-{j}"
    return nbformat.writes(nb) + "\n"


def execute(notebook: Path, out: Path, parameters: dict) -> None:
    """Execute ``notebook`` into ``out`` with ``parameters``, then :func:`scrub` it: executed again on
    the same records with the same packages, it is the same file."""
    import papermill as pm

    out.parent.mkdir(parents=True, exist_ok=True)
    pm.execute_notebook(str(notebook), str(out), cwd=str(notebook.parent), progress_bar=False, parameters=parameters,
                        kernel_manager_class=local_kernel_manager())
    out.write_text(scrub(out.read_text()))
