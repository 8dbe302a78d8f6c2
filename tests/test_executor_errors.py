"""A bad executor choice: one line, exit 2, before any job is submitted or any results folder is made."""

import sys

import pytest

from mrecg.cli import main


def reproduce_fails(capsys, tmp_path, *flags: str) -> str:
    code = main(["reproduce", "--preset", "smoke", "--compute-only", "--results-dir", str(tmp_path / "r"), *flags])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("mrecg reproduce: error: "), err
    assert not (tmp_path / "r").exists()  # nothing planned, nothing written
    return err[0]


def test_an_unknown_executor(capsys, tmp_path):
    assert "unknown executor 'spark'; choose one of local, dask, slurm" in reproduce_fails(
        capsys, tmp_path, "--executor", "spark")


@pytest.mark.parametrize("gpus", ["0", "-2"])
def test_a_gpu_count_below_one(capsys, tmp_path, gpus):
    assert f"--gpus must be at least 1 with --executor slurm, got {gpus}" in reproduce_fails(
        capsys, tmp_path, "--executor", "slurm", "--partition", "gpu", "--gpus", gpus)


def test_flags_of_another_executor(capsys, tmp_path):
    assert "--gpus and --runs-per-gpu with --executor slurm" in reproduce_fails(capsys, tmp_path, "--gpus", "2")
    assert "needs --scheduler" in reproduce_fails(capsys, tmp_path, "--executor", "dask")


@pytest.mark.parametrize("kind, module, flags", [
    ("dask", "distributed", ["--scheduler", "tcp://127.0.0.1:8786"]),
    ("slurm", "dask_jobqueue", ["--partition", "gpu", "--gpus", "2"]),
])
def test_a_missing_engine_names_the_extra(capsys, tmp_path, monkeypatch, kind, module, flags):
    monkeypatch.setitem(sys.modules, module, None)  # what import sees where the package is not installed
    line = reproduce_fails(capsys, tmp_path, "--executor", kind, *flags)
    assert f"needs the {module.replace('_', '-') if kind == 'slurm' else 'dask[distributed]'} package" in line
    assert 'pip install -e ".[cluster]"' in line


def test_an_unreachable_scheduler(capsys, tmp_path):
    pytest.importorskip("distributed")
    line = reproduce_fails(capsys, tmp_path, "--executor", "dask", "--scheduler", "tcp://127.0.0.1:9")
    assert "cannot reach the Dask scheduler at tcp://127.0.0.1:9" in line
    assert "wants tcp://HOST:PORT" in reproduce_fails(capsys, tmp_path, "--executor", "dask", "--scheduler", "nohost")


def test_slurm_away_from_a_login_node(capsys, tmp_path, monkeypatch):
    pytest.importorskip("dask_jobqueue")
    monkeypatch.setenv("PATH", str(tmp_path))  # no sbatch here
    assert "sbatch, which is not on PATH" in reproduce_fails(
        capsys, tmp_path, "--executor", "slurm", "--partition", "gpu", "--gpus", "2")
