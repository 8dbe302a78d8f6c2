"""Every notebook really runs (smoke preset, through papermill) and writes its figures."""

import json
from pathlib import Path

import papermill as pm
import pytest

from mrecg.notebooks import figure_notebooks

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = REPO / "notebooks"
TABLE = (".png", ".pdf", ".csv", ".md")
FIGURE = (".png", ".pdf")
EXPECTED = {
    "00_oscillation_theory": [f"fig_oscillation_toy{e}" for e in FIGURE],
    "01_table1_accuracy": [f"table1{e}" for e in TABLE],
    "02_table2_components": [f"table2{e}" for e in TABLE],
    "03_fig4_pareto": [f"fig4_pareto{e}" for e in FIGURE] + [f"fig4_schemes{e}" for e in TABLE],
    "04_fig5_batch_size": [f"fig5_batch_size{e}" for e in TABLE],
    "05_fig6_loss_distribution": [f"fig6_loss_distribution{e}" for e in FIGURE] + [f"fig6_oscillation{e}" for e in TABLE],
    "06_iteration_budget": [f"fig_iteration_budget{e}" for e in FIGURE] + [f"iteration_budget{e}" for e in TABLE],
}


def test_stored_notebooks_have_no_outputs_and_a_parameters_cell():
    for path in sorted(NOTEBOOKS.glob("*.ipynb")):
        nb = json.loads(path.read_text())
        code = [c for c in nb["cells"] if c["cell_type"] == "code"]
        assert not any(c.get("outputs") or c.get("execution_count") for c in code), path.name
        tagged = [c for c in code if "parameters" in c["metadata"].get("tags", [])]
        assert len(tagged) == 1, path.name
        for name in ("preset", "device", "results_dir", "figures_dir", "seeds", "force"):
            assert f"{name} =" in "".join(tagged[0]["source"]), (path.name, name)


def test_every_numbered_notebook_has_its_expected_outputs_listed():
    assert {p.stem for p in figure_notebooks(NOTEBOOKS)} == set(EXPECTED)


def test_run_all_regenerates_every_figure_at_the_smoke_preset(tmp_path):
    figures, results = tmp_path / "figures", tmp_path / "results"
    committed = sorted((REPO / "figures").iterdir())
    pm.execute_notebook(
        str(NOTEBOOKS / "run_all.ipynb"), str(tmp_path / "run_all.ipynb"), cwd=str(REPO), progress_bar=False,
        parameters={"preset": "smoke", "figures_dir": str(figures), "results_dir": str(results),
                    "executed_dir": str(tmp_path / "executed")},
    )
    for stem, files in EXPECTED.items():
        assert (tmp_path / "executed" / f"{stem}.ipynb").is_file()
        for f in files:
            assert (figures / f).is_file() and (figures / f).stat().st_size > 0, f
    assert sorted((REPO / "figures").iterdir()) == committed  # the committed figures are never touched
    manifest = json.loads((results / "smoke" / "manifest.json").read_text())
    assert [n["notebook"] for n in manifest["notebooks"]] == list(EXPECTED)
    assert manifest["torch"] and manifest["commit"] and all(n["seconds"] > 0 for n in manifest["notebooks"])
    assert sum(n["computed_runs"] for n in manifest["notebooks"]) == len(list((results / "smoke").glob("*.json"))) - 1


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


def test_code_version_ignores_regenerated_outputs_but_not_code(tmp_path):
    import subprocess

    from mrecg.notebooks import code_version

    def git(*args):
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    git("init", "-q")
    for name in ("results/mini/a.json", "figures/t.md", "pkg/code.py"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("1")
    git("add", "-A")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init")
    assert code_version(tmp_path)["uncommitted_changes"] is False
    (tmp_path / "results/mini/a.json").unlink()
    (tmp_path / "figures/t.md").write_text("2")
    assert code_version(tmp_path)["uncommitted_changes"] is False  # emptied cache, regenerated figures
    (tmp_path / "pkg/code.py").write_text("2")
    version = code_version(tmp_path)
    assert version["uncommitted_changes"] is True and len(version["commit"]) == 40
