"""The notebooks: built from their text sources, parameterised alike, run from anywhere, and the
README's main command re-plots the committed mini cache without computing anything."""

import hashlib
import json
import shlex
import subprocess
import sys
from pathlib import Path

import papermill as pm
import pytest

from mrecg.figures import FIGURES
from mrecg.study import notebooks, paths
from mrecg.study.sweeps import StudyError

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = REPO / "notebooks"
TABLE = (".png", ".pdf", ".csv", ".md")
FIGURE = (".png", ".pdf")
EXPECTED = {
    "00_oscillation_theory": [f"fig_oscillation_toy{e}" for e in FIGURE],
    "01_table1_accuracy": [f"table1{e}" for e in TABLE] + [f"claims{e}" for e in FIGURE]
    + [f"gain_vs_room{e}" for e in FIGURE],
    "02_table2_components": [f"table2{e}" for e in TABLE],
    "03_fig4_pareto": [f"fig4_pareto{e}" for e in FIGURE] + [f"fig4_schemes{e}" for e in TABLE],
    "04_fig5_batch_size": [f"fig5_batch_size{e}" for e in TABLE],
    "05_fig6_loss_distribution": [f"fig6_loss_distribution{e}" for e in FIGURE]
    + [f"fig6_unit_losses{e}" for e in FIGURE] + [f"fig6_oscillation{e}" for e in TABLE],
    "06_iteration_budget": [f"fig_iteration_budget{e}" for e in FIGURE] + [f"iteration_budget{e}" for e in TABLE],
}


def test_notebooks_are_built_from_their_sources_without_outputs():
    assert notebooks.mismatched(NOTEBOOKS) == []
    for path in sorted(NOTEBOOKS.glob("*.ipynb")):
        code = [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]
        assert not any(c.get("outputs") or c.get("execution_count") for c in code), path.name


def test_a_changed_source_is_caught(tmp_path):
    for p in NOTEBOOKS.glob("01_*"):
        (tmp_path / p.name).write_text(p.read_text())
    assert notebooks.mismatched(tmp_path) == []
    src = tmp_path / "01_table1_accuracy.py"
    src.write_text(src.read_text().replace("Table 1: top-1", "Table 1: top-5"))
    assert notebooks.mismatched(tmp_path) == [tmp_path / "01_table1_accuracy.ipynb"]


def test_every_parameters_cell_is_the_canonical_one():
    for path in notebooks.figure_notebooks(NOTEBOOKS):
        assert notebooks.parameters_source(path) == notebooks.parameters_cell(), path.name
    driver = notebooks.parameters_source(NOTEBOOKS / "run_all.ipynb")
    assert driver == notebooks.parameters_cell(notebooks.DRIVER_PARAMETERS)


def test_every_figure_module_has_its_notebook():
    assert [p.stem for p in notebooks.figure_notebooks(NOTEBOOKS)] == list(FIGURES) == list(EXPECTED)


def test_default_folders_come_from_the_repository_wherever_the_kernel_runs(monkeypatch, tmp_path):
    for where in (REPO, NOTEBOOKS, tmp_path):
        monkeypatch.chdir(where)
        assert paths.results_dir() == REPO / "results"
        assert paths.figures_dir("smoke") == REPO / "figures" / "smoke"
        assert paths.figures_dir("mini", "elsewhere") == REPO / "elsewhere"  # relative: to the repository


def test_a_misspelled_parameter_fails_in_one_line_before_any_work(tmp_path):
    with pytest.raises(pm.PapermillExecutionError) as err:
        pm.execute_notebook(str(NOTEBOOKS / "01_table1_accuracy.ipynb"), str(tmp_path / "out.ipynb"),
                            progress_bar=False, parameters={"preset": "smoke", "figure_dir": str(tmp_path)})
    assert "unknown notebook parameter 'figure_dir'" in str(err.value)


def _defaults(**changes) -> dict:
    """A notebook's namespace after papermill's injection: the defaults with ``changes``."""
    return {**{k: v for k, (v, _) in notebooks.PARAMETERS.items()}, **changes}


@pytest.mark.parametrize("name, value", [("force", "maybe"), ("force", 1), ("recompute_stale", "False")])
def test_flags_are_read_strictly(name, value):
    with pytest.raises(StudyError, match=f"{name} must be True or False, got {value!r}"):
        notebooks.check_notebook_parameters(_defaults(**{name: value}))
    assert notebooks.check_notebook_parameters(_defaults(**{name: True})).preset == "mini"


