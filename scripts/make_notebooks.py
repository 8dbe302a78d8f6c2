"""Write the notebooks' source (cells, no outputs) from this one place.

Notebooks are build inputs: edit here and rerun `python scripts/make_notebooks.py`, so that the
stored .ipynb files never carry outputs and their parameter cells stay uniform.
"""

from pathlib import Path

import nbformat as nbf

HERE = Path(__file__).resolve().parents[1] / "notebooks"

PARAMETERS = '''preset = "mini"          # smoke | mini | paper
device = "cpu"
data_root = None          # ImageNet root with train/ and val/ (paper preset only)
results_dir = "../results"
figures_dir = "../figures"
seeds = None              # None: the preset's seeds
force = False             # True: recompute instead of reading cached results'''

SETUP = '''import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import Image, Markdown, display

from mrecg import study

study.check_parameters(preset, data_root)   # a bad parameter fails here, in one line'''


def notebook(cells: list[tuple[str, str]]) -> nbf.NotebookNode:
    nb = nbf.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    out = []
    for kind, text in cells:
        if kind == "md":
            out.append(nbf.v4.new_markdown_cell(text))
        else:
            cell = nbf.v4.new_code_cell(text)
            if kind == "parameters":
                cell.metadata["tags"] = ["parameters"]
            out.append(cell)
    nb.cells = out
    return nb


TABLE1 = [
    ("md", """# Table 1: top-1 after post-training quantization

**The paper's claim.** MRECG (mixed reconstruction granularity + expanded batch) improves on its baseline at every
bit-width, most on MobileNetV2 (small, depthwise-separable, oscillates most) and at low bit-widths: e.g. W2A4
MobileNetV2 x0.5 +6.6 pt over BRECQ, ResNet-18 +1.9 pt.

**Our setting.** The `mini` preset quantizes our Fashion-MNIST models of the same topologies; the `paper` preset
ImageNet with the paper's hyper-parameters. The paper's numbers are read from `paper_table1.csv`, never typed in.
Which cells each preset fills is `mrecg.study.TABLE1_CELLS`: `mini` fills MobileNetV2 x0.5 and ResNet-18 at W4A4
and W2A4 (the cells with the paper's largest and a typical effect), and skips the other four models, W3A3 and
W2A2 to stay within the CPU budget; `smoke` fills one model at W4A4 with a few iterations (a pipeline check, not
a result)."""),
    ("parameters", PARAMETERS),
    ("code", SETUP),
    ("code", '''specs = study.table1_specs(preset, seeds, data_root, device)
records = study.run_specs(specs, results_dir, force)
table = study.table1_frame(records)
study.save_table(table, figures_dir, "table1", title=f"Table 1 ({preset} preset): ours beside the paper")
display(table.style.format(precision=2, na_rep=""))'''),
    ("md", """**Reading it.** `ours` is the mean over `seeds` runs and `ours_std` their spread; `gain_ours` and
`gain_paper` are MRECG minus its own baseline (BRECQ or QDrop). A gain smaller than the seed spread is not a
win. The paper's absolute numbers are ImageNet top-1 and are not comparable with Fashion-MNIST; the gains and
their ordering are what can agree or disagree."""),
    ("code", '''gains = table.dropna(subset=["gain_ours"])[["model", "bits", "method", "gain_ours", "ours_std", "gain_paper"]]
display(gains.style.format(precision=2, na_rep=""))
for row in gains.itertuples():
    spread = 0.0 if pd.isna(row.ours_std) else row.ours_std
    verdict = "larger than the seed spread" if abs(row.gain_ours) > spread and spread > 0 else \\
        "not distinguishable from seed noise" if spread > 0 else "a single seed: no spread to judge it by"
    print(f"{row.model} {row.bits} {row.method}: ours {row.gain_ours:+.2f} pt ({verdict}), paper {row.gain_paper:+.2f} pt")'''),
]

