"""The paper's own numbers, read from the reference files in ``mrecg/resources/paper``.

Nothing here is typed in: Table 1 comes from ``paper_table1.csv``, the Fig. 6 curves from the
values read off the submission's figure in ``paper_notes.md``.
"""

from __future__ import annotations

import io
import re
from importlib import resources

import pandas as pd

# our method names -> the row labels of the paper's Table 1 (starred rows are the authors' reproductions)
TABLE1_METHODS = {
    "adaround": ("adaround", "adaround*"),
    "brecq": ("brecq*",),
    "qdrop": ("qdrop",),
    "mrecg+brecq": ("mrecg+brecq",),
    "mrecg+qdrop": ("mrecg+qdrop",),
}


def _text(name: str) -> str:
    return resources.files("mrecg").joinpath("resources", "paper", name).read_text()


def table1() -> pd.DataFrame:
    """Long format: method (ours), paper_method, w_bits, a_bits, model, top1 (NaN where not reported)."""
    wide = pd.read_csv(io.StringIO(_text("paper_table1.csv")), comment="#")
    long = wide.melt(id_vars=["method", "w_bits", "a_bits"], var_name="model", value_name="top1")
    long = long.rename(columns={"method": "paper_method"})
    ours = {label: ours for ours, labels in TABLE1_METHODS.items() for label in labels}
    ours["fp"] = "fp"
    long["method"] = long["paper_method"].map(ours)
    return long.dropna(subset=["method"])


def fig6_curves() -> dict[str, list[float]]:
    """Per-block loss of MobileNetV2 read off the paper's Fig. 6: ``brecq`` and ``mrecg_loss``."""
    text = _text("paper_notes.md")
    curves = {}
    for key, label in (("brecq", "BRECQ"), ("mrecg_loss", "Loss MRECG")):
        line = re.search(rf"^\s*{label}\s+([\d. ]+)$", text, re.M).group(1)
        curves[key] = [float(v) for v in line.split()]
    return curves


def table2_gains() -> dict[str, float]:
    """Table 2's gains over BRECQ (MobileNetV2 x0.5, W4A4), keyed like ``study.TABLE2_ROWS``.

    The components' gains come from the notes' Table 2 line; "both" is the Table 1 difference
    MRECG+BRECQ minus BRECQ* for the same cell (the sentence giving it could not be read)."""
    text = _text("paper_notes.md")
    mixed = float(re.search(r"mixed reconstruction granularity: \+([\d.]+)", text).group(1))
    expanded = float(re.search(r"expanded batch size: \+([\d.]+)", text).group(1))
    t1 = table1()
    cell = t1[(t1.model == "mobilenetv2_x0.5") & (t1.w_bits == 4) & (t1.a_bits == 4)].set_index("method").top1
    return {"BRECQ": 0.0, "+ mixed granularity": mixed, "+ expanded batch": expanded,
            "+ both (MRECG)": round(float(cell["mrecg+brecq"] - cell["brecq"]), 2)}
