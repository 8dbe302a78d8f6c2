# %% [markdown]
# # Fig. 4: MRECG's scheme against random mixed-granularity schemes
#
# **The paper's claim.** Among many randomly sampled mixed-granularity schemes for each MobileNetV2 width (BRECQ,
# W4A4), MRECG's scheme is near the top and on the Pareto front of accuracy against model-size cost.
#
# **Our setting.** Random schemes draw as many adjacent merges as MRECG makes (7 for MobileNetV2) with a seed each;
# all runs use BRECQ's batch and calibration size, so only the granularity differs. The cost of a scheme is the
# weight count of its largest reconstruction unit (what must be optimised at once). `mrecg.figures.fig4.SWEEP` says
# how many schemes and which widths each preset runs; `mini` runs 20 random schemes on x0.5 at W3A3 (W4A4 leaves
# little to recover on Fashion-MNIST) against the authors' released scheme, one seed.

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

from mrecg.figures import fig4
from mrecg.figures.saving import save_table
from mrecg.study import runner
from mrecg.study.notebooks import notebook_setup

study, results_dir, figures_dir, rerun = notebook_setup(globals())  # a bad parameter fails here

# %%
records = runner.run_specs(fig4.specs(study), results_dir, force, recompute_stale=recompute_stale)
frame = fig4.frame(records)
files = fig4.plot(frame, figures_dir / "fig4_pareto")
save_table(frame, figures_dir, "fig4_schemes", title="Schemes: accuracy and cost")
display(Image(str(files[0])))
display(frame.sort_values(["model", "top1"], ascending=[True, False]).style.format(precision=2))

# %% [markdown]
# **Verdict.** The claim as a difference: MRECG's scheme (mean over its seeds, Table 2's "+ mixed granularity" runs)
# minus a random scheme with as many merges (mean over the schemes, one seed each), with Welch's 95 % interval, so
# MRECG's own seed spread is in the interval. The random schemes run as the released code runs any scheme, with its
# joint stem and head units, so the difference measures which blocks are merged and nothing else. The rank and the
# place on the front are descriptive.

# %%
ranks = fig4.verdict(frame)
display(ranks.style.format(precision=2))
for row in ranks.itertuples():
    print(f"{row.model}: MRECG {row.MRECG:.2f}, rank {row.rank} of {row.of} against the random schemes (random median "
          f"{row.random_median:.2f}, range {row.random_min:.2f}-{row.random_max:.2f}), BRECQ {row.BRECQ:.2f}; MRECG "
          f"{'is' if row.on_front else 'is NOT'} on the Pareto front")
for model, (d, word) in fig4.claims(frame).items():
    print(f"{model}: MRECG's scheme minus a random scheme {d}; {word}")
