"""The README's interim block on the faithful grid: a Table 1 row is shown only when every seed of
MRECG and of its baseline is stored by the current code, and what is missing is counted."""

import shutil
import sys
from pathlib import Path

import pytest

from mrecg import experiments, paths
from mrecg.figures import Study, table1

ROOT = Path(__file__).resolve().parents[1]
CELL = ("mobilenetv2_x0.75", 2, 2)  # complete in the committed faithful grid


@pytest.fixture
def progress():
    sys.path.insert(0, str(ROOT / "scripts"))
    import readme_tables

    yield readme_tables.faithful_progress
    sys.path.remove(str(ROOT / "scripts"))


def cell_specs(method: str | None = None):
    return [s for s in table1.specs(Study("mini", plan="faithful"))
            if (s.model, s.w_bits, s.a_bits) == CELL and method in (None, s.method)]


def copy(specs, to: Path) -> None:
    for s in specs:
        shutil.copy(experiments.record_path(s, paths.results_dir()), experiments.record_path(s, to))


def test_a_complete_cell_is_shown_with_its_paired_verdicts(progress, tmp_path):
    (tmp_path / "mini").mkdir()
    copy(cell_specs(), tmp_path)
    text = progress(results_dir=str(tmp_path))
    rows = [line for line in text.splitlines() if line.startswith("  - mobilenetv2_x0.75 W2A2")]
    assert [r.split(":")[0] for r in rows] == ["  - mobilenetv2_x0.75 W2A2 mrecg+brecq",
                                             "  - mobilenetv2_x0.75 W2A2 mrecg+qdrop"]
    assert all("(95 %, 3 seeds)" in r for r in rows)
    assert "15 of 287 records" in text


def test_a_row_waits_for_every_seed_of_its_baseline(progress, tmp_path):
    (tmp_path / "mini").mkdir()
    brecq = cell_specs("brecq")
    copy([s for s in cell_specs() if s not in brecq[:1]], tmp_path)
    text = progress(results_dir=str(tmp_path))
    assert "mobilenetv2_x0.75 W2A2 mrecg+brecq" not in text  # one BRECQ seed missing
    assert "mobilenetv2_x0.75 W2A2 mrecg+qdrop" in text
    assert "mobilenetv2_x0.75 W2A2 1" in text  # counted as missing
