# %% [markdown]
# # The oscillation problem in miniature
#
# **The paper's argument.** Sequential reconstruction (layer by layer, block by block) optimises each unit to
# imitate its float counterpart given the *quantized* output of everything before it. A unit inherits the error
# accumulated so far; how much of it it can absorb depends on its *capacity*. When a unit has much less capacity
# than the unit before it, it cannot absorb the inherited error and its loss jumps; the next, larger unit pulls it
# down again: the loss *oscillates* along depth. The paper proves the oscillation is bounded by the capacity
# difference of adjacent modules (ModCap), and removes it by reconstructing each large capacity-drop pair jointly.
#
# **The toy.** Nine inverted-residual blocks of torchvision's MobileNetV2, same structure and stride 1 (after a
# stride-2 first block), differing only in their output width: 32 ("wide") or 8 ("narrow") channels, alternating;
# the first is torchvision's expansion-1 block. Every block changes width, so none has a residual path. Weights are
# seeded random, BatchNorm statistics are measured on real Fashion-MNIST images (`mrecg.study.toy`).
#
# **Careful with the names.** A block's parameters sit mostly in its expansion, which scales with its *input* width:
# a "narrow" block (8 output channels) follows a wide one, so it expands 32 channels and has about 4x the ModCap of a
# "wide" block, which expands only 8. A capacity *drop* is therefore a narrow block followed by a wide one.
#
# We compute ModCap by hand and with `mrecg`, then reconstruct the toy (W4A8) block by block and with the
# capacity-drop pairs merged, and compare the per-block error curves. The toy's runs are cached like every other
# run (`mrecg.figures.toy`), so a re-plot computes nothing.

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
import pandas as pd
import torch
from IPython.display import Image, display

from mrecg.figures import toy as toy_figure
from mrecg.study import toy
from mrecg.study.notebooks import notebook_setup

study, results_dir, figures_dir, _ = notebook_setup(globals())  # a bad parameter fails here

# %% [markdown]
# ## ModCap by hand
#
# The data-free ModCap of a block (`mrecg.merging.modcap`, constants documented there) is the sum over its conv layers of
# *weights x weight bits x stride^gamma* (gamma = 2); only the first block has a stride (2). By hand, from the float
# model's own modules:

# %%
model = toy.toy_model()
w_bits = toy_figure.BITS[0]
by_hand = [float(sum(m.weight.numel() * w_bits * m.stride[0] ** 2 for m in block.modules()
                     if isinstance(m, torch.nn.Conv2d)))
           for block in model.features[1:-1]]
experiment = toy_figure.experiment(study, results_dir, force, recompute_stale)
capacity = pd.DataFrame({"output width": [16, *toy.DEFAULT_WIDTHS], "ModCap by hand": by_hand,
                         "ModCap by mrecg": experiment["modcap"]})
drops = toy.capacity_drops(by_hand)
capacity["drop to next"] = [i in drops for i in range(len(capacity))]
display(capacity)
assert capacity["ModCap by hand"].tolist() == capacity["ModCap by mrecg"].tolist()
print("merged pairs:", experiment["joint_scheme"])

# %% [markdown]
# ## Block by block vs capacity drops merged
#
# Per-block error on a held-out batch after reconstruction (quantized input, float target), raw and normalised by
# the float output's energy, with the oscillation measures (total variation, local maxima).

# %%
errors = toy_figure.errors(experiment)
files = toy_figure.plot(errors, drops, figures_dir / "fig_oscillation_toy")
display(Image(str(files[0])))
measures = toy_figure.measures(errors)
display(measures)

# %%
seq, joint = (measures.set_index("run").loc[k] for k in ("block by block", "capacity drops merged"))
print(f"total variation: block by block {seq.total_variation:.4g}, merged {joint.total_variation:.4g} "
      f"({'smoother' if joint.total_variation < seq.total_variation else 'NOT smoother'} when merged)")
print(f"mean block error: block by block {seq['mean error']:.4g}, merged {joint['mean error']:.4g}")

# %% [markdown]
# **Reading it.** The verdict printed above is computed, not written in advance. Two things to look for.
# First, the raw curve zigzags with the blocks' output width: the reconstruction loss sums over output channels, so a
# 32-channel block reports about four times the loss of an 8-channel one for the same per-channel error. A raw
# oscillation can therefore be an artefact of output size alone, which is why the real-network notebook (05) also
# plots the error normalised by the float output's energy. Second, on the normalised curve the question is whether
# merging the capacity-drop pairs lowers the error of the smaller block of each pair. This toy has random weights
# and no residual paths, so it isolates capacity differences but not the paper's setting; notebooks 05 and 06 test
# the claim on trained networks.
