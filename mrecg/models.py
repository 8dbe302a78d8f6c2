"""The model zoo: the six networks of the paper's Table 1, in two variants.

* ``paper``: torchvision's ImageNet models (``resnet18``, ``resnet50``, ``mobilenet_v2``), with
  torchvision weights or a local checkpoint -- including BRECQ's released files and d-li14's
  MobileNetV2 files (``mobilenetv2_{1.0,0.75,0.5,0.35}-*.pth``), which the paper quantized.
* ``mini``: the same architectures for Fashion-MNIST (1 input channel, 10 classes), built from
  torchvision's own block classes with torchvision's stride pattern, so every block, stage
  boundary and merge scheme of the paper exists unit for unit. They see 32 x 32 inputs
  (Fashion-MNIST zero-padded), which the five stride-2 stages halve down to 1 x 1. ResNets use a
  reduced base width of 32 (docs/presets.md, "Mini models", says why).
  Trained checkpoints for all six ship in ``mrecg/checkpoints/mini`` and load by name.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from pathlib import Path

import torch
from torch import nn
from torchvision import models as tvm
from torchvision.models.resnet import BasicBlock, Bottleneck

NAMES = (
    "resnet18",
    "resnet50",
    "mobilenetv2_x1.0",
    "mobilenetv2_x0.75",
    "mobilenetv2_x0.5",
    "mobilenetv2_x0.35",
)
PRESETS = ("mini", "paper")
# Base width of the mini ResNets (torchvision's is 64), chosen by measured step cost and accuracy (docs/presets.md,
# "Mini models").
MINI_RESNET_BASE_WIDTH = {"resnet18": 32, "resnet50": 32}
RESNET_LAYOUT = {"resnet18": (BasicBlock, (2, 2, 2, 2)), "resnet50": (Bottleneck, (3, 4, 6, 3))}
CHECKPOINT_DIR = Path(__file__).parent / "checkpoints" / "mini"
MANIFEST = CHECKPOINT_DIR / "manifest.json"


class ModelError(ValueError):
    """Unknown model name or unusable checkpoint; the message is one line that names the fix."""


def check_name(name: str, preset: str | None = None) -> None:
    if name not in NAMES:
        raise ModelError(f"unknown model {name!r}; choose one of {', '.join(NAMES)}")
    if preset is not None and preset not in PRESETS:
        raise ModelError(f"unknown model preset {preset!r}; choose one of {', '.join(PRESETS)}")


def family(model: nn.Module | str) -> str:
    """``resnet18``, ``resnet50`` or ``mobilenetv2``: the key of the released schemes, the rounding
    regulariser's weight and the checkpoint key maps. From a zoo name (``mobilenetv2_x0.5`` ->
    ``mobilenetv2``), or from a model's type and configuration (ResNets by block type and blocks
    per stage), so that a model loaded from any file is recognised."""
    if isinstance(model, str):
        check_name(model)
        return "mobilenetv2" if model.startswith("mobilenetv2") else model
    if isinstance(model, tvm.MobileNetV2):
        return "mobilenetv2"
    if isinstance(model, (tvm.ResNet, MiniResNet)):
        block = type(model.layer1[0])
        layout = tuple(len(getattr(model, f"layer{s}")) for s in range(1, 5))
        for name, known in RESNET_LAYOUT.items():
            if (block, layout) == known:
                return name
        raise ModelError(
            f"no known family for a ResNet of {block.__name__}s {layout}; "
            "resnet18 is BasicBlock (2, 2, 2, 2), resnet50 Bottleneck (3, 4, 6, 3)"
        )
    raise ModelError(f"no known family for model type {type(model).__name__}; use a ResNet-18/50 or a MobileNetV2")


def variant(preset: str) -> str:
    """The model variant a PTQ preset quantizes: ``paper`` (ImageNet) or ``mini`` (smoke and mini)."""
    return "paper" if preset == "paper" else "mini"


def width_mult(name: str) -> float:
    """The MobileNetV2 width multiplier encoded in a name such as ``mobilenetv2_x0.5``."""
    return float(name.split("_x")[1])


class MiniResNet(nn.Module):
    """torchvision's ResNet topology with a configurable base width.

    torchvision's ``ResNet`` hard-codes 64 channels in its stem, so the container is rebuilt
    here with the same attribute names (``conv1``, ``bn1``, ``layer1``..``layer4``, ``fc``), the
    same stem (7x7 stride 2 + max-pool) and torchvision's ``BasicBlock`` / ``Bottleneck``.
    """

    def __init__(self, block: type, layers: tuple[int, ...], base_width: int, in_channels: int, num_classes: int):
        super().__init__()
        self.inplanes = base_width
        self.conv1 = nn.Conv2d(in_channels, base_width, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(base_width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, base_width, layers[0], stride=1)
        self.layer2 = self._make_layer(block, base_width * 2, layers[1], stride=2)
        self.layer3 = self._make_layer(block, base_width * 4, layers[2], stride=2)
        self.layer4 = self._make_layer(block, base_width * 8, layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(base_width * 8 * block.expansion, num_classes)
        for m in self.modules():  # torchvision's initialisation
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def _make_layer(self, block: type, planes: int, blocks: int, stride: int) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(
                nn.Conv2d(self.inplanes, planes * block.expansion, 1, stride=stride, bias=False),
                nn.BatchNorm2d(planes * block.expansion),
            )
        layers = [block(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * block.expansion
        layers += [block(self.inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def build(name: str, preset: str = "mini", num_classes: int | None = None, in_channels: int | None = None) -> nn.Module:
    """A freshly initialised model (no weights loaded)."""
    check_name(name, preset)
    mini = preset == "mini"
    num_classes = num_classes or (10 if mini else 1000)
    in_channels = in_channels or (1 if mini else 3)
    if family(name) in RESNET_LAYOUT:
        if mini:
            block, layers = RESNET_LAYOUT[name]
            return MiniResNet(block, layers, MINI_RESNET_BASE_WIDTH[name], in_channels, num_classes)
        model = getattr(tvm, name)(weights=None, num_classes=num_classes)
        if in_channels != 3:
            model.conv1 = nn.Conv2d(in_channels, 64, 7, stride=2, padding=3, bias=False)
        return model
    model = tvm.mobilenet_v2(weights=None, width_mult=width_mult(name), num_classes=num_classes)
    if in_channels != 3:
        stem = model.features[0][0]
        model.features[0][0] = nn.Conv2d(in_channels, stem.out_channels, 3, stride=2, padding=1, bias=False)
        nn.init.kaiming_normal_(model.features[0][0].weight, mode="fan_out")
    return model


# ----------------------------------------------------------------------------- checkpoints


@lru_cache(maxsize=None)
def brecq_key_map(name: str) -> dict[str, str]:
    """BRECQ checkpoint key -> torchvision state-dict key (a verified, explicit table).

    Identity for the ResNets; for MobileNetV2 BRECQ numbers the layers inside each inverted
    residual flatly (``conv.0``..``conv.7``) where torchvision nests them (``conv.0.0``).
    The table does not depend on the width multiplier.
    """
    kind = family(name)
    text = resources.files("mrecg").joinpath("resources", "brecq", f"{kind}_torchvision_map.json").read_text()
    return json.loads(text)


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise ModelError(f"checkpoint {path} does not exist")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # noqa: BLE001 - any unreadable file gets the same one-line answer
        # (torch's own message suggests weights_only=False, i.e. running the file's code: never pass that on)
        raise ModelError(f"cannot read checkpoint {path}: not a state dict of tensors saved by torch.save, or a "
                         "truncated file") from None
    if isinstance(obj, dict) and isinstance(obj.get("model"), dict):  # BRECQ's mobilenetv2.pth.tar
        obj = obj["model"]
    elif isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ModelError(f"checkpoint {path} holds no state dict (expected tensors by name, or one under 'model')")
    return {k.removeprefix("module."): v for k, v in obj.items()}


@lru_cache(maxsize=None)
def dli14_key_map() -> dict[str, str]:
    """d-li14 MobileNetV2 checkpoint key -> torchvision state-dict key (a verified, explicit table).

    d-li14's files (the released MRECG code's MobileNetV2 weights) number the layers inside each
    inverted residual flatly like BRECQ's, but keep the last 1x1 conv as ``conv.*`` and the
    classifier as a bare ``classifier.*``. The released code bridges those names by loading the
    tensors by position; the table maps them by name. It does not depend on the width.
    """
    text = resources.files("mrecg").joinpath("resources", "dli14", "mobilenetv2_torchvision_map.json").read_text()
    return json.loads(text)


@lru_cache(maxsize=None)
def dli14_shapes(name: str) -> dict[str, tuple[int, ...]]:
    """Key -> shape of d-li14's checkpoint for ``name`` (a MobileNetV2 width), in the file's order."""
    text = resources.files("mrecg").joinpath("resources", "dli14", f"{name}.json").read_text()
    return {k: tuple(v) for k, v in json.loads(text).items()}


def _check_dli14_width(state: dict[str, torch.Tensor], name: str, path: Path) -> None:
    """Shapes of a d-li14 file against its key list for ``name``; a file of another width is
    named as such."""
    shapes = dli14_shapes(name)
    bad = next((k for k, v in state.items() if tuple(v.shape) != shapes[k]), None)
    if bad is None:
        return
    found = tuple(state[bad].shape)
    for other in NAMES[2:]:
        theirs = dli14_shapes(other)
        if other != name and all(tuple(v.shape) == theirs[k] for k, v in state.items()):
            raise ModelError(
                f"{path}: holds d-li14's {other} weights, not {name}'s (key {bad!r} has shape {found}, "
                f"{name} expects {shapes[bad]}); load it as --model {other}"
            )
    raise ModelError(f"{path}: key {bad!r} has shape {found} but d-li14's {name} checkpoint has {shapes[bad]}")


def load_state_file(model: nn.Module, name: str, path: str | Path) -> None:
    """Load a torchvision state dict, a BRECQ checkpoint or a d-li14 MobileNetV2 file into ``model``.

    The format is told apart by key names, never by order: keys that are all torchvision's are
    loaded as they are; keys that are all BRECQ's are renamed through :func:`brecq_key_map`, all
    d-li14's through :func:`dli14_key_map` (after a check of every shape against the file for
    this width). ``num_batches_tracked`` buffers may be absent (BRECQ's files lack some of them).
    """
    path = Path(path)
    state = _read_state_dict(path)
    expected = model.state_dict()
    formats = {"torchvision": {k: k for k in expected}, "BRECQ": brecq_key_map(name)}
    if family(name) == "mobilenetv2":
        formats["d-li14"] = dli14_key_map()
    fmt = next((f for f, mapping in formats.items() if set(state) <= set(mapping)), None)
    if fmt is None:
        closest = max(formats.values(), key=lambda mapping: sum(k in mapping for k in state))
        unknown = next(k for k in state if k not in closest)
        known = " nor ".join(f"{f}'s" for f in formats)
        raise ModelError(f"{path}: key {unknown!r} is neither {known} for {name}")
    if fmt == "d-li14":
        _check_dli14_width(state, name, path)
    state = {formats[fmt][k]: v for k, v in state.items()}
    for key, tensor in expected.items():
        if key not in state:
            if key.endswith("num_batches_tracked"):
                state[key] = tensor.clone()
                continue
            raise ModelError(f"{path}: missing key {key!r} for {name}")
        if state[key].shape != tensor.shape:
            raise ModelError(
                f"{path}: key {key!r} has shape {tuple(state[key].shape)} but {name} expects {tuple(tensor.shape)}"
            )
    model.load_state_dict(state, strict=True)


def mini_manifest() -> dict[str, dict]:
    """name -> record of each committed mini checkpoint (FP top-1, parameters, command, ...)."""
    return json.loads(MANIFEST.read_text()) if MANIFEST.is_file() else {}


def mini_checkpoint(name: str) -> Path:
    record = mini_manifest().get(name)
    if record is None:
        raise ModelError(f"no trained mini checkpoint for {name}; train one with `mrecg train --model {name} --preset mini`")
    return CHECKPOINT_DIR / record["file"]


def load(name: str, preset: str = "mini", weights: str | Path | None = None) -> nn.Module:
    """The float model in eval mode, with weights.

    ``mini``: the committed checkpoint (or ``weights``, a local file).
    ``paper``: ``weights`` is a torchvision enum name such as ``"IMAGENET1K_V1"`` (downloaded by
    torchvision), a local state dict, BRECQ checkpoint or d-li14 MobileNetV2 file, or None for
    random initialisation.
    """
    check_name(name, preset)
    model = build(name, preset)
    if preset == "mini":
        load_state_file(model, name, weights or mini_checkpoint(name))
    elif weights is not None:
        if Path(weights).suffix or Path(weights).exists():
            load_state_file(model, name, weights)
        else:
            entry = torchvision_weights(name, str(weights))
            try:
                state = entry.get_state_dict(progress=True)
            except (OSError, RuntimeError) as e:  # no network, a refused download, a corrupt cache
                reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
                raise ModelError(f"could not download torchvision's {weights} weights for {name} ({reason}); "
                                 f"download {entry.url} elsewhere and pass the file with --weights") from None
            model.load_state_dict(state)
    return model.eval()


def torchvision_weights(name: str, enum_name: str):
    """Resolve e.g. ``IMAGENET1K_V1`` for ``mobilenetv2_x1.0`` to torchvision's weights entry."""
    builder = "mobilenet_v2" if family(name) == "mobilenetv2" else name
    enum = tvm.get_model_weights(builder)
    if enum_name not in enum.__members__:
        raise ModelError(f"unknown torchvision weights {enum_name!r} for {name}; choose one of {', '.join(enum.__members__)}")
    if family(name) == "mobilenetv2" and width_mult(name) != 1.0:
        raise ModelError(f"torchvision has no ImageNet weights for {name}; pass a local checkpoint file")
    return enum[enum_name]


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
