"""The ``mrecg`` command line: one subcommand per job, each a thin layer over the package.

The quantization flags are derived from :class:`mrecg.config.PTQConfig`'s fields (``--w-lr``,
``--scheme``, ``--cache-device``, ...), so a new knob needs no new flag. Bad input is one line on
stderr and exit code 2, before any long computation.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import typing
from pathlib import Path

from . import data, models
from .config import PRESETS, ConfigError, PTQConfig, knobs

FLAG_TYPES = {"int": int, "float": float, "str": str}


def parse_bits(text: str) -> tuple[int, int]:
    """``"4/4"`` -> (4, 4): weight bits / activation bits."""
    try:
        w, a = (int(b) for b in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"bits must look like W/A, e.g. 4/4 or 2/4, got {text!r}") from None
    return w, a


def parse_scheme(text: str):
    """``official``, ``modcap:loss``, ``modcap:params``, ``random:SEED``, or block groups ``[[0],[1,2],...]``."""
    if not text.startswith("["):
        return text
    try:
        groups = json.loads(text)
    except json.JSONDecodeError:
        raise argparse.ArgumentTypeError(f"scheme must be a name or a list like [[0],[1,2],[3]], got {text!r}") from None
    if not isinstance(groups, list) or not all(isinstance(g, list) for g in groups):
        raise argparse.ArgumentTypeError(f"scheme must be a list of lists of block indices, got {text!r}")
    return groups


def _flag_type(f) -> typing.Callable:
    if f.name == "scheme":
        return parse_scheme
    base = str(f.type).split("|")[0].strip()
    return FLAG_TYPES[base]


def add_config_flags(p: argparse.ArgumentParser, skip: tuple[str, ...] = ()) -> None:
    """One ``--flag`` per PTQConfig field; unset flags keep the preset's value."""
    from . import methods

    for f in knobs():
        if f.name in skip:
            continue
        kwargs = dict(type=_flag_type(f), default=None, help=f"{f.metadata['help']} (default: the preset's)")
        if f.name == "method":
            kwargs["choices"] = tuple(methods.METHODS)
        p.add_argument(f"--{f.name.replace('_', '-')}", dest=f.name, **kwargs)
    p.add_argument("--bits", type=parse_bits, help="W/A bit-widths at once, e.g. 2/4")


def config_overrides(args: argparse.Namespace) -> dict:
    out = {f.name: getattr(args, f.name) for f in knobs() if getattr(args, f.name, None) is not None}
    if args.bits is not None:
        out["w_bits"], out["a_bits"] = args.bits
    return out


def check_device(device: str) -> None:
    """A device that exists here: ``cpu`` or an available ``cuda[:N]`` (one line otherwise)."""
    import re

    import torch

    if device == "cpu":
        return
    if not re.fullmatch(r"cuda(:\d+)?", device):
        raise ConfigError(f"device must be cpu or cuda[:N], got {device!r}")
    if not torch.cuda.is_available():
        raise ConfigError(f"device {device} asked for, but torch sees no CUDA GPU here; use --device cpu")
    index = int(device.split(":")[1]) if ":" in device else 0
    if index >= torch.cuda.device_count():
        raise ConfigError(f"device {device} asked for, but there are {torch.cuda.device_count()} GPUs")


def cmd_data(args: argparse.Namespace) -> None:
    for split in ("train", "test"):
        images, labels = data.load_fashion_mnist_arrays(split, args.root, download=args.download)
        counts = [int(c) for c in labels.bincount()]
        print(f"fashion_mnist {split}: {len(labels)} images {tuple(images.shape[1:])}, per class {counts}")
    print(f"read from {data.find_fashion_mnist(args.root)}")


