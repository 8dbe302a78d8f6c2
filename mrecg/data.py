"""Datasets and the calibration sampler.

Two sources, one shape of answer (a dataset of ``(image, label)`` pairs):

* ``fashion_mnist`` -- the embedded default. Debian's ``dataset-fashion-mnist`` ships the
  original IDX files, so the ``mini`` preset runs on real images with no network.
* ``imagenet`` -- an ImageFolder root with ``train/`` and ``val/``, as the paper used.

Fashion-MNIST is kept in memory as one tensor (60k x 1 x 32 x 32 floats, 245 MB) and served by
:class:`TensorLoader`, which slices batches instead of collating single items: on 2 CPU cores
that is the difference between data loading being free and being half of a training step.
"""

from __future__ import annotations

import gzip
import os
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
from torch.utils.data import Dataset, Subset

SYSTEM_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", 60_000),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz", 10_000),
}
# Mean and std of the Fashion-MNIST training images (pixels in [0, 1]).
FASHION_MNIST_MEAN, FASHION_MNIST_STD = 0.2860, 0.3530
# The mini models see 28x28 images zero-padded to 32x32 so that torchvision's five stride-2
# stages halve the map exactly (32 -> 16 -> 8 -> 4 -> 2 -> 1), as 224 does on ImageNet.
MINI_INPUT_SIZE = 32
NUM_CLASSES = 10

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

MISSING_FASHION_MNIST = (
    "Fashion-MNIST not found in {where}; install it with `apt-get install dataset-fashion-mnist`, "
    "or run `mrecg data --download` (or pass download=True), or point $MRECG_DATA at a folder "
    "holding the four IDX .gz files."
)


class DataError(RuntimeError):
    """A dataset is missing or malformed; the message says how to fix it."""


# ----------------------------------------------------------------------------- Fashion-MNIST


def fashion_mnist_dirs(root: str | os.PathLike | None = None) -> list[Path]:
    """Folders searched for the IDX files, most specific first.

    An explicit ``root`` is the only place looked in (a wrong path must not silently read another
    copy); otherwise ``$MRECG_DATA``, then ``./data``, then Debian's system folder. Each base is
    also searched in the sub-folders torchvision and Debian use.
    """
    if root is not None:
        bases = [Path(root)]
    else:
        bases = ([Path(os.environ["MRECG_DATA"])] if os.environ.get("MRECG_DATA") else []) + [Path("data")]
    dirs: list[Path] = []
    for base in bases:
        dirs += [base, base / "fashion-mnist", base / "FashionMNIST" / "raw"]
    if root is None:
        dirs.append(SYSTEM_FASHION_MNIST)
    return dirs


def find_fashion_mnist(root: str | os.PathLike | None = None) -> Path | None:
    """The first folder that holds all four IDX files, or None."""
    needed = [f for pair in FASHION_MNIST_FILES.values() for f in pair[:2]]
    for d in fashion_mnist_dirs(root):
        if all((d / f).is_file() for f in needed):
            return d
    return None


def download_fashion_mnist(root: str | os.PathLike = "data") -> Path:
    """Download through torchvision into ``root`` and return the folder holding the IDX files."""
    import shutil

    from torchvision.datasets import FashionMNIST

    target = Path(root) / "FashionMNIST"
    existed = target.exists()
    try:
        for train in (True, False):
            FashionMNIST(str(root), train=train, download=True)
    except (OSError, RuntimeError) as e:  # no network, a refused mirror, a full disk
        if not existed:
            shutil.rmtree(target, ignore_errors=True)  # leave no empty folders behind
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise DataError(f"could not download Fashion-MNIST ({reason}); install dataset-fashion-mnist or copy the "
                        f"four IDX .gz files into {root}") from None
    return target / "raw"


def read_idx(path: Path) -> np.ndarray:
    """Parse one gzipped IDX file (the format of the original MNIST distribution)."""
    try:
        with gzip.open(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError, zlib.error) as e:  # a truncated or corrupt download, an unreadable file
        raise DataError(f"cannot read {path} ({str(e) or type(e).__name__}); delete it and install or download "
                        "Fashion-MNIST again") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise DataError(f"{path} is not an unsigned-byte IDX file")
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(dims)):
        raise DataError(f"{path}: header says {dims} but holds {data.size} bytes")
    return data.reshape(dims)


