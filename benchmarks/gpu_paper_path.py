"""The paper's code path on a stand-in ImageNet: step time, GPU memory and host memory per unit.

Builds an ImageFolder of generated 224x224 JPEGs in a temporary folder (``--classes`` class
folders of structured noise: a smooth per-class colour field, a smooth per-image variation and
pixel noise; ``--images`` training images, 50 validation images), takes torchvision's
ResNet-18 and MobileNetV2 with random weights (BN statistics set by a forward pass over 256 of
those images in train mode, so activations keep a sensible scale through the depth), and runs
``mrecg.recon.ptq.quantize`` with ``PTQConfig.preset_config("paper", ...)`` at ``--iters`` iterations
per unit (default 200), caches on the device:

* ``brecq``: BRECQ, 1024 calibration images, batch 32 (the paper's baselines);
* ``expanded``: MRECG's expanded batch, 4096 images, batch 256, with the authors' released
  merge scheme (``scheme="official"``, so no ModCap pass).

Calibration images come from ``mrecg.data.imagenet(root, "train")`` and
``mrecg.data.calibration_set`` as in a real run. Per unit it records the reconstruction wall
time per step (the timed call is ``reconstruct``, synchronised before and after), the peak GPU
memory since the previous unit ended (its caches, targets and its steps), and the host RSS
(current and peak). Writes one JSON line per unit and one per run to ``--out`` and prints a
summary with the extrapolation to 20,000 iterations per unit (the paper's setting).

    python benchmarks/gpu_paper_path.py --out gpu.jsonl                      # on a GPU machine
    python benchmarks/gpu_paper_path.py --device cpu --iters 2 --images 64   # smoke check
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import tempfile
import time
from multiprocessing import Pool
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

import mrecg.merging.selection
import mrecg.recon.ptq
from mrecg import PTQConfig, data, models

PAPER_ITERS = 20_000
VAL_IMAGES = 50


def _image(args: tuple[Path, int, int, int]) -> None:
    path, cls, seed, size = args
    rng = np.random.default_rng(seed)
    field = np.random.default_rng(1000 + cls).uniform(40, 215, (6, 6, 3))  # the class's colour field
    own = rng.normal(0, 25, (12, 12, 3))  # this image's smooth variation
    big = lambda a: np.asarray(Image.fromarray(a.clip(0, 255).astype(np.uint8)).resize((size, size), Image.BILINEAR), np.float32)  # noqa: E731
    img = big(field) + big(own + 128) - 128 + rng.normal(0, 12, (size, size, 3))
    Image.fromarray(img.clip(0, 255).astype(np.uint8)).save(path, quality=90)


def make_imagefolder(root: Path, images: int, classes: int, size: int = 224) -> None:
    jobs = []
    for split, count in (("train", images), ("val", VAL_IMAGES)):
        for c in range(classes):
            (root / split / f"n{c:08d}").mkdir(parents=True, exist_ok=True)
        for i in range(count):
            c = i % classes
            jobs.append((root / split / f"n{c:08d}" / f"{split}_{i:06d}.JPEG", c, (split == "val") * 10**6 + i, size))
    with Pool(min(16, os.cpu_count() or 1)) as pool:
        pool.map(_image, jobs, chunksize=64)


@torch.no_grad()
def random_model(name: str, images: torch.Tensor, device: str) -> nn.Module:
    """torchvision's architecture with random weights; BN gains and shifts drawn around 1 and 0,
    running statistics measured on ``images`` so that every layer sees unit-scale inputs."""
    torch.manual_seed(0)
    model = models.build(name, "paper")
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.weight.uniform_(0.5, 1.5)
            m.bias.normal_(0.0, 0.1)
            m.reset_running_stats()
            m.momentum = None  # cumulative average over the batches below
    model.to(device).train()
    for s in range(0, len(images), 64):
        model(images[s : s + 64].to(device))
    return model.eval()


def rss_mb() -> tuple[float, float]:
    """(current, peak) resident memory of this process in MiB."""
    with open("/proc/self/statm") as f:
        current = int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    return current, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class UnitMeter:
    """Wraps ``mrecg.recon.ptq.reconstruct`` to time each unit's steps and read its memory."""

    def __init__(self, device: str):
        self.device, self.records = device, []
        self.real = mrecg.recon.ptq.reconstruct

    def sync(self) -> None:
        if self.device.startswith("cuda"):
            torch.cuda.synchronize()

    def __call__(self, module, x_q, x_fp, target, **kwargs):
        self.sync()
        start = time.perf_counter()
        trace = self.real(module, x_q, x_fp, target, **kwargs)
        self.sync()
        seconds = time.perf_counter() - start
        record = {"recon_s": round(seconds, 4), "step_ms": round(1e3 * seconds / kwargs["iters"], 3),
                  "batch": kwargs["batch_size"], "cache_images": len(x_q), "cache_mb": round(3 * x_q.nbytes / 2**20, 1)}
        if self.device.startswith("cuda"):
            record["peak_gpu_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
            torch.cuda.reset_peak_memory_stats()
        record["rss_mb"], record["peak_rss_mb"] = (round(v, 1) for v in rss_mb())
        self.records.append(record)
        print(f"    unit {len(self.records):2d}: {record['step_ms']:.2f} ms/step, "
              f"peak GPU {record.get('peak_gpu_mb', 0) / 1024:.2f} GiB, RSS {record['rss_mb'] / 1024:.2f} GiB", flush=True)
        return trace


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--iters", type=int, default=200)
    parser.add_argument("--images", type=int, default=4400, help="training images (>= 4352 for the full expanded run)")
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--models", default="resnet18,mobilenetv2_x1.0")
    parser.add_argument("--variants", default="brecq,expanded")
    parser.add_argument("--bits", default="4/4")
    parser.add_argument("--out", default="gpu_paper_path.jsonl")
    parser.add_argument("--root", default=None, help="reuse/keep the generated ImageFolder here")
    args = parser.parse_args()
    t0 = time.perf_counter()
    cuda = args.device.startswith("cuda")
    if cuda:
        torch.backends.cudnn.benchmark = True
    w_bits, a_bits = (int(b) for b in args.bits.split("/"))
    tmp = None if args.root else tempfile.TemporaryDirectory(prefix="mrecg-imagenet-")
    root = Path(args.root or tmp.name)
    if not (root / "train").is_dir():
        make_imagefolder(root, args.images, args.classes)
    print(f"# {platform.machine()}, torch {torch.__version__}, {torch.cuda.get_device_name() if cuda else 'cpu'}: "
          f"{args.images} generated JPEGs in {time.perf_counter() - t0:.0f} s", flush=True)
    holdout = min(256, args.images // 4)
    sizes = {"brecq": (1024, 32), "expanded": (4096, 256)}
    n_calib = min(max(sizes[v][0] for v in args.variants.split(",")), args.images - holdout)
    t1 = time.perf_counter()
    calib = data.calibration_set(data.imagenet(root, "train"), n_calib + holdout, seed=0)
    print(f"# calibration tensor {tuple(calib.shape)} decoded in {time.perf_counter() - t1:.0f} s", flush=True)
    meter = UnitMeter(args.device)
    mrecg.recon.ptq.reconstruct = meter
    summary = []
    with open(args.out, "w") as out:
        for name in args.models.split(","):
            model = random_model(name, calib[:256], args.device)
            for variant in args.variants.split(","):
                calib_size, batch = sizes[variant]
                calib_size = min(calib_size, n_calib)
                method = "mrecg+brecq" if variant == "expanded" else "brecq"  # the released schemes and partition
                cfg = PTQConfig.preset_config(
                    "paper", method=method, w_bits=w_bits, a_bits=a_bits, iters=args.iters, device=args.device,
                    cache_device=args.device, calib_size=calib_size, batch_size=min(batch, calib_size),
                    holdout_size=holdout, init_size=min(256, calib_size),
                )
                images = torch.cat([calib[:calib_size], calib[n_calib : n_calib + holdout]])
                print(f"{name} {variant}: {calib_size} images, batch {cfg.batch_size}, {args.iters} iterations per unit",
                      flush=True)
                meter.records = []
                if cuda:
                    torch.cuda.reset_peak_memory_stats()
                start = time.perf_counter()
                cfg, _ = mrecg.merging.selection.select(model, images, cfg)
                _, report = mrecg.recon.ptq.quantize(model, images, cfg, progress=False)
                seconds = time.perf_counter() - start
                steps_s = sum(r["recon_s"] for r in meter.records)
                rest_s = seconds - steps_s
                extrapolated_h = (sum(r["step_ms"] for r in meter.records) * PAPER_ITERS / 1e3 + rest_s) / 3600
                for unit, rec in zip(report.units, meter.records):
                    line = {"model": name, "variant": variant, "unit": unit.name, "iters": args.iters,
                            "unit_s": round(unit.seconds, 3), **rec}
                    out.write(json.dumps(line) + "\n")
                run = {"model": name, "variant": variant, "device": args.device, "units": len(report.units),
                       "quantize_s": round(seconds, 1), "steps_s": round(steps_s, 1), "other_s": round(rest_s, 1),
                       "extrapolated_h_at_20k": round(extrapolated_h, 2),
                       "max_peak_gpu_mb": max((r.get("peak_gpu_mb", 0) for r in meter.records), default=0),
                       "max_rss_mb": max(r["peak_rss_mb"] for r in meter.records)}
                out.write(json.dumps(run) + "\n")
                out.flush()
                run["median_step_ms"] = sorted(r["step_ms"] for r in meter.records)[len(meter.records) // 2]
                summary.append(run)
                print(f"  {name} {variant}: quantize {seconds:.1f} s ({steps_s:.1f} s in steps), "
                      f"-> {extrapolated_h:.2f} h at {PAPER_ITERS} iterations per unit", flush=True)
    mrecg.recon.ptq.reconstruct = meter.real
    print("\nmodel, variant: units, median step ms, peak GPU GiB, peak RSS GiB, hours at 20k iterations/unit")
    for run in summary:
        print(f"{run['model']}, {run['variant']}: {run['units']}, {run['median_step_ms']:.2f}, "
              f"{run['max_peak_gpu_mb'] / 1024:.2f}, {run['max_rss_mb'] / 1024:.2f}, {run['extrapolated_h_at_20k']:.2f}")
    print(f"# total {time.perf_counter() - t0:.0f} s", flush=True)
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
