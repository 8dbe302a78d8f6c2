"""Top-1 accuracy, the one metric of every table."""

from __future__ import annotations

from typing import Iterable

import torch
from torch import nn

from .layers import freeze


@torch.no_grad()
def evaluate(model: nn.Module, loader: Iterable, device: str | torch.device = "cpu") -> float:
    """Top-1 accuracy in percent of ``model`` (put in eval mode) over ``(images, labels)`` batches.

    Quantized layers whose rounding is final get their quantized weights computed once
    (:func:`~mrecg.layers.freeze`; bit-identical; 1-2 % of a mini evaluation in
    ``benchmarks/step_parts.py``, more where weights are large against the batch's activations).
    """
    model.eval().to(device)
    freeze(model)
    correct = total = 0
    for x, y in loader:
        pred = model(x.to(device)).argmax(1).cpu()
        correct += (pred == y).sum().item()
        total += len(y)
    if total == 0:
        raise ValueError("evaluate() got an empty loader")
    return 100.0 * correct / total
