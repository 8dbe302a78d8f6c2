"""Oscillation of a loss curve along depth, the paper's central observation, as numbers.

The paper calls the per-module reconstruction loss "oscillating" when it rises and falls from one
module to the next instead of growing smoothly. Two measures describe a curve: its total
variation (the sum of the absolute steps) and the number of its strict interior local maxima.
Curves are only comparable at the same points: a curve with fewer points sums fewer steps.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np


def oscillation(values: Sequence[float]) -> dict:
    """Total variation (sum of |steps|) and the number of strict interior local maxima."""
    v = np.asarray(values, dtype=float)
    maxima = int(np.sum((v[1:-1] > v[:-2]) & (v[1:-1] > v[2:]))) if len(v) > 2 else 0
    return {"total_variation": float(np.abs(np.diff(v)).sum()), "local_maxima": maxima}
