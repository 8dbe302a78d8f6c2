"""The oscillation argument in miniature, for notebook 00.

A toy chain of topologically homogeneous inverted-residual blocks (stride 1, expansion 6, on 8 x 8
maps) whose
only difference is capacity: 32 ("wide") or 8 ("narrow") output channels. Since every block
changes width, none has a residual path, so no error is carried around a block: what a block
cannot fix stays in its output. The paper's argument is
that a block with much less capacity than the one before it cannot absorb the error it inherits,
so its reconstruction loss jumps; reconstructing such a capacity-drop pair jointly lets the
larger block compensate in advance. The toy makes that visible in seconds on a CPU.

The toy is built from torchvision's own ``MobileNetV2`` so that it goes through exactly the same
chain, quantizers, ModCap and reconstruction loop as the real models. It is not trained: its
weights are seeded random and its BatchNorm statistics are measured on real Fashion-MNIST
images, which makes every block's output well scaled; reconstruction only needs a fixed float
function to imitate, not an accurate one.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn
from torchvision.models import MobileNetV2
from torchvision.ops.misc import Conv2dNormActivation

# output channels of the blocks after torchvision's expansion-1 first block (16 channels):
# wide and narrow alternate, so every wide -> narrow step is a capacity drop
DEFAULT_WIDTHS = (32, 8, 32, 8, 32, 8, 32, 8)


def toy_model(widths: Sequence[int] = DEFAULT_WIDTHS, expansion: int = 6, seed: int = 0) -> MobileNetV2:
    """A 1-channel MobileNetV2 whose blocks differ only in their output width."""
    if not widths or min(widths) < 1:
        raise ValueError(f"widths must be a non-empty list of channel counts >= 1, got {list(widths)}")
    torch.manual_seed(seed)
    setting = [[1, 16, 1, 2]] + [[expansion, c, 1, 1] for c in widths]  # 8x8 maps after the first block: cheap
    model = MobileNetV2(num_classes=10, inverted_residual_setting=setting)
    # a small head instead of torchvision's fixed 1280 channels: the toy is about the blocks
    model.features[-1] = Conv2dNormActivation(widths[-1], 64, kernel_size=1, activation_layer=nn.ReLU6)
    model.classifier[-1] = nn.Linear(64, 10)
    model.features[0][0] = nn.Conv2d(1, model.features[0][0].out_channels, 3, stride=2, padding=1, bias=False)
    nn.init.kaiming_normal_(model.features[0][0].weight, mode="fan_out")
    return model


@torch.no_grad()
def calibrate_batchnorm(model: nn.Module, images: torch.Tensor, batch_size: int = 256) -> nn.Module:
    """Set every BatchNorm's running statistics to the exact mean/variance over ``images``."""
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.reset_running_stats()
            m.momentum = None  # cumulative average: the exact statistics of all batches seen
    model.train()
    for s in range(0, len(images), batch_size):
        model(images[s : s + batch_size])
    return model.eval()


def capacity_drops(capacities: Sequence[float], ratio: float = 2.0) -> list[int]:
    """Indices ``i`` where block ``i + 1`` has at most ``1 / ratio`` of block ``i``'s capacity:
    the pairs the argument says to reconstruct jointly."""
    return [i for i in range(len(capacities) - 1) if capacities[i + 1] * ratio <= capacities[i]]


# iterations per unit and calibration images of the toy's reconstructions per preset
TOY_PRESETS = {"smoke": dict(iters=30, calib_size=128), "mini": dict(iters=500, calib_size=512),
               "paper": dict(iters=500, calib_size=512)}


def toy_experiment(preset: str, widths: Sequence[int] = DEFAULT_WIDTHS, bits: tuple[int, int] = (4, 8),
                   seed: int = 0, data_root: str | None = None, progress: bool = False) -> dict:
    """Reconstruct the toy block by block, then with every capacity-drop pair merged.

    Returns the model, its ModCap (data-free, from ``mrecg``), the two schemes, and a long frame
    of per-block errors (raw and normalised by the float output's energy) for both runs.
    """
    import pandas as pd

    from .. import data
    from ..config import PTQConfig
    from ..merging.modcap import data_free
    from ..merging.schemes import scheme_from_merges
    from ..recon.ptq import quantize

    sizes = TOY_PRESETS[preset]
    images = data.calibration_set(data.fashion_mnist("train", data_root), sizes["calib_size"] + 256, seed)
    model = calibrate_batchnorm(toy_model(widths, seed=seed), images)
    capacity = data_free(model, bits[0])
    joint = scheme_from_merges(len(capacity.values), capacity_drops(capacity.values))
    cfg = PTQConfig(method="brecq", w_bits=bits[0], a_bits=bits[1], iters=sizes["iters"],
                    calib_size=sizes["calib_size"], holdout_size=256,
                    init_size=min(256, sizes["calib_size"]), seed=seed)  # the range search reads calibration images
    rows, reports = [], {}
    for label, scheme in (("block by block", None), ("capacity drops merged", joint)):
        _, report = quantize(model, images, cfg.with_(scheme=scheme), progress=progress)
        reports[label] = report
        rows += [{"run": label, "block": e.block, "error": e.error, "normalised": e.error / e.fp_energy}
                 for e in report.errors if e.block is not None]
    return {"model": model, "modcap": capacity, "joint_scheme": joint,
            "errors": pd.DataFrame(rows), "reports": reports}