def cmd_train(args: argparse.Namespace) -> None:
    from .storage import save_torch
    from .train import MINI_EPOCHS, TrainConfig, publish_mini_checkpoint, train

    check_device(args.device)
    cfg = TrainConfig(epochs=args.epochs if args.epochs is not None else MINI_EPOCHS[args.model], seed=args.seed)
    state = Path(args.state_dir) / f"{args.model}.state.pt"
    model, record = train(args.model, cfg, state, data_root=args.data_root, progress=not args.quiet, device=args.device)
    model = model.cpu()
    if args.publish:
        path = publish_mini_checkpoint(args.model, model, record, "mrecg " + shlex.join(sys.argv[1:]))
    else:
        path = Path(args.out or f"runs/mini/{args.model}.pt")
        save_torch(model.state_dict(), path)
    print(json.dumps({"model": args.model, "fp_top1": record["fp_top1"], "checkpoint": str(path)}))


def _paper_data(data_root: str | None) -> None:
    if not data_root or not Path(data_root, "val").is_dir():
        raise data.DataError("the paper preset evaluates on ImageNet: pass --data-root /path/to/imagenet "
                             "(the folder holding train/ and val/)")


def cmd_eval(args: argparse.Namespace) -> None:
    import torch

    from .evaluation import evaluate

    check_device(args.device)
    if args.preset == "paper":
        _paper_data(args.data_root)  # before any weights are downloaded
    model = models.load(args.model, args.preset, args.weights)
    if args.preset == "mini":
        loader = data.TensorLoader(data.fashion_mnist("test", args.data_root), batch_size=500)
    else:
        loader = torch.utils.data.DataLoader(data.imagenet(args.data_root, "val"), batch_size=100,
                                             num_workers=args.workers)
    top1 = evaluate(model, loader, args.device)
    print(f"{args.model} ({args.preset}): top-1 {top1:.2f}%")


def cmd_quantize(args: argparse.Namespace) -> None:
    from .experiments import RunSpec, compute

    spec = RunSpec(args.model, args.preset, weights=args.weights, data_root=args.data_root, **config_overrides(args))
    cfg = spec.resolved()
    check_device(cfg.device)
    if args.preset == "paper":
        _paper_data(args.data_root)
    r = compute(spec, progress=not args.quiet)
    result = {
        "model": args.model, "method": cfg.method, "bits": f"{cfg.w_bits}/{cfg.a_bits}", "preset": args.preset,
        "seed": cfg.seed, "top1": r["top1"], "fp_top1": r["fp_top1"],
        "unit_losses": {u["name"]: round(u["loss"], 6) for u in r["units"]},
        "scheme": r["scheme"], "scheme_source": r["scheme_source"], "modcap": r["modcap"],
        "seconds": r["seconds"], "code": r["code"], "machine": r["machine"],
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{args.model} {cfg.method} W{cfg.w_bits}A{cfg.a_bits} ({args.preset}, seed {cfg.seed}): "
              f"top-1 {r['top1']:.2f}% (float {r['fp_top1']:.2f}%), {r['seconds']:.0f} s, scheme {r['scheme']}")


def cmd_results(args: argparse.Namespace) -> None:
    from .experiments import load_results

    table = load_results(args.dir, args.preset).drop(columns=["units", "errors"], errors="ignore")
    if table.empty:
        raise ValueError(f"no results under {args.dir}" + (f"/{args.preset}" if args.preset else ""))
    if args.csv and args.csv != "-":
        try:
            table.to_csv(args.csv, index=False)
        except OSError as e:
            raise ValueError(f"cannot write {args.csv}: {e.strerror}") from None
    elif args.csv:
        table.to_csv(sys.stdout, index=False)
    else:
        print(table.to_string(index=False))


