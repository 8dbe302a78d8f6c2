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
    for i, cell in enumerate(out):
        cell.id = f"cell-{i}"  # stable ids: regenerating leaves unchanged notebooks unchanged
    nb.cells = out
    return nb


TABLE1 = [
    ("md", """# Table 1: top-1 after post-training quantization

**The paper's claim.** MRECG (mixed reconstruction granularity + expanded batch) improves on its baseline at every
bit-width, most on MobileNetV2 (small, depthwise-separable, oscillates most) and at low bit-widths: e.g. W2A4
MobileNetV2 x0.5 +6.6 pt over BRECQ, ResNet-18 +1.9 pt.

**Our setting.** The `mini` preset quantizes our Fashion-MNIST models of the same topologies; the `paper` preset
ImageNet with the paper's hyper-parameters. The paper's numbers are read from `paper_table1.csv`, never typed in.
Which cells each preset fills is `mrecg.study.TABLE1_CELLS`: `mini` fills MobileNetV2 x0.5 at W4A4 and W2A4 (the
paper's largest effects) and ResNet-18 at W2A4 (the ResNet contrast), and skips the other four models, ResNet-18
at W4A4, W3A3 and W2A2 to stay within the 2-hour CPU budget of the whole mini reproduction (the iteration-budget
sweep of notebook 06 needs most of it); `smoke` fills one model at W4A4 with a few iterations (a pipeline check,
not a result)."""),
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
    ("code", '''gains = table.dropna(subset=["gain_ours"])[["model", "bits", "method", "gain_ours", "ours_std", "seeds", "gain_paper"]]
display(gains.style.format(precision=2, na_rep=""))
for row in gains.itertuples():
    verdict = study.gain_verdict(row.gain_ours, row.ours_std, row.seeds)
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
    claims = [  # (claim, the curve that should oscillate more, the one that should oscillate less)
        ("AdaRound oscillates more than BRECQ", "AdaRound", "BRECQ"),
        ("MRECG data-dependent oscillates less than BRECQ", "BRECQ", "MRECG data-dependent"),
        ("MRECG data-dependent oscillates less than data-free", "MRECG data-free", "MRECG data-dependent"),
    ]
    for claim, more, less in claims:
        ratio = tv[more] / tv[less]
        verdict = "supported" if ratio > 1.1 else "contradicted" if ratio < 1 / 1.1 else "no clear difference (within 10 %)"
        print(f"{model}: {claim}: {verdict} by the normalised total variation ({tv[more]:.3f} vs {tv[less]:.3f})")'''),
]