def load_fashion_mnist_arrays(
    split: str = "train", root: str | os.PathLike | None = None, download: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """Raw ``uint8`` images (N x 28 x 28) and ``int64`` labels of one split, verified."""
    if split not in FASHION_MNIST_FILES:
        raise DataError(f"unknown Fashion-MNIST split {split!r}; use 'train' or 'test'")
    folder = find_fashion_mnist(root)
    if folder is None:
        if not download:
            where = ", ".join(str(d) for d in fashion_mnist_dirs(root)[::3])
            raise DataError(MISSING_FASHION_MNIST.format(where=where))
        folder = download_fashion_mnist(root or os.environ.get("MRECG_DATA", "data"))
    image_file, label_file, expected = FASHION_MNIST_FILES[split]
    images, labels = read_idx(folder / image_file), read_idx(folder / label_file)
    if images.shape != (expected, 28, 28) or labels.shape != (expected,):
        raise DataError(
            f"{folder}: {split} split has images {images.shape} and labels {labels.shape}, "
            f"expected ({expected}, 28, 28) and ({expected},)"
        )
    counts = np.bincount(labels, minlength=NUM_CLASSES)
    if counts.size != NUM_CLASSES or (counts == 0).any():
        raise DataError(f"{folder}: {split} labels must cover exactly {NUM_CLASSES} classes, got {counts}")
    return torch.from_numpy(images.copy()), torch.from_numpy(labels.astype(np.int64))


def normalize_fashion_mnist(images: torch.Tensor, size: int = MINI_INPUT_SIZE) -> torch.Tensor:
    """uint8 N x 28 x 28 -> float N x 1 x size x size, zero-padded *after* normalising.

    Padding with the normalised value of black keeps the border identical to the image's own
    background, so padding is invisible to the network.
    """
    x = images.float().div_(255).sub_(FASHION_MNIST_MEAN).div_(FASHION_MNIST_STD).unsqueeze(1)
    pad = size - x.shape[-1]
    if pad < 0 or pad % 2:
        raise DataError(f"input size {size} must be >= 28 and differ from 28 by an even number")
    background = -FASHION_MNIST_MEAN / FASHION_MNIST_STD
    return torch.nn.functional.pad(x, [pad // 2] * 4, value=background)


class TensorDataset(Dataset):
    """Images and labels held as two tensors; indexing returns one ``(image, label)`` pair."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor):
        if len(images) != len(labels):
            raise DataError(f"{len(images)} images but {len(labels)} labels")
        self.images, self.labels = images, labels

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.images[i], self.labels[i]


def fashion_mnist(
    split: str = "train",
    root: str | os.PathLike | None = None,
    download: bool = False,
    size: int = MINI_INPUT_SIZE,
) -> TensorDataset:
    """Fashion-MNIST as normalised 1 x size x size float tensors with int64 labels."""
    images, labels = load_fashion_mnist_arrays(split, root, download)
    return TensorDataset(normalize_fashion_mnist(images, size), labels)


@dataclass
class TensorLoader:
    """Batches sliced straight out of a :class:`TensorDataset` (no per-item collation).

    ``shuffle`` draws a new permutation each epoch from a generator seeded with ``seed`` and
    the epoch number, so an interrupted training run resumes with the same batches.
    ``flip`` mirrors a random half of each batch horizontally (the mini training augmentation).
    """

    dataset: TensorDataset
    batch_size: int = 256
    shuffle: bool = False
    flip: bool = False
    seed: int = 0
    epoch: int = 0

    def __len__(self) -> int:
        return -(-len(self.dataset) // self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        gen = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        n = len(self.dataset)
        order = torch.randperm(n, generator=gen) if self.shuffle else torch.arange(n)
        for start in range(0, n, self.batch_size):
            idx = order[start : start + self.batch_size]
            x, y = self.dataset.images[idx], self.dataset.labels[idx]
            if self.flip:
                mirror = torch.rand(len(idx), generator=gen) < 0.5
                x = torch.where(mirror[:, None, None, None], x.flip(-1), x)
            yield x, y


# ----------------------------------------------------------------------------- ImageNet


def imagenet_transform(train: bool):
    """The paper's pipelines: val = Resize 256 / CenterCrop 224; calibration = the released
    MRECG code's train-time augmentation (RandomResizedCrop 224 + horizontal flip)."""
    from torchvision import transforms

    head = (
        [transforms.RandomResizedCrop(224), transforms.RandomHorizontalFlip()]
        if train
        else [transforms.Resize(256), transforms.CenterCrop(224)]
    )
    return transforms.Compose(head + [transforms.ToTensor(), transforms.Normalize(IMAGENET_MEAN, IMAGENET_STD)])


def imagenet(root: str | os.PathLike, split: str = "val") -> Dataset:
    """An ImageFolder split of ImageNet: ``val`` for evaluation, ``train`` for calibration."""
    from torchvision.datasets import ImageFolder

    if split not in ("train", "val"):
        raise DataError(f"unknown ImageNet split {split!r}; use 'train' or 'val'")
    folder = Path(root) / split
    if not folder.is_dir():
        raise DataError(f"ImageNet folder {folder} not found; pass the root that holds train/ and val/")
    return ImageFolder(str(folder), transform=imagenet_transform(train=split == "train"))


def require_imagenet(data_root: str | os.PathLike | None) -> None:
    """The paper preset's one data check, made before any weights are fetched or any run starts."""
    if not data_root or not Path(data_root, "val").is_dir():
        raise DataError("the paper preset needs ImageNet: pass its root, the folder holding train/ and val/ "
                        "(--data-root, or -p data_root in a notebook)")


def evaluation_loader(preset: str, data_root: str | os.PathLike | None = None, workers: int = 4):
    """The test split every top-1 is measured on: ImageNet val (paper preset) or Fashion-MNIST test."""
    if preset == "paper":
        require_imagenet(data_root)
        return torch.utils.data.DataLoader(imagenet(data_root, "val"), batch_size=100, num_workers=workers)
    return TensorLoader(fashion_mnist("test", data_root), batch_size=500)


# ----------------------------------------------------------------------------- calibration


def calibration_indices(dataset_size: int, n: int, seed: int, sort: bool = False) -> torch.Tensor:
    """``n`` distinct indices drawn with ``seed``, in drawn order: the first ``k`` of them are a
    uniform random draw of ``k`` for every ``k``, so callers may slice a calibration set, a
    hold-out set or a range-initialisation prefix off one draw. ``sort=True`` returns them in
    file order -- which is only a random draw per slice when the file order is itself random,
    and class-ordered for ImageFolder."""
    if not 0 < n <= dataset_size:
        raise DataError(f"calibration size {n} must be in 1..{dataset_size} (the dataset size)")
    gen = torch.Generator().manual_seed(seed)
    idx = torch.randperm(dataset_size, generator=gen)[:n]
    return idx.sort().values if sort else idx


def calibration_set(dataset: Dataset, n: int, seed: int = 0, as_tensor: bool = True):
    """Draw ``n`` calibration images with ``seed``; every prefix of the answer is a random draw.

    ``as_tensor=True`` returns one N x C x H x W tensor (random augmentations inside the
    dataset's transform are drawn from a generator seeded with ``seed`` too, so the tensor is
    the same on every call). ``as_tensor=False`` returns a lazy :class:`~torch.utils.data.Subset`
    for the ImageNet scale, where 4096 decoded images would not need to sit in memory at once.

    A :class:`TensorDataset` (Fashion-MNIST, the mini preset) keeps its images in file order:
    the committed mini records were computed that way, and Fashion-MNIST's files are not
    ordered by class, so its slices are class-balanced too. Any other dataset -- ImageFolder
    lists images class by class -- gets the drawn order; as a tensor its files are still read in
    file order (sequential on disk) and each image put at its drawn position.
    """
    if isinstance(dataset, TensorDataset):
        idx = calibration_indices(len(dataset), n, seed, sort=True)
        return dataset.images[idx].clone() if as_tensor else Subset(dataset, idx.tolist())
    idx = calibration_indices(len(dataset), n, seed)
    if not as_tensor:
        return Subset(dataset, idx.tolist())
    out = None
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for position in idx.argsort().tolist():
            image = dataset[int(idx[position])][0]
            if out is None:
                out = image.new_empty((n,) + tuple(image.shape))
            out[position] = image
    return out
