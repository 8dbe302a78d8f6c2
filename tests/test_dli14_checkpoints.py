"""d-li14's MobileNetV2 checkpoints (the released MRECG code's weights) load by key name."""

import json
from collections import OrderedDict
from pathlib import Path

import pytest
import torch

from mrecg import models

WIDTHS = ["mobilenetv2_x1.0", "mobilenetv2_x0.75", "mobilenetv2_x0.5", "mobilenetv2_x0.35"]
SHARED = Path(__file__).resolve().parents[2] / "shared" / "reference" / "mrecg_checkpoint_keys"
PACKAGE = Path(models.__file__).parent / "resources" / "dli14"


def _keys(name):
    """Key -> shape of d-li14's file for ``name``, in the file's order (shared reference when present)."""
    shared = SHARED / f"mrecg_{name}.json"
    return json.loads((shared if shared.is_file() else PACKAGE / f"{name}.json").read_text())


def _map(name):
    shared = SHARED / f"mrecg_{name}_torchvision_map.json"
    return json.loads((shared if shared.is_file() else PACKAGE / "mobilenetv2_torchvision_map.json").read_text())


def _dli14_state(name, seed=0):
    """Random tensors of the listed shapes, in d-li14's key names and order (a flat state dict)."""
    gen = torch.Generator().manual_seed(seed)
    state = OrderedDict()
    for key, shape in _keys(name).items():
        if key.endswith("num_batches_tracked"):
            state[key] = torch.tensor(int(torch.randint(1, 10_000, (), generator=gen)))
        elif key.endswith("running_var"):
            state[key] = torch.rand(shape, generator=gen) * 1.5 + 0.5
        else:
            state[key] = torch.randn(shape, generator=gen) * 0.2
    return state


def _by_position(name, state):
    """The released code's load: the file's tensors zipped in order onto the model's keys."""
    model = models.build(name, "paper")
    model.load_state_dict(OrderedDict(zip(model.state_dict(), state.values())), strict=True)
    return model.eval()


@pytest.mark.parametrize("name", WIDTHS)
def test_dli14_file_lands_on_mapped_parameters_and_matches_a_by_position_load(name, tmp_path):
    state = _dli14_state(name)
    mapping = _map(name)
    assert len(state) == 314 and sum(k.endswith("num_batches_tracked") for k in state) == 52
    for prefix in ("", "module."):
        path = tmp_path / f"{prefix}mobilenetv2_{name.split('_x')[1]}-0000.pth"
        torch.save(OrderedDict((prefix + k, v) for k, v in state.items()), path)
        model = models.load(name, "paper", weights=path)
        loaded = model.state_dict()
        for key, tensor in state.items():
            assert torch.equal(loaded[mapping[key]], tensor), key
        assert set(mapping.values()) == set(loaded)
        reference = _by_position(name, state)
        x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(1))
        with torch.no_grad():
            out = model(x)
            assert torch.equal(out, reference(x)) and out.abs().max() > 0.1
    # the names that differ are the last conv and the classifier, bridged only by order in the released code
    renamed = {k: v for k, v in mapping.items() if k.split(".")[0] in ("conv", "classifier")}
    assert renamed["conv.0.weight"] == "features.18.0.weight" and renamed["classifier.weight"] == "classifier.1.weight"


@pytest.mark.parametrize(
    "file_width, model, key",
    [
        ("mobilenetv2_x0.75", "mobilenetv2_x0.5", "features.0.0.weight"),
        ("mobilenetv2_x1.0", "mobilenetv2_x0.75", "features.0.0.weight"),
        ("mobilenetv2_x0.5", "mobilenetv2_x0.35", "features.2.conv.6.weight"),  # same stem and block 0 widths
    ],
)
def test_file_of_another_width_is_one_line_naming_the_first_mismatching_key(file_width, model, key, tmp_path):
    path = tmp_path / "w.pth"
    state = _dli14_state(file_width)
    torch.save(state, path)
    first = next(k for k, s in _keys(model).items() if list(state[k].shape) != s)
    assert first == key
    with pytest.raises(models.ModelError) as err:
        models.load(model, "paper", weights=path)
    message = str(err.value)
    assert "\n" not in message and str(path) in message
    assert f"holds d-li14's {file_width} weights, not {model}'s (key {key!r}" in message
    assert f"load it as --model {file_width}" in message


def test_bad_dli14_files_give_one_clear_line(tmp_path):
    state = _dli14_state("mobilenetv2_x0.5")
    cases = []
    odd = OrderedDict(state)
    odd["features.5.conv.3.weight"] = torch.zeros(7, 1, 3, 3)
    torch.save(odd, tmp_path / "shape.pth")
    cases.append(("shape.pth", "key 'features.5.conv.3.weight' has shape (7, 1, 3, 3) but d-li14's mobilenetv2_x0.5 checkpoint has (96, 1, 3, 3)"))
    extra = OrderedDict(state)
    extra["conv.2.weight"] = torch.zeros(1)
    torch.save(extra, tmp_path / "extra.pth")
    cases.append(("extra.pth", "key 'conv.2.weight' is neither torchvision's nor BRECQ's nor d-li14's for mobilenetv2_x0.5"))
    torch.save(state, tmp_path / "resnet.pth")
    for file, text in cases:
        with pytest.raises(models.ModelError) as err:
            models.load("mobilenetv2_x0.5", "paper", weights=tmp_path / file)
        assert text in str(err.value) and "\n" not in str(err.value), str(err.value)
    with pytest.raises(models.ModelError, match="key 'features.0.0.weight' is neither torchvision's nor BRECQ's for resnet18"):
        models.load("resnet18", "paper", weights=tmp_path / "resnet.pth")


def test_package_copy_of_the_dli14_tables_matches_the_reference():
    for name in WIDTHS:
        assert models.dli14_key_map() == _map(name)
        assert {k: list(v) for k, v in models.dli14_shapes(name).items()} == _keys(name)
        assert list(models.dli14_shapes(name)) == list(_keys(name))  # the files' order