TOY = [
    ("md", """# The oscillation problem in miniature

**The paper's argument.** Sequential reconstruction (layer by layer, block by block) optimises each unit to
imitate its float counterpart given the *quantized* output of everything before it. A unit inherits the error
accumulated so far; how much of it it can absorb depends on its *capacity*. When a unit has much less capacity
than the unit before it, it cannot absorb the inherited error and its loss jumps; the next, larger unit pulls it
down again: the loss *oscillates* along depth. The paper proves the oscillation is bounded by the capacity
difference of adjacent modules (ModCap), and removes it by reconstructing each large capacity-drop pair jointly.

**The toy.** Nine inverted-residual blocks of torchvision's MobileNetV2, same structure and stride 1 (after a
stride-2 first block), differing only in their output width: 32 ("wide") or 8 ("narrow") channels, alternating; the first is torchvision's
expansion-1 block. Every block changes width, so none has a residual path. Weights are seeded random, BatchNorm
statistics are measured on real Fashion-MNIST images (`mrecg.toy`). We compute ModCap by
hand and with `mrecg`, then reconstruct the toy (W4A8) block by block and with the capacity-drop pairs merged, and
compare the per-block error curves."""),
    ("parameters", PARAMETERS),
    ("code", SETUP + "\nimport torch\nfrom mrecg import toy"),
    ("md", """## ModCap by hand

The data-free ModCap of a block (`mrecg.modcap`, constants documented there) is the sum over its conv layers of
*weights x weight bits x stride^gamma* (gamma = 2); only the first block has a stride (2). By hand, from the float
model's own modules:"""),
    ("code", """model = toy.toy_model()
w_bits = 4
by_hand = [float(sum(m.weight.numel() * w_bits * m.stride[0] ** 2 for m in block.modules()
                     if isinstance(m, torch.nn.Conv2d)))
           for block in model.features[1:-1]]
experiment = toy.toy_experiment(preset, bits=(w_bits, 8), seed=(seeds or [0])[0], data_root=data_root)
capacity = pd.DataFrame({"width": [16, *toy.DEFAULT_WIDTHS], "ModCap by hand": by_hand,
                         "ModCap by mrecg": experiment["modcap"].values})
drops = toy.capacity_drops(by_hand)
capacity["drop to next"] = [i in drops for i in range(len(capacity))]
display(capacity)
assert capacity["ModCap by hand"].tolist() == capacity["ModCap by mrecg"].tolist()
print("merged pairs:", experiment["joint_scheme"])"""),
    ("md", """## Block by block vs capacity drops merged

Per-block error on a held-out batch after reconstruction (quantized input, float target), raw and normalised by
the float output's energy, with the oscillation measures of `mrecg.study` (total variation, local maxima)."""),
    ("code", """errors = experiment["errors"]
fig, axes = plt.subplots(1, 2, figsize=(12, 4))
for ax, y in zip(axes, ("error", "normalised")):
    for run, g in errors.groupby("run"):
        ax.plot(g.block, g[y], "o-", label=run)
    for i in drops:
        ax.axvspan(i - 0.3, i + 1.3, color="tab:orange", alpha=0.12)
    ax.set_xlabel("block (shaded: capacity-drop pairs)")
    ax.set_title(y)
axes[0].legend()
fig.tight_layout()
study.save_figure(fig, f"{figures_dir}/fig_oscillation_toy")
plt.close(fig)
display(Image(f"{figures_dir}/fig_oscillation_toy.png"))
measures = pd.DataFrame([{"run": run, **study.oscillation(g.error.tolist()), "mean error": g.error.mean()}
                         for run, g in errors.groupby("run")])
display(measures)"""),
    ("code", """seq, joint = (measures.set_index("run").loc[k] for k in ("block by block", "capacity drops merged"))
print(f"total variation: block by block {seq.total_variation:.4g}, merged {joint.total_variation:.4g} "
      f"({'smoother' if joint.total_variation < seq.total_variation else 'NOT smoother'} when merged)")
print(f"mean block error: block by block {seq['mean error']:.4g}, merged {joint['mean error']:.4g}")"""),
    ("md", """**Reading it.** The verdict printed above is computed, not written in advance. Two things to look for.
First, the raw curve zigzags with the blocks' output width: the reconstruction loss sums over output channels, so a
32-channel block reports about four times the loss of an 8-channel one for the same per-channel error. A raw
oscillation can therefore be an artefact of output size alone, which is why the real-network notebook (05) also
plots the error normalised by the float output's energy. Second, on the normalised curve the question is whether
merging the capacity-drop pairs lowers the error of the smaller block of each pair. In our runs of this toy it did
not: the normalised error grows smoothly along depth either way, and the merged run is not smoother. This toy has
random weights and no residual paths, so it isolates capacity differences but not the paper's setting; notebooks 05
and 06 test the claim on trained networks."""),
]

TABLE2 = [
    ("md", """# Table 2: what each of MRECG's components contributes

**The paper's claim.** On MobileNetV2 x0.5 at W4A4 with BRECQ as the baseline, mixed reconstruction granularity
adds +1.08 pt, the expanded batch +0.74 pt, both together about +2.24 pt (the last read from Table 1).

**Our setting.** The same four rows on our Fashion-MNIST MobileNetV2 x0.5: "+ mixed granularity" is MRECG's
ModCap-selected scheme at BRECQ's batch and calibration size; "+ expanded batch" is BRECQ with the preset's
expanded calibration set and batch (`mrecg.config.EXPANDED`); "+ both" is the full method (Table 1's run). Each
row is repeated over seeds (`mrecg.study.TABLE2_SEEDS`); gains are the mean of the per-seed differences to BRECQ."""),
    ("parameters", PARAMETERS),
    ("code", SETUP),
    ("code", """specs = study.table2_specs(preset, seeds, data_root, device)
records = study.run_specs(specs, results_dir, force)
table = study.table2_frame(records)
study.save_table(table, figures_dir, "table2", title=f"Table 2 ({preset} preset): MobileNetV2 x0.5 W4A4")
display(table.style.format(precision=2, na_rep=""))"""),
    ("code", """for row in table.iloc[1:].itertuples():
    verdict = study.gain_verdict(row.gain_ours, row.gain_std, row.seeds)
    print(f"{row.row}: ours {row.gain_ours:+.2f} pt (spread {row.gain_std:.2f}), paper {row.gain_paper:+.2f} pt -> {verdict}")"""),
]

