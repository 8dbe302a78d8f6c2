# %% [markdown]
# # Fig. 6: reconstruction error along depth
#
# **The paper's claim.** Block-by-block reconstruction *oscillates*: the loss rises and falls along depth instead of
# growing smoothly. AdaRound oscillates most, BRECQ less, MRECG with data-free ModCap moderately and MRECG with the
# data-dependent ModCap least.
#
# **What we measure.** Two curves per method. The paper's: one reconstruction loss per reconstructed unit (a merged
# unit is one point). Ours, the same quantity for every method: after a block's unit has been optimised, the error
# between the float block output and the quantized block output with quantized input, on a fixed held-out batch.
# Raw errors grow with depth simply because deeper outputs are larger, so we also normalise by the float output's
# energy, and measure oscillation by total variation and local maxima. Round-to-nearest has no reconstruction:
# whatever sawtooth it shows comes from the network's structure (residual paths, stage boundaries).

# %% tags=["parameters"]
preset = 'mini'          # smoke | mini | paper
device = 'cpu'           # cpu or cuda[:N]
cache_device = 'auto'    # auto: the device when the caches fit | cpu | disk | cuda[:N]
data_root = None         # ImageNet root with train/ and val/ (paper preset only)
results_dir = None       # None: results/ of the repository
figures_dir = None       # None: figures/<preset>/ of the repository
seeds = None             # None: each sweep's own seeds
act_init = 'ours'        # range setup of every run: ours | qdrop | mqbench (the released MRECG code's)
force = False            # True: recompute every run instead of reading the cache
recompute_stale = False  # True: recompute the runs that other code computed

# %%
from IPython.display import Image, display

from mrecg.figures import fig6
from mrecg.figures.saving import save_table
from mrecg.study import runner
from mrecg.study.notebooks import notebook_setup
from mrecg.study.oscillation import oscillation

study, results_dir, figures_dir, rerun = notebook_setup(globals())  # a bad parameter fails here

# %%
records = runner.run_specs(fig6.specs(study), results_dir, force, recompute_stale=recompute_stale)
curves = fig6.block_curves(records)
files = fig6.plot(curves, figures_dir / "fig6_loss_distribution")
display(Image(str(files[0])))
units = fig6.unit_curves(records)
files = fig6.plot_units(units, figures_dir / "fig6_unit_losses")
display(Image(str(files[0])))

# %%
measures = fig6.oscillation_table(curves)
save_table(measures, figures_dir, "fig6_oscillation", title="Oscillation of each curve")
display(measures.style.format(precision=3))
for key, values in fig6.paper.fig6_curves().items():
    print(f"paper {key}: {oscillation(values)}")

# %% [markdown]
# **Structure vs reconstruction.** Compare each reconstructed curve with round-to-nearest: maxima that
# round-to-nearest shares are the network's own sawtooth (each stage's first block has a projection or stride and
# resets the accumulated error); what reconstruction adds or removes is the difference. Inside a merged unit only the
# unit's output is matched, so the per-block curve of a merged run can zigzag inside the unit while its per-unit
# curve does not. The claims below are decided twice, paired per seed: on the per-block curves (normalised total
# variation: every method has a point per block, so the comparison is fair) and on the per-unit curves (the paper's
# plot, raw loss: a merged unit is one point, so merging alone removes steps and lowers the total variation).
# Per unit, curves are therefore compared only at the points both have: BRECQ's curve sampled at MRECG's unit ends
# (`points` says how many). The paper's own Fig. 6 has the same property: its values are measured the same way
# below. Verdicts are against zero, and a claim whose pairs ran on two machines has none.

# %%
print("per block (normalised error)")
display(fig6.claims(curves, "normalised").style.format(precision=3))
print("per unit (the paper's plot, loss), at the unit ends both curves share")
display(fig6.claims(units, "loss").style.format(precision=3))
print("the paper's Fig. 6, total variation:", fig6.paper_matched())