def test_seeds_are_taken_as_papermill_passes_them_or_refused_naming_y():
    for given, seeds in (("[0, 1]", (0, 1)), ("[2]", (2,)), (3, (3,)), ([0, 1], (0, 1)), (None, None)):
        assert notebooks.check_notebook_parameters(_defaults(seeds=given)).seeds == seeds
    for bad in ("0 1", "[0, 'x']", "[-1]", [], [True], 1.5):
        with pytest.raises(StudyError, match="-y 'seeds: \\[0, 1\\]' with papermill"):
            notebooks.check_notebook_parameters(_defaults(seeds=bad))


def test_an_executed_notebook_is_scrubbed_of_what_changes_between_executions():
    """The committed notebook with what an execution adds (papermill's timings, paths and version,
    execution timestamps, the Python version, a random id for the injected cell, a Styler's random
    table id, an object's address) scrubs back to the committed file, byte for byte."""
    committed = (REPO / "executed" / "mini" / "02_table2_components.ipynb").read_text()
    nb = json.loads(committed.replace("T_4_0", "T_9f3a1").replace("Styler>", "Styler at 0x7f3e2c1d9a90>"))
    assert notebooks.scrub(committed) == committed
    nb["metadata"]["papermill"].update(input_path="/home/someone/mrecg/notebooks/02_table2_components.ipynb",
                                       start_time="2026-11-28T03:32:56.376614+00:00", duration=7.96, version="2.7.0")
    nb["metadata"]["language_info"]["version"] = "3.11.7"
    for cell in nb["cells"]:
        cell["metadata"]["execution"] = {"iopub.execute_input": "2026-11-28T03:32:57.307201Z"}
        cell["metadata"]["papermill"] = {"duration": 0.01, "status": "completed"}
        if cell["id"] == "injected-parameters":
            cell["id"] = "88881873"
    dirty = json.dumps(nb, indent=1)
    assert "T_9f3a1" in dirty and "0x7f3e2c1d9a90" in dirty
    assert notebooks.scrub(dirty) == committed


@pytest.mark.parametrize("params, message", [
    ({"preset": "huge"}, "unknown preset 'huge'"),
    ({"preset": "paper"}, "the paper preset needs ImageNet"),
])
def test_bad_parameter_fails_in_the_first_cell_after_the_parameters(tmp_path, params, message):
    with pytest.raises(pm.PapermillExecutionError) as err:
        pm.execute_notebook(str(NOTEBOOKS / "01_table1_accuracy.ipynb"), str(tmp_path / "out.ipynb"),
                            cwd=str(NOTEBOOKS), progress_bar=False, parameters=params)
    assert message in str(err.value)
    executed = json.loads((tmp_path / "out.ipynb").read_text())
    code = [c for c in executed["cells"] if c["cell_type"] == "code"]
    # code cells: the notebook's defaults, papermill's injected parameters, setup (fails), then nothing ran
    assert [c.get("execution_count") is not None for c in code][:4] == [True, True, True, False]


def test_a_notebook_run_from_the_root_with_default_folders_writes_inside_the_repository(tmp_path):
    """papermill from the root with no folders given: figures in figures/smoke/, nothing outside the repository."""
    outside = REPO.parent / "figures"
    before = outside.exists()
    run = subprocess.run([sys.executable, "-m", "papermill", "notebooks/04_fig5_batch_size.ipynb",
                          str(tmp_path / "out.ipynb"), "-p", "preset", "smoke"], cwd=REPO, capture_output=True,
                         text=True)
    assert run.returncode == 0, run.stderr[-2000:]
    assert (REPO / "figures" / "smoke" / "fig5_batch_size.csv").is_file()
    assert outside.exists() == before


