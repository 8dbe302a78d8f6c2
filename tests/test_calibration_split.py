"""Calibration, hold-out and prefixes drawn from a class-ordered ImageFolder are random draws."""

import numpy as np
import pytest
import torch
from PIL import Image

from mrecg import data

CLASSES, PER_CLASS = 20, 10


@pytest.fixture(scope="module")
def class_ordered_imagenet(tmp_path_factory):
    """An ImageFolder of real JPEGs, listed class by class as ImageFolder always does."""
    root = tmp_path_factory.mktemp("imagenet")
    rng = np.random.default_rng(0)
    for split in ("train", "val"):
        for c in range(CLASSES):
            folder = root / split / f"n{c:08d}"
            folder.mkdir(parents=True)
            for i in range(PER_CLASS):
                pixels = rng.integers(0, 256, size=(48, 40, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(folder / f"{c}_{i}.JPEG", quality=90)
    return root


def _classes(labels) -> set[int]:
    return set(int(y) for y in labels)


def test_calibration_and_holdout_both_cover_most_classes(class_ordered_imagenet):
    train = data.imagenet(class_ordered_imagenet, "train")
    assert train.targets == sorted(train.targets)  # the folder really is class-ordered
    calib_size, holdout = 80, 40
    lazy = data.calibration_set(train, calib_size + holdout, seed=0, as_tensor=False)
    labels = [train.targets[i] for i in lazy.indices]
    calib, held = _classes(labels[:calib_size]), _classes(labels[calib_size:])
    print("calibration covers", len(calib), "classes; hold-out", len(held))
    assert len(calib) >= 18 and len(held) >= 14
    # the old sampler (indices sorted, i.e. in class order) split the classes between the two
    ordered = [train.targets[i] for i in data.calibration_indices(len(train), calib_size + holdout, 0, sort=True)]
    assert min(ordered[calib_size:]) >= CLASSES // 2 and max(ordered[:calib_size]) <= min(ordered[calib_size:])
    # any prefix of a larger draw (MRECG's range initialisation takes the first images) too
    big = [train.targets[i] for i in data.calibration_indices(len(train), 180, seed=1)]
    assert len(_classes(big[:40])) >= 14
    for seed in range(5):
        draw = [train.targets[i] for i in data.calibration_indices(len(train), 120, seed)]
        assert len(_classes(draw[:80])) >= 17 and len(_classes(draw[80:])) >= 12, seed


def test_tensor_holds_each_image_at_its_drawn_position(class_ordered_imagenet):
    val = data.imagenet(class_ordered_imagenet, "val")  # deterministic transform: images comparable
    idx = data.calibration_indices(len(val), 24, seed=3)
    assert not torch.equal(idx, idx.sort().values)
    x = data.calibration_set(val, 24, seed=3)
    assert x.shape == (24, 3, 224, 224)
    assert torch.equal(x, torch.stack([val[int(i)][0] for i in idx]))


def test_augmented_calibration_tensor_is_reproducible(class_ordered_imagenet):
    train = data.imagenet(class_ordered_imagenet, "train")
    a, b = data.calibration_set(train, 12, seed=5), data.calibration_set(train, 12, seed=5)
    assert torch.equal(a, b) and not torch.equal(a, data.calibration_set(train, 12, seed=6))


def test_mini_calibration_tensor_keeps_its_file_order():
    """The committed mini records were drawn in file order; Fashion-MNIST's file order is not
    by class, so that order is class-balanced as it is."""
    train = data.fashion_mnist("train")
    x = data.calibration_set(train, 1280, seed=0)
    idx = data.calibration_indices(len(train), 1280, 0, sort=True)
    assert torch.equal(x, train.images[idx])
    labels = train.labels[idx]
    assert torch.bincount(labels[:1024], minlength=10).min() >= 80  # 1024 / 10 = 102 expected
    assert torch.bincount(labels[1024:], minlength=10).min() >= 10  # 256 / 10 = 26 expected