def cmd_modcap(args: argparse.Namespace) -> None:
    from . import modcap, schemes, selection
    from .experiments import RunSpec, datasets

    w_bits, a_bits = args.bits
    model = models.load(args.model, models.variant(args.preset), args.weights)
    k = args.k if args.k is not None else selection.default_k(selection.family_of(args.model))
    results = {"params": modcap.data_free(model, w_bits, args.stride_exponent)}
    mergeable = sum(results["params"].comparable)
    if k > mergeable:
        raise ConfigError(f"k = {k} but {args.model} has only {mergeable} adjacent block pairs that may merge")
    if args.kind in ("loss", "both"):
        spec = RunSpec(args.model, args.preset, data_root=args.data_root, method="mrecg+brecq", w_bits=w_bits,
                       a_bits=a_bits, seed=args.seed, scheme="modcap:loss")
        cfg = spec.resolved()
        calib, _ = datasets(spec, cfg)
        results["loss"] = modcap.data_dependent(model, selection.block_losses(model, calib, cfg, not args.quiet))
    if args.kind == "loss":
        del results["params"]
    out = {}
    for kind, mc in results.items():
        scheme = schemes.top_k_scheme(mc.scores, k, mc.comparable)
        out[kind] = {"rows": mc.table(), "scheme": scheme}
        if not args.json:
            label = "data-free (params x bits x stride^%g)" % args.stride_exponent if kind == "params" else \
                "data-dependent (block reconstruction loss)"
            print(f"{args.model} W{w_bits}A{a_bits} ModCap {label}")
            print(f"{'block':>5} {'name':<14} {'ModCap':>12} {'score->next':>12}  comparable")
            for r in mc.table():
                score = "" if r["score_next"] is None else f"{r['score_next']:12.4g}"
                comp = "" if r["comparable_next"] is None else ("yes" if r["comparable_next"] else "no")
                print(f"{r['block']:>5} {r['name']:<14} {r['modcap']:>12.4g} {score:>12}  {comp}")
            print(f"top-{k} scheme: {json.dumps(scheme)}\n")
    if args.json:
        print(json.dumps({"model": args.model, "bits": f"{w_bits}/{a_bits}", "k": k, **out}))


def cmd_reproduce(args: argparse.Namespace) -> None:
    from .reproduce import reproduce

    check_device(args.device)
    reproduce(args.preset, args.device, args.cache_device, args.data_root, args.results_dir, args.figures_dir, args.executed_dir,
              args.seeds, args.force, args.recompute_stale, args.workers, notebooks=not args.compute_only,
              models=args.models, stop_after=args.stop_after)


