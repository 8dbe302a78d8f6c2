# %% [markdown]
# # Table 1: top-1 after post-training quantization
#
# **The paper's claim.** MRECG (mixed reconstruction granularity + expanded batch) improves on its baseline at every
# bit-width, most on MobileNetV2 (small, depthwise-separable, oscillates most) and at low bit-widths: e.g. W2A4
# MobileNetV2 x0.5 +6.6 pt over BRECQ, ResNet-18 +1.9 pt.
#
# **Our setting.** The `mini` preset quantizes our Fashion-MNIST models of the same topologies; the `paper` preset
# ImageNet with the paper's hyper-parameters. The paper's numbers are read from `paper_table1.csv`, never typed in.
# Which cells each preset fills is `mrecg.figures.table1.SWEEP`: at `mini`, MobileNetV2 x0.5 and ResNet-18 at the
# paper's four bit-widths and the other MobileNetV2 widths at W2A2, where BRECQ loses most, three seeds per cell,
# every method of a seed on the same calibration images. MRECG is the released method: the authors' merge schemes,
# MQBench's partition (joint stem and head units) and the paper's expansion (x4 images, x8 batch). Rows marked
# "ours" select the merges with our data-dependent ModCap instead.

# %% tags=["parameters"]
preset = 'mini'          # smoke | mini | paper
device = 'cpu'           # cpu or cuda[:N]
cache_device = 'auto'    # auto: the device when the caches fit | cpu | disk | cuda[:N]
data_root = None         # ImageNet root with train/ and val/ (paper preset only)
results_dir = None       # None: results/ of the repository
figures_dir = None       # None: figures/<preset>/ of the repository
seeds = None             # None: each sweep's own seeds
force = False            # True: recompute every run instead of reading the cache
recompute_stale = False  # True: recompute the runs that other code computed

# %%
from IPython.display import display

from mrecg.figures import table1
from mrecg.figures.saving import save_table
from mrecg.study import runner
from mrecg.study.notebooks import notebook_setup

study, results_dir, figures_dir, floor = notebook_setup(globals())  # a bad parameter fails here

# %%
records = runner.run_specs(table1.specs(study), results_dir, force, recompute_stale=recompute_stale)
table = table1.frame(records, floor.points)
save_table(table, figures_dir, "table1", title=f"Table 1 ({preset} preset): ours beside the paper")
display(table.style.format(precision=2, na_rep=""))

# %% [markdown]
# **Reading it.** `ours` is the mean over `seeds` runs and `ours_std` their spread. For the MRECG rows, `gain_ours`
# is the mean of the per-seed differences to its own baseline (BRECQ or QDrop, same calibration images), `gain_lo`
# / `gain_hi` its 95 % interval, and `verdict` says whether the interval puts the gain beyond the noise floor
# (printed above: how much the same run moves across machines and thread counts). One seed has no interval and is
# always undecided. The paper's absolute numbers are ImageNet top-1 and are not comparable with Fashion-MNIST; the
# gains and their ordering are what can agree or disagree.

# %%
for line in table1.verdict_lines(table, floor.points):
    print(line)
