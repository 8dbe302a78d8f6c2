# %% [markdown]
# # Regenerate every table and figure
#
# Computes every run the notebooks need that is not in the cache (one pool, longest first, progress on the
# terminal), then executes each numbered notebook into `executed/<preset>/` with its figures in `figures/<preset>/`,
# and records the computation in `results/<preset>/manifest.json` (a re-plot records itself in
# `runs/<preset>/replot.json`). The same as `mrecg reproduce --preset mini`:
#
# ```
# papermill notebooks/run_all.ipynb runs/run_all.ipynb -p preset mini
# ```

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
executed_dir = None      # None: executed/<preset>/ of the repository
workers = None           # None: one process per core (CPU), one at a time (GPU)

# %%
from mrecg import reproduce
from mrecg.study import notebooks

notebooks.check_notebook_parameters(globals(), notebooks.DRIVER_PARAMETERS)  # fails here, in one line
summary = reproduce.reproduce(preset, device, cache_device, data_root, results_dir, figures_dir, executed_dir, seeds,
                              act_init, force, recompute_stale, workers)
summary