def cmd_notebooks(args: argparse.Namespace) -> None:
    from .notebook_sources import write_all

    changed = write_all()
    print("\n".join(str(p) for p in changed) or "every notebook matches its source")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mrecg", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("data", help="check (or download) the embedded Fashion-MNIST data")
    p.add_argument("--root", help="folder holding the IDX .gz files (default: $MRECG_DATA, ./data, Debian's)")
    p.add_argument("--download", action="store_true", help="download through torchvision if not found")
    p.set_defaults(run=cmd_data)

    p = sub.add_parser("train", help="train a mini float model on Fashion-MNIST")
    p.add_argument("--model", required=True, choices=models.NAMES)
    p.add_argument("--epochs", type=int, help="default: the per-model value in mrecg.train.MINI_EPOCHS")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data-root")
    p.add_argument("--state-dir", default="runs/train", help="resumable training state (default: runs/train)")
    p.add_argument("--out", help="where to save the weights (default: runs/mini/NAME.pt)")
    p.add_argument("--publish", action="store_true", help="write into the package's mini checkpoints and manifest")
    p.add_argument("--device", default="cpu", help="where to train: cpu (default) or cuda[:N]")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(run=cmd_train)

    p = sub.add_parser("eval", help="top-1 of a float model on its test split")
    p.add_argument("--model", required=True, choices=models.NAMES)
    p.add_argument("--preset", default="mini", choices=models.PRESETS)
    p.add_argument("--weights", help="local checkpoint, or a torchvision weights name (paper preset)")
    p.add_argument("--data-root", help="Fashion-MNIST folder (mini) or ImageNet root with val/ (paper)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--workers", type=int, default=4)
    p.set_defaults(run=cmd_eval)

    p = sub.add_parser("quantize", help="post-training quantization of a model, then its top-1")
    p.add_argument("--model", required=True, choices=models.NAMES)
    p.add_argument("--preset", default="mini", choices=tuple(PRESETS))
    p.add_argument("--weights", help="model weights (paper preset: torchvision name or file)")
    p.add_argument("--data-root", help="Fashion-MNIST folder or ImageNet root")
    add_config_flags(p)
    p.add_argument("--json", action="store_true", help="print one JSON record")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=cmd_quantize)

    p = sub.add_parser("modcap", help="per-block ModCap (data-free and data-dependent) and the chosen scheme")
    p.add_argument("--model", required=True, choices=models.NAMES)
    p.add_argument("--preset", default="mini", choices=tuple(PRESETS))
    p.add_argument("--bits", type=parse_bits, default=(2, 4), help="W/A bit-widths (default 2/4)")
    p.add_argument("--kind", choices=("both", "params", "loss"), default="both")
    p.add_argument("--k", type=int, help="number of merges (default: the official scheme's count)")
    p.add_argument("--stride-exponent", type=float, default=PTQConfig.stride_exponent,
                   help="gamma of the data-free stride scaling")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--weights")
    p.add_argument("--data-root")
    p.add_argument("--json", action="store_true")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(run=cmd_modcap)

    p = sub.add_parser("results", help="the stored experiment records as one table")
    p.add_argument("--dir", default="results", help="results directory (default: results)")
    p.add_argument("--preset", help="only this preset's records")
    p.add_argument("--csv", nargs="?", const="-", help="write CSV to this file (default: stdout)")
    p.set_defaults(run=cmd_results)

    p = sub.add_parser("reproduce", help="compute every missing run, then execute every notebook")
    p.add_argument("--preset", default="mini", choices=tuple(PRESETS))
    p.add_argument("--device", default="cpu")
    p.add_argument("--cache-device", default="auto", help="auto (the device when the caches fit), cpu, disk, cuda[:N]")
    p.add_argument("--data-root", help="ImageNet root (paper preset)")
    p.add_argument("--results-dir", help="default: results/ of the repository")
    p.add_argument("--figures-dir", help="default: figures/<preset>/ of the repository")
    p.add_argument("--executed-dir", help="default: executed/<preset>/ of the repository")
    p.add_argument("--seeds", type=int, nargs="+", help="default: each sweep's own")
    p.add_argument("--workers", type=int, help="default: one process per core (CPU), one at a time (GPU)")
    p.add_argument("--force", action="store_true", help="recompute every run")
    p.add_argument("--recompute-stale", action="store_true", help="recompute the runs that other code computed")
    p.add_argument("--compute-only", action="store_true", help="compute the runs, do not execute the notebooks")
    p.add_argument("--models", nargs="+", help="only these models' runs (with --compute-only), to split a grid across machines")
    p.add_argument("--stop-after", type=float, metavar="MINUTES",
                   help="start no run expected to end later than this (with --compute-only; for a machine lent for "
                        "a while: the runs that would be cut off are left for the next call)")
    p.set_defaults(run=cmd_reproduce)

    p = sub.add_parser("notebooks", help="rebuild notebooks/*.ipynb from their text sources (notebooks/*.py)")
    p.set_defaults(run=cmd_notebooks)
    return parser


def main(argv: list[str] | None = None) -> int:
    from .experiments import ExperimentError
    from .figures import StudyError
    from .methods import MethodError
    from .units import SchemeError

    args = build_parser().parse_args(argv)
    try:
        args.run(args)
    except BrokenPipeError:  # `mrecg results --csv | head`: the reader left, not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (data.DataError, models.ModelError, ConfigError, ExperimentError, StudyError, MethodError, SchemeError,
            ValueError) as e:
        print(f"mrecg {args.command}: error: {str(e).splitlines()[0] if str(e) else type(e).__name__}",
              file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
