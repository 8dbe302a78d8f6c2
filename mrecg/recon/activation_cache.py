"""Where the reconstruction caches live.

Each unit needs its inputs (quantized and float) and its float targets for the whole
calibration set. At the paper's scale that is large -- 4096 cached inputs of an early ResNet-50
stage are ~12 GiB in fp32 -- so a cache can live in RAM (``"cpu"``), on an accelerator
(``"cuda"``), or on disk (``"disk"``: memory-mapped files that the OS pages in as batches are
drawn, so resident memory stays bounded), in fp32 or fp16. ``"auto"`` (the default) puts them on
the run's device when the estimate fits there: on a GPU, a cache in host memory costs a gather
and a host-to-device copy every step.
"""

from __future__ import annotations

import itertools
import tempfile
from pathlib import Path

import torch

# caches alive at once, each of the largest element output: quantized and float inputs, the target,
# and the inputs a unit's layer capture keeps
CACHES_ALIVE = 4


@torch.no_grad()
def estimate_bytes(chain: torch.nn.Module, sample: torch.Tensor, n: int, dtype: torch.dtype) -> int:
    """Bytes of the caches at their largest, from one image through the (float) chain."""
    x, largest = sample[:1], sample[:1].numel()
    for element in chain.elements:
        x = element.eval()(x)
        largest = max(largest, x.numel())
    return CACHES_ALIVE * n * largest * torch.finfo(dtype).bits // 8


def placement(asked: str, device: str, need: int) -> str:
    """``asked`` unless it is ``"auto"``: then the run's device when ``need`` bytes fit in half
    of its free memory, else host RAM."""
    if asked != "auto":
        return asked
    if not device.startswith("cuda"):
        return "cpu"
    free, _ = torch.cuda.mem_get_info(torch.device(device))
    return device if need <= free // 2 else "cpu"


class CacheStore:
    def __init__(self, where: str = "cpu", dtype: torch.dtype = torch.float32):
        self.where, self.dtype = where, dtype
        self._dir = tempfile.TemporaryDirectory(prefix="mrecg-cache-") if where == "disk" else None
        self._names = itertools.count()

    def empty(self, shape: tuple[int, ...]) -> torch.Tensor:
        if self._dir is None:
            return torch.empty(shape, dtype=self.dtype, device=self.where)
        path = Path(self._dir.name) / f"{next(self._names)}.bin"
        numel = 1
        for s in shape:
            numel *= s
        tensor = torch.from_file(str(path), shared=True, size=numel, dtype=self.dtype).view(shape)
        path.unlink()  # the mapping keeps the data; the disk space is freed when the tensor is
        return tensor

    def put(self, x: torch.Tensor) -> torch.Tensor:
        out = self.empty(tuple(x.shape))
        out.copy_(x)
        return out

    def close(self) -> None:
        if self._dir is not None:
            self._dir.cleanup()
