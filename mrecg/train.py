"""Training the mini float models on Fashion-MNIST.

PTQ starts from a well-trained float model: an under-trained one leaves no room between W4A4
and full precision. The recipe is deliberately plain -- SGD with Nesterov momentum, a one-cycle
schedule (one warm-up epoch, then cosine to zero), weight decay off BatchNorm and biases, and
random horizontal flips -- and fully seeded. Training state is saved atomically after every
epoch, so a killed run resumes where it stopped with the same batches.
"""

from __future__ import annotations

import math
import platform
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn
from tqdm.auto import tqdm

from . import __version__, data, models
from .evaluation import evaluate
from .study.records import check_writable
from .study.storage import save_json, save_torch

# Epochs per model: enough to pass the accuracy targets of docs/presets.md, budgeted from the measured
# step cost on 2 CPU cores (see docs/presets.md, "Mini models").
MINI_EPOCHS = {
    "resnet18": 10,
    "resnet50": 15,
    "mobilenetv2_x1.0": 8,
    "mobilenetv2_x0.75": 6,
    "mobilenetv2_x0.5": 10,
    "mobilenetv2_x0.35": 10,
}


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 10
    batch_size: int = 128
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 5e-4
    warmup_epochs: float = 1.0
    seed: int = 0

    def __post_init__(self):
        if self.epochs <= 0 or self.batch_size <= 0:
            raise ValueError(f"epochs and batch_size must be positive, got {self.epochs} and {self.batch_size}")
        if self.lr <= 0 or not 0 <= self.momentum < 1 or self.weight_decay < 0:
            raise ValueError("lr must be > 0, momentum in [0, 1), weight_decay >= 0")
        if not 0 <= self.seed < 2**63:
            raise ValueError(f"seed must be in 0..2^63-1, got {self.seed}")


def lr_at(step: int, total: int, warmup: int, peak: float) -> float:
    """One-cycle learning rate: linear warm-up to ``peak``, then cosine decay to zero."""
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return peak * 0.5 * (1 + math.cos(math.pi * progress))


def _param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    decay = [p for p in model.parameters() if p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.ndim <= 1]
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


STATE_KEYS = ("name", "config", "epoch", "model", "optimizer", "rng", "history", "seconds")