FIG6 = [
    ("md", """# Fig. 6: reconstruction error along depth

**The paper's claim.** Block-by-block reconstruction *oscillates*: the loss rises and falls along depth instead of
growing smoothly. AdaRound oscillates most, BRECQ less, MRECG with data-free ModCap moderately and MRECG with the
data-dependent ModCap least.

**What we measure.** For every method the same quantity: after a block's unit has been optimised, the error
between the float block output and the quantized block output with quantized input, on a fixed held-out batch
(`PTQReport.errors`). Raw errors grow with depth simply because deeper outputs are larger, so we also show them
normalised by the float output's energy, and print two oscillation measures per curve: total variation and the
number of local maxima. Round-to-nearest has no reconstruction at all: whatever sawtooth it shows comes from the
network's structure (residual paths, stage boundaries), not from reconstruction."""),
    ("parameters", PARAMETERS),
    ("code", SETUP),
    ("code", '''specs = study.fig6_specs(preset, seeds=seeds, data_root=data_root, device=device)
records = study.run_specs(specs, results_dir, force)
curves = study.block_curves(records)
paths = study.plot_fig6(curves, f"{figures_dir}/fig6_loss_distribution")
display(Image(str(paths[0])))'''),
    ("code", '''measures = study.oscillation_table(curves)
study.save_table(measures, figures_dir, "fig6_oscillation", title="Oscillation of each curve")
display(measures.style.format(precision=3))
paper_curves = study.paper.fig6_curves()
for key, values in paper_curves.items():
    print(f"paper {key}: {study.oscillation(values)}")'''),
    ("md", """**Structure vs reconstruction.** Compare each reconstructed curve with round-to-nearest: maxima that
round-to-nearest shares are the network's own sawtooth (each stage's first block has a projection or stride and
resets the accumulated error); what reconstruction adds or removes is the difference. The verdict cell below
states, from the measures above, which of the paper's orderings our curves support."""),
    ("code", '''for model, g in measures.groupby("model"):
    tv = dict(zip(g.curve, g["TV normalised"]))
    claims = [
        ("AdaRound oscillates more than BRECQ", tv["AdaRound"] > tv["BRECQ"]),
        ("MRECG data-dependent oscillates less than BRECQ", tv["MRECG data-dependent"] < tv["BRECQ"]),
        ("MRECG data-dependent oscillates less than data-free", tv["MRECG data-dependent"] < tv["MRECG data-free"]),
    ]
    for claim, holds in claims:
        print(f"{model}: {claim}: {'supported' if holds else 'NOT supported'} by the normalised total variation")'''),
]

RUN_ALL = [
    ("md", """# Regenerate every table and figure

Runs each numbered notebook in `notebooks/` through papermill with the parameters below, writes the executed copies
to `executed_dir` and the figures to `figures_dir`, and prints the wall time of each:

```
papermill notebooks/run_all.ipynb runs/run_all.ipynb -p preset mini
```"""),
    ("parameters", PARAMETERS.replace('"../results"', '"results"').replace('"../figures"', '"figures"')
     + '\nexecuted_dir = "runs/executed"'),
    ("code", '''import time
from pathlib import Path

import papermill as pm

from mrecg import study
from mrecg.notebooks import figure_notebooks, notebook_parameters

study.check_parameters(preset, data_root)   # a bad parameter fails here, in one line
notebook_dir = Path("notebooks") if Path("notebooks").is_dir() else Path(".")
timings = {}
for nb in figure_notebooks(notebook_dir):
    out = Path(executed_dir) / nb.name
    out.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    pm.execute_notebook(str(nb), str(out), cwd=str(nb.parent), progress_bar=False, parameters=notebook_parameters(
        preset=preset, device=device, data_root=data_root, results_dir=results_dir,
        figures_dir=figures_dir, seeds=seeds, force=force))
    timings[nb.stem] = time.perf_counter() - start
    print(f"{nb.stem}: {timings[nb.stem]:.0f} s")
print(f"{len(timings)} notebooks, {sum(timings.values()):.0f} s in all")'''),
]

if __name__ == "__main__":
    nbf.write(notebook(RUN_ALL), HERE / "run_all.ipynb")
    for name, cells in {"01_table1_accuracy": TABLE1, "05_fig6_loss_distribution": FIG6}.items():
        nbf.write(notebook(cells), HERE / f"{name}.ipynb")