FIG4 = [
    ("md", """# Fig. 4: MRECG's scheme against random mixed-granularity schemes

**The paper's claim.** Among many randomly sampled mixed-granularity schemes for each MobileNetV2 width (BRECQ,
W4A4), MRECG's ModCap-selected scheme is near the top and on the Pareto front of accuracy against model-size cost.

**Our setting.** Random schemes draw as many adjacent merges as MRECG makes (7 for MobileNetV2) with a seed each;
all runs use BRECQ's batch and calibration size, so only the granularity differs. The cost of a scheme is the
weight count of its largest reconstruction unit (what must be optimised at once). `mrecg.study.FIG4_SWEEP` says
how many schemes and which widths each preset runs: `mini` samples 5 schemes on x0.5 only and skips the other
widths to stay within the CPU budget; `paper` runs 20 per width."""),
    ("parameters", PARAMETERS),
    ("code", SETUP),
    ("code", """specs = study.fig4_specs(preset, seeds, data_root, device)
records = study.run_specs(specs, results_dir, force)
frame = study.fig4_frame(records)
paths = study.plot_fig4(frame, f"{figures_dir}/fig4_pareto")
study.save_table(frame, figures_dir, "fig4_schemes", title="Schemes: accuracy and cost")
display(Image(str(paths[0])))
display(frame.sort_values(["model", "top1"], ascending=[True, False]).style.format(precision=2))"""),
    ("code", """for model, g in frame.groupby("model"):
    random = g[g.kind == "random"].top1
    mrecg, brecq = g[g.kind == "MRECG"].top1.iloc[0], g[g.kind == "BRECQ"].top1.iloc[0]
    rank = int((random > mrecg).sum()) + 1
    front = study.pareto_front(g)
    print(f"{model}: MRECG {mrecg:.2f} (rank {rank} of {len(random) + 1} against the random schemes, "
          f"random median {random.median():.2f}, range {random.min():.2f}-{random.max():.2f}), BRECQ {brecq:.2f}; "
          f"MRECG {'is' if (front.kind == 'MRECG').any() else 'is NOT'} on the Pareto front")"""),
]

FIG5 = [
    ("md", """# Fig. 5: reconstruction batch size

**The paper's claim.** A larger reconstruction batch estimates the expected reconstruction loss with less
variance (law of large numbers), so accuracy rises with the batch size and then plateaus (diminishing marginal
utility); small batches fluctuate more. The paper plots the median over sampled runs per batch size.

**Our setting.** BRECQ W4A4 on MobileNetV2 x0.5, the same calibration set and iterations per unit, several seeds
per batch size (`mrecg.study.FIG5_SWEEP`)."""),
    ("parameters", PARAMETERS),
    ("code", SETUP),
    ("code", """specs = study.fig5_specs(preset, seeds, data_root, device)
records = study.run_specs(specs, results_dir, force)
rows, summary = study.fig5_frame(records)
paths = study.plot_fig5(rows, summary, f"{figures_dir}/fig5_batch_size")
study.save_table(summary, figures_dir, "fig5_batch_size", title="BRECQ W4A4 top-1 per batch size")
display(Image(str(paths[0])))
display(summary.style.format(precision=2))"""),
    ("code", """steps = summary["median"].diff().dropna().round(2).tolist()
print("median gain per doubling of the batch:", steps)
print("spread (max - min) per batch size:", (summary["max"] - summary["min"]).round(2).tolist())
if len(steps) > 1:
    print("diminishing returns:", "yes" if steps[-1] < steps[0] else "no", "(last doubling vs first)")"""),
]

