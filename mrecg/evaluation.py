"""Top-1 accuracy, the one metric of every table."""

from __future__ import annotations

from typing import Iterable

import torch
from torch import nn


@torch.no_grad()
def evaluate(model: nn.Module, loader: Iterable, device: str | torch.device = "cpu") -> float:
    """Top-1 accuracy in percent of ``model`` (put in eval mode) over ``(images, labels)`` batches.
    A quantized network comes from :func:`mrecg.recon.ptq.quantize` with its weights already
    quantized once (frozen), so nothing here knows about quantizers."""
    model.eval().to(device)
    correct = total = 0
    for x, y in loader:
        pred = model(x.to(device)).argmax(1).cpu()
        correct += (pred == y).sum().item()
        total += len(y)
    if total == 0:
        raise ValueError("evaluate() got an empty loader")
    return 100.0 * correct / total
