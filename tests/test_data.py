import gzip
import struct

import numpy as np
import pytest
import torch
from PIL import Image

from mrecg import data


def test_fashion_mnist_loads_for_real(fashion_test):
    train = data.fashion_mnist("train")
    assert len(train) == 60_000 and len(fashion_test) == 10_000
    assert train.images.shape == (60_000, 1, 32, 32) and train.images.dtype == torch.float32
    assert torch.bincount(train.labels).tolist() == [6000] * 10
    assert torch.bincount(fashion_test.labels).tolist() == [1000] * 10
    # normalised over the 28x28 content; the 2-pixel border equals normalised black
    raw, _ = data.load_fashion_mnist_arrays("train")
    content = train.images[:, 0, 2:30, 2:30]
    assert torch.allclose(content, (raw.float() / 255 - data.FASHION_MNIST_MEAN) / data.FASHION_MNIST_STD)
    assert abs(content.mean().item()) < 0.01 and abs(content.std().item() - 1) < 0.01
    assert torch.all(train.images[:, :, :2] == -data.FASHION_MNIST_MEAN / data.FASHION_MNIST_STD)


def _write_idx(path, array: np.ndarray, dims=None):
    dims = array.shape if dims is None else dims
    header = bytes([0, 0, 8, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def test_idx_reader_round_trip_and_corrupt_header(tmp_path):
    a = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    _write_idx(tmp_path / "a.gz", a)
    assert np.array_equal(data.read_idx(tmp_path / "a.gz"), a)
    _write_idx(tmp_path / "b.gz", a, dims=(2, 3, 5))
    with pytest.raises(data.DataError, match="header says"):
        data.read_idx(tmp_path / "b.gz")


def test_wrong_sized_split_is_rejected(tmp_path, monkeypatch):
    for split, (img, lab, _) in data.FASHION_MNIST_FILES.items():
        _write_idx(tmp_path / img, np.zeros((20, 28, 28)))
        _write_idx(tmp_path / lab, np.arange(20) % 10)
    with pytest.raises(data.DataError, match=r"expected \(10000, 28, 28\)"):
        data.load_fashion_mnist_arrays("test", root=tmp_path)


def test_missing_data_fails_with_one_line_that_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "SYSTEM_FASHION_MNIST", tmp_path / "nowhere")
    monkeypatch.delenv("MRECG_DATA", raising=False)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(data.DataError) as err:
        data.fashion_mnist("test")
    message = str(err.value)
    assert "\n" not in message
    assert "apt-get install dataset-fashion-mnist" in message and "mrecg data --download" in message


def test_mrecg_data_env_variable_is_searched(tmp_path, monkeypatch):
    monkeypatch.setenv("MRECG_DATA", str(tmp_path))
    assert data.fashion_mnist_dirs()[0] == tmp_path
    for name in [f for pair in data.FASHION_MNIST_FILES.values() for f in pair[:2]]:
        (tmp_path / name).symlink_to(data.SYSTEM_FASHION_MNIST / name)
    assert data.find_fashion_mnist() == tmp_path


def test_calibration_sampler_is_deterministic_and_seed_sensitive(fashion_test):
    a = data.calibration_set(fashion_test, 64, seed=1)
    b = data.calibration_set(fashion_test, 64, seed=1)
    c = data.calibration_set(fashion_test, 64, seed=2)
    assert a.shape == (64, 1, 32, 32)
    assert torch.equal(a, b) and not torch.equal(a, c)
    idx = data.calibration_indices(len(fashion_test), 64, seed=1, sort=True)  # the mini path keeps file order
    assert len(set(idx.tolist())) == 64 and torch.equal(a, fashion_test.images[idx])
    with pytest.raises(data.DataError, match="calibration size"):
        data.calibration_set(fashion_test, 10_001)


def test_tensor_loader_shuffles_per_epoch_and_flips(fashion_test):
    loader = data.TensorLoader(fashion_test, batch_size=300, shuffle=True, flip=True, seed=3)
    assert len(loader) == 34
    first = next(iter(loader))[1]
    assert torch.equal(first, next(iter(loader))[1])
    loader.epoch = 1
    assert not torch.equal(first, next(iter(loader))[1])
    xs = torch.cat([x for x, _ in data.TensorLoader(fashion_test, 500, flip=True)])
    flipped = (xs == fashion_test.images.flip(-1)).flatten(1).all(1)
    kept = (xs == fashion_test.images).flatten(1).all(1)
    assert 0.45 < flipped.float().mean() < 0.55 and torch.all(flipped | kept)


@pytest.fixture
def tiny_imagenet(tmp_path):
    """A real ImageFolder of JPEGs: 2 classes x 3 images in train/ and val/."""
    rng = np.random.default_rng(0)
    for split in ("train", "val"):
        for cls in ("n01440764", "n01443537"):
            folder = tmp_path / split / cls
            folder.mkdir(parents=True)
            for i in range(3):
                pixels = rng.integers(0, 256, size=(300 + 20 * i, 280, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(folder / f"{cls}_{i}.JPEG", quality=90)
    return tmp_path


def test_imagenet_val_transform_and_calibration(tiny_imagenet):
    val = data.imagenet(tiny_imagenet, "val")
    assert len(val) == 6 and val.classes == ["n01440764", "n01443537"]
    x, y = val[0]
    assert x.shape == (3, 224, 224) and y == 0
    # val is deterministic: Resize 256 + CenterCrop 224, ImageNet normalisation
    assert torch.equal(x, val[0][0])
    assert -2.2 < x.min() < -1.5 and 2.0 < x.max() < 2.7
    train = data.imagenet(tiny_imagenet, "train")
    a = data.calibration_set(train, 4, seed=0)
    b = data.calibration_set(train, 4, seed=0)
    c = data.calibration_set(train, 4, seed=1)
    assert a.shape == (4, 3, 224, 224) and torch.equal(a, b) and not torch.equal(a, c)
    lazy = data.calibration_set(train, 4, seed=0, as_tensor=False)
    assert len(lazy) == 4 and lazy[0][0].shape == (3, 224, 224)


def test_imagenet_missing_root_is_one_clear_line(tmp_path):
    with pytest.raises(data.DataError, match="train/ and val/"):
        data.imagenet(tmp_path, "val")