BUDGET = [
    ("md", """# Beyond the paper: does MRECG's gain survive a converged baseline?

A short iteration budget per unit measures under-converged AdaRound, not MRECG: a merged unit optimises more
parameters per step and can look better simply because the baseline has not finished. This notebook measures
MRECG+BRECQ's gain over BRECQ at W2A4 against the iterations per unit (several seeds), and plots accuracy against
*total* optimisation steps (iterations x units), since merged runs have fewer units. It also checks the preset's
own iteration count: the mini preset must sit where BRECQ is within about 1 pt of its best budget.

**The learning rate belongs to the budget.** Adam moves each AdaRound variable by at most about its learning rate
per step, so lr x iterations bounds how many rounding decisions reconstruction can turn around (the paper: 1e-3 x
20,000). The mini preset runs 1000 iterations per unit and therefore uses a rounding lr of 1e-2
(`mrecg.config.PRESETS`); at the paper's 1e-3 an earlier mini run found BRECQ 1.1 pt short of its 2000-iteration
accuracy on MobileNetV2 x0.5, and MRECG's gain shrinking from +0.8 pt at 500 iterations to nothing at 2000: the
signature of a comparison that measures under-training. The check below is repeated on every run."""),
    ("parameters", PARAMETERS),
    ("code", SETUP + "\nfrom mrecg.config import PRESETS"),
    ("code", """specs = study.budget_specs(preset, seeds, data_root, device)
records = study.run_specs(specs, results_dir, force)
frame = study.budget_frame(records)
gains = study.budget_gains(frame)
paths = study.plot_budget(frame, gains, f"{figures_dir}/fig_iteration_budget")
study.save_table(gains, figures_dir, "iteration_budget", title="W2A4: MRECG+BRECQ vs BRECQ per iteration budget")
display(Image(str(paths[0])))
display(gains.style.format(precision=2))"""),
    ("code", """converged = study.converged_iters(gains, tolerance=1.0)
chosen = PRESETS[preset]["iters"]
for model, iters in converged.items():
    ok = chosen >= iters
    print(f"{model}: BRECQ within 1 pt of its best from {iters} iterations per unit; the {preset} preset uses "
          f"{chosen}: {'converged' if ok else 'UNDER-CONVERGED: the other tables measure under-training'}")
for row in gains.itertuples():
    print(f"{row.model} @ {row.iters}: gain {row.gain:+.2f} pt (spread {row.gain_std:.2f}, {row.seeds} seeds): "
          f"{study.gain_verdict(row.gain, row.gain_std, row.seeds)}")"""),
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
from mrecg.notebooks import code_version, figure_notebooks, notebook_parameters, record_keys, write_manifest

study.check_parameters(preset, data_root)   # a bad parameter fails here, in one line
notebook_dir = Path("notebooks") if Path("notebooks").is_dir() else Path(".")
source = code_version()   # the commit the notebooks run from, taken before anything runs
done = []
for nb in figure_notebooks(notebook_dir):
    out = Path(executed_dir) / nb.name
    out.parent.mkdir(parents=True, exist_ok=True)
    before, start = record_keys(results_dir, preset), time.perf_counter()
    pm.execute_notebook(str(nb), str(out), cwd=str(nb.parent), progress_bar=False, parameters=notebook_parameters(
        preset=preset, device=device, data_root=data_root, results_dir=results_dir,
        figures_dir=figures_dir, seeds=seeds, force=force))
    seconds, computed = time.perf_counter() - start, sorted(record_keys(results_dir, preset) - before)
    done.append({"notebook": nb.stem, "seconds": round(seconds, 1), "computed_runs": len(computed),
                 "computed_keys": computed})
    print(f"{nb.stem}: {seconds:.0f} s, {len(computed)} runs computed")
manifest = write_manifest(results_dir, preset, done, source)
print(f"{len(done)} notebooks, {sum(d['seconds'] for d in done):.0f} s in all; manifest: {manifest}")'''),
]

if __name__ == "__main__":
    nbf.write(notebook(RUN_ALL), HERE / "run_all.ipynb")
    notebooks = {"00_oscillation_theory": TOY, "01_table1_accuracy": TABLE1, "02_table2_components": TABLE2,
                 "03_fig4_pareto": FIG4, "04_fig5_batch_size": FIG5, "05_fig6_loss_distribution": FIG6,
                 "06_iteration_budget": BUDGET}
    for name, cells in notebooks.items():
        nbf.write(notebook(cells), HERE / f"{name}.ipynb")