def _digest(files) -> dict:
    return {str(p.relative_to(REPO)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(files)}


def test_run_all_regenerates_every_figure_at_the_smoke_preset_and_leaves_the_committed_ones(tmp_path):
    figures, results = tmp_path / "figures", tmp_path / "results"
    committed = _digest((REPO / "figures" / "mini").iterdir())
    run = subprocess.run(
        [sys.executable, "-m", "papermill", str(NOTEBOOKS / "run_all.ipynb"), str(tmp_path / "run_all.ipynb"),
         "-p", "preset", "smoke", "-p", "figures_dir", str(figures), "-p", "results_dir", str(results),
         "-p", "executed_dir", str(tmp_path / "executed")], cwd=NOTEBOOKS, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "[mrecg] smoke:" in run.stderr and "runs computed" in run.stderr  # progress on the terminal
    for stem, files in EXPECTED.items():
        assert (tmp_path / "executed" / f"{stem}.ipynb").is_file()
        for f in files:
            assert (figures / f).is_file() and (figures / f).stat().st_size > 0, f
    assert _digest((REPO / "figures" / "mini").iterdir()) == committed  # the committed figures are never touched
    manifest = json.loads((results / "smoke" / "manifest.json").read_text())
    computation = manifest["computations"][-1]
    assert [n["notebook"] for n in computation["notebooks"]] == list(EXPECTED)
    assert computation["commit"] and computation["fingerprint"] and computation["compute_wall_seconds"] > 0
    stored = [p for p in (results / "smoke").glob("*.json") if p.name not in ("manifest.json", "noise.json")]
    assert computation["computed_runs"] == len(stored) + 1  # + the toy's record
    assert sum(n["computed_runs"] for n in computation["notebooks"]) == len(stored)


def test_a_notebook_executed_twice_on_the_cache_is_the_same_file_naming_no_machine_folder(tmp_path):
    """What reproduce passes (repository-relative folders), executed twice: byte-identical files
    that name no folder of this machine, and a kernel that warns about nothing."""
    parameters = {"preset": "mini", "results_dir": paths.portable(REPO / "results"),
                  "figures_dir": paths.portable(tmp_path / "figures")}
    assert parameters["results_dir"] == "results"
    texts = []
    for run in ("first", "second"):
        notebooks.execute(NOTEBOOKS / "04_fig5_batch_size.ipynb", tmp_path / run / "04.ipynb", parameters)
        texts.append((tmp_path / run / "04.ipynb").read_text())
    assert texts[0] == texts[1]
    assert str(REPO) not in texts[0] and (tmp_path / "figures" / "fig5_batch_size.csv").is_file()


def _status() -> str:
    """``git status`` of what a reproduction writes and reads."""
    return subprocess.run(["git", "status", "--porcelain", "--", "executed", "figures", "results", "notebooks"],
                          cwd=REPO, capture_output=True, text=True, check=True).stdout


def _readme_main_command() -> str:
    readme = (REPO / "README.md").read_text()
    commands = [line.split("#")[0].strip() for line in readme.splitlines()
                if line.strip().startswith("papermill notebooks/run_all")]
    assert commands, "the README names no papermill command"
    return commands[0]


def test_the_readme_main_command_replots_the_committed_cache_computing_nothing():
    """The README's main command, verbatim, from the root of this checkout: no run computed, the
    committed tables, figures, executed notebooks and the computation's manifest unchanged."""
    command = _readme_main_command()
    assert command == "papermill notebooks/run_all.ipynb runs/run_all.ipynb -p preset mini"
    results = REPO / "results" / "mini"
    tables = [p for p in (REPO / "figures" / "mini").iterdir() if p.suffix in (".csv", ".md")]
    before = _digest(list(results.rglob("*.json")) + tables)
    status = _status()
    outputs = _digest(list((REPO / "executed" / "mini").iterdir()) + list((REPO / "figures" / "mini").iterdir()))
    run = subprocess.run(shlex.split(command), cwd=REPO, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-3000:]
    assert _digest(list(results.rglob("*.json")) + tables) == before
    replot = json.loads((REPO / "runs" / "mini" / "replot.json").read_text())
    assert replot["computed_runs"] == 0 and all(n["computed_runs"] == 0 for n in replot["notebooks"])
    for stem in EXPECTED:
        assert "IProgress not found" not in (REPO / "executed" / "mini" / f"{stem}.ipynb").read_text(), stem
    # once, from papermill's own kernel (on localhost); the notebooks' kernels listen on local sockets
    assert run.stderr.count("without encryption") == 1
    assert _status() == status  # a re-plot with nothing new leaves the tree as it was (clean in CI)
    assert _digest(list((REPO / "executed" / "mini").iterdir()) + list((REPO / "figures" / "mini").iterdir())) == outputs


def test_the_committed_executed_notebooks_show_their_results():
    for stem in EXPECTED:
        nb = json.loads((REPO / "executed" / "mini" / f"{stem}.ipynb").read_text())
        code = [c for c in nb["cells"] if c["cell_type"] == "code"]
        assert all(c["execution_count"] for c in code), stem
        assert sum(len(c["outputs"]) for c in code) >= 3, stem
        assert "IProgress not found" not in json.dumps(nb), stem