def read_state(path: Path) -> dict:
    """A saved training state, or one line saying to delete it (a corrupt or truncated file)."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
        if not isinstance(state, dict) or any(k not in state for k in STATE_KEYS) or not isinstance(state["epoch"], int):
            raise ValueError("missing entries")
    except Exception:  # noqa: BLE001 - any unreadable state gets the same answer
        raise ValueError(f"training state {path} is corrupt or truncated; delete it to start afresh") from None
    return state


def train(
    name: str,
    cfg: TrainConfig,
    state_path: str | Path,
    data_root: str | Path | None = None,
    progress: bool = True,
    stop_after: int | None = None,
    train_subset: int | None = None,
    device: str = "cpu",
) -> tuple[nn.Module, dict]:
    """Train ``name`` (mini variant) and return the model and a record of the run.

    ``state_path`` holds the resumable training state; if it exists, training continues from
    its last finished epoch. ``stop_after`` ends the call after that many epochs in total
    (the state stays resumable); ``train_subset`` trains on the first n images only (tests).
    ``device`` runs the model there (``"cuda"``); batches are drawn on the CPU exactly as
    without it and moved over, and the saved state holds CPU tensors, so a run may resume on
    another device. The model is returned on ``device``.
    """
    models.check_name(name, "mini")
    device = torch.device(device)
    cuda = device.type == "cuda"
    if cuda and not torch.cuda.is_available():
        raise ValueError(f"device {device} asked for, but torch sees no CUDA GPU")
    torch.manual_seed(cfg.seed)
    model = models.build(name, "mini").to(device)
    train_set = data.fashion_mnist("train", data_root)
    if train_subset is not None:
        train_set = data.TensorDataset(train_set.images[:train_subset], train_set.labels[:train_subset])
    test_loader = data.evaluation_loader("mini", data_root)
    loader = data.TensorLoader(train_set, cfg.batch_size, shuffle=True, flip=True, seed=cfg.seed)
    opt = torch.optim.SGD(_param_groups(model, cfg.weight_decay), lr=cfg.lr, momentum=cfg.momentum, nesterov=True)
    steps_per_epoch, total = len(loader), cfg.epochs * len(loader)
    warmup = int(cfg.warmup_epochs * steps_per_epoch)

    state_path = Path(state_path)
    start_epoch, history, seconds = 0, [], 0.0
    if state_path.is_file():
        state = read_state(state_path)
        if state["config"] != asdict(cfg) or state["name"] != name:
            raise ValueError(f"{state_path} belongs to another training run; delete it to start afresh")
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["rng"])
        start_epoch, history, seconds = state["epoch"], state["history"], state["seconds"]

    for epoch in range(start_epoch, min(cfg.epochs, stop_after or cfg.epochs)):
        model.train()
        loader.epoch = epoch
        t0, running = time.perf_counter(), 0.0
        bar = tqdm(loader, desc=f"{name} epoch {epoch + 1}/{cfg.epochs}", disable=not progress, leave=False)
        for i, (x, y) in enumerate(bar):
            for group in opt.param_groups:
                group["lr"] = lr_at(epoch * steps_per_epoch + i, total, warmup, cfg.lr)
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            loss = nn.functional.cross_entropy(model(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            # the running loss stays a (float64) tensor: no host sync per step on a GPU
            step_loss = loss.detach().double()
            running = 0.98 * running + 0.02 * step_loss if i else step_loss
            if progress and (i % 20 == 0 or i + 1 == steps_per_epoch):
                bar.set_postfix(loss=f"{running.item():.3f}")
        running = float(running)
        if cuda:
            torch.cuda.synchronize(device)
        epoch_seconds = time.perf_counter() - t0
        seconds += epoch_seconds
        top1 = evaluate(model, test_loader, device)
        history.append({"epoch": epoch + 1, "train_loss": round(running, 4), "test_top1": round(top1, 2)})
        tqdm.write(f"{name} epoch {epoch + 1}/{cfg.epochs}: loss {running:.3f}, test top-1 {top1:.2f}% "
                   f"({epoch_seconds:.1f} s on {device})")
        save_torch(
            {
                "name": name,
                "config": asdict(cfg),
                "epoch": epoch + 1,
                "model": {k: v.cpu() for k, v in model.state_dict().items()},
                "optimizer": opt.state_dict(),  # read back with map_location="cpu"
                "rng": torch.get_rng_state(),
                "history": history,
                "seconds": seconds,
            },
            state_path,
        )

    model.eval()
    if cuda:
        machine = f"{torch.cuda.get_device_name(device)} GPU"
    else:
        machine = f"{platform.machine()}, {torch.get_num_threads()} threads"
    record = {
        "fp_top1": history[-1]["test_top1"],
        "parameters": models.count_parameters(model),
        "seed": cfg.seed,
        "config": asdict(cfg),
        "train_seconds": round(seconds, 1),
        "history": history,
        "torch": torch.__version__,
        "mrecg": __version__,
        "device": device.type,
        "machine": machine,
    }
    return model, record


def train_and_save(name: str, cfg: TrainConfig, state_dir: str | Path, out: str | Path | None = None,
                   publish: bool = False, command: str = "", **kwargs) -> dict:
    """``mrecg train``: :func:`train` (``kwargs``: its options) with its state in ``state_dir``, then the
    weights saved to ``out`` (default ``runs/mini/NAME.pt``), or with ``publish`` into the package's mini
    checkpoints (``command``: what made them). Every folder is checked before training, not after it."""
    state, path = Path(state_dir) / f"{name}.state.pt", Path(out or f"runs/mini/{name}.pt")
    check_writable(state.parent, "the training state folder", "--state-dir")
    if not publish:
        check_writable(path.parent, "the weights' folder", "--out")
    model, record = train(name, cfg, state, **kwargs)
    if publish:
        path = publish_mini_checkpoint(name, model.cpu(), record, command)
    else:
        save_torch(model.cpu().state_dict(), path)
    return {"model": name, "fp_top1": record["fp_top1"], "checkpoint": str(path)}


def publish_mini_checkpoint(name: str, model: nn.Module, record: dict, command: str) -> Path:
    """Write the trained weights into the package's checkpoint folder and its manifest.

    The manifest's accuracy is re-measured on the saved file, so it is the accuracy a user gets
    from ``models.load(name, "mini")``.
    """
    path = models.CHECKPOINT_DIR / f"{name}.pt"
    save_torch({k: v.detach().cpu() for k, v in model.state_dict().items()}, path)
    loaded = models.build(name, "mini")
    models.load_state_file(loaded, name, path)
    test_loader = data.evaluation_loader("mini")
    record = dict(record, file=path.name, fp_top1=round(evaluate(loaded, test_loader), 2), command=command)
    manifest = models.mini_manifest()
    manifest[name] = record
    save_json(manifest, models.MANIFEST)
    return path
