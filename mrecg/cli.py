"""The ``mrecg`` command line: one subcommand per job, each a thin layer over the package."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

import torch

from . import data, models


def cmd_data(args: argparse.Namespace) -> None:
    for split in ("train", "test"):
        images, labels = data.load_fashion_mnist_arrays(split, args.root, download=args.download)
        counts = torch.bincount(labels).tolist()
        print(f"fashion_mnist {split}: {len(labels)} images {tuple(images.shape[1:])}, per class {counts}")
    print(f"read from {data.find_fashion_mnist(args.root)}")


def cmd_train(args: argparse.Namespace) -> None:
    from .train import MINI_EPOCHS, TrainConfig, publish_mini_checkpoint, train

    _require_mini(args.preset, "train")
    cfg = TrainConfig(epochs=args.epochs or MINI_EPOCHS[args.model], seed=args.seed)
    state = Path(args.state_dir) / f"{args.model}.state.pt"
    model, record = train(args.model, cfg, state, data_root=args.data_root, progress=not args.quiet, device=args.device)
    model = model.cpu()
    command = "mrecg " + shlex.join(sys.argv[1:])
    if args.publish:
        path = publish_mini_checkpoint(args.model, model, record, command)
    else:
        path = Path(args.out or f"runs/mini/{args.model}.pt")
        from .storage import save_torch

        save_torch(model.state_dict(), path)
    print(json.dumps({"model": args.model, "fp_top1": record["fp_top1"], "checkpoint": str(path)}))


def cmd_eval(args: argparse.Namespace) -> None:
    from .evaluation import evaluate

    model = models.load(args.model, args.preset, args.weights)
    if args.preset == "mini":
        loader = data.TensorLoader(data.fashion_mnist("test", args.data_root), batch_size=500)
    else:
        if not args.data_root:
            raise data.DataError("the paper preset evaluates on ImageNet: pass --data-root /path/to/imagenet")
        loader = torch.utils.data.DataLoader(
            data.imagenet(args.data_root, "val"), batch_size=100, num_workers=args.workers
        )
    top1 = evaluate(model, loader, args.device)
    print(f"{args.model} ({args.preset}): top-1 {top1:.2f}%")


def parse_bits(text: str) -> tuple[int, int]:
    """``"4/4"`` -> (4, 4): weight bits / activation bits."""
    try:
        w, a = (int(b) for b in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"bits must look like W/A, e.g. 4/4 or 2/4, got {text!r}") from None
    return w, a


def cmd_quantize(args: argparse.Namespace) -> None:
    from .experiments import RunSpec, compute

    w_bits, a_bits = args.bits
    spec = RunSpec(
        model=args.model, preset=args.preset, method=args.method, w_bits=w_bits, a_bits=a_bits, seed=args.seed,
        iters=args.iters, batch_size=args.batch_size, calib_size=args.calib_size, scheme=args.scheme,
        modcap=args.modcap, k=args.k, weights=args.weights, data_root=args.data_root, device=args.device,
    )
    r = compute(spec, progress=not args.quiet)
    result = {
        "model": args.model, "method": args.method, "bits": f"{w_bits}/{a_bits}", "preset": args.preset,
        "seed": args.seed, "top1": r["top1"], "fp_top1": r["fp_top1"],
        "unit_losses": {u["name"]: round(u["loss"], 6) for u in r["units"]},
        "scheme": r["scheme"], "scheme_source": r["scheme_source"], "modcap": r["modcap"],
        "seconds": r["seconds"], "version": r["version"],
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{args.model} {args.method} W{w_bits}A{a_bits} ({args.preset}, seed {args.seed}): "
              f"top-1 {r['top1']:.2f}% (float {r['fp_top1']:.2f}%), {r['seconds']:.0f} s, scheme {r['scheme']}")


def cmd_results(args: argparse.Namespace) -> None:
    from .experiments import load_results

    table = load_results(args.dir, args.preset).drop(columns=["units", "errors"], errors="ignore")
    if table.empty:
        raise ValueError(f"no results under {args.dir}" + (f"/{args.preset}" if args.preset else ""))
    if args.csv:
        table.to_csv(sys.stdout if args.csv == "-" else args.csv, index=False)
    else:
        print(table.to_string(index=False))


def parse_scheme(text: str):
    """``official``, ``random:SEED``, or a JSON list of block groups such as ``[[0],[1,2],[3]]``."""
    if text == "official" or text.startswith("random:"):
        return text
    try:
        groups = json.loads(text)
    except json.JSONDecodeError:
        raise argparse.ArgumentTypeError(
            f"scheme must be 'official', 'random:SEED' or a list like [[0],[1,2],[3]], got {text!r}"
        ) from None
    if not isinstance(groups, list) or not all(isinstance(g, list) for g in groups):
        raise argparse.ArgumentTypeError(f"scheme must be a list of lists of block indices, got {text!r}")
    return groups


def cmd_modcap(args: argparse.Namespace) -> None:
    from . import modcap, schemes
    from .experiments import RunSpec, datasets
    from .ptq import default_k

    w_bits, a_bits = args.bits
    model_preset = "paper" if args.preset == "paper" else "mini"
    model = models.load(args.model, model_preset, args.weights)
    k = args.k if args.k is not None else default_k(model)
    results = {"params": modcap.data_free(model, w_bits, args.stride_exponent)}
    if args.kind in ("loss", "both"):
        spec = RunSpec(args.model, args.preset, "mrecg+brecq", w_bits, a_bits, args.seed, data_root=args.data_root)
        cfg = spec.config()
        calib, _ = datasets(spec, cfg)
        results["loss"] = modcap.data_dependent(model, calib[: cfg.calib_size], cfg, cfg.modcap_iters, not args.quiet)
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


def _require_mini(preset: str, what: str) -> None:
    if preset != "mini":
        raise models.ModelError(f"`mrecg {what}` trains mini models only; the paper preset uses released ImageNet weights")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mrecg", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("data", help="check (or download) the embedded Fashion-MNIST data")
    p.add_argument("--root", help="folder holding the IDX .gz files (default: $MRECG_DATA, ./data, Debian's)")
    p.add_argument("--download", action="store_true", help="download through torchvision if not found")
    p.set_defaults(run=cmd_data)

    p = sub.add_parser("train", help="train a mini float model on Fashion-MNIST")
    p.add_argument("--model", required=True, choices=models.NAMES)
    p.add_argument("--preset", default="mini", choices=models.PRESETS)
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

    from .config import METHODS, PRESETS

    p = sub.add_parser("quantize", help="post-training quantization of a model, then its top-1")
    p.add_argument("--model", required=True, choices=models.NAMES)
    p.add_argument("--preset", default="mini", choices=tuple(PRESETS))
    p.add_argument("--method", default="brecq", choices=tuple(METHODS))
    p.add_argument("--bits", type=parse_bits, default=(4, 4), help="W/A bit-widths, e.g. 2/4 (default 4/4)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--iters", type=int, help="iterations per unit (default: the preset's)")
    p.add_argument("--batch-size", type=int, help="reconstruction batch size (default: the preset's)")
    p.add_argument("--calib-size", type=int, help="calibration images (default: the preset's)")
    p.add_argument("--modcap", choices=("loss", "params"), help="MRECG: data-dependent (default) or data-free ModCap")
    p.add_argument("--scheme", type=parse_scheme, help="official | random:SEED | a list like [[0],[1,2],...]")
    p.add_argument("--k", type=int, help="MRECG: number of merged adjacent pairs (default: the official count)")
    p.add_argument("--weights", help="model weights (paper preset: torchvision name or file)")
    p.add_argument("--data-root", help="Fashion-MNIST folder or ImageNet root")
    p.add_argument("--device", default="cpu")
    p.add_argument("--json", action="store_true", help="print one JSON record")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=cmd_quantize)

    p = sub.add_parser("modcap", help="per-block ModCap (data-free and data-dependent) and the chosen scheme")
    p.add_argument("--model", required=True, choices=models.NAMES)
    p.add_argument("--preset", default="mini", choices=tuple(PRESETS))
    p.add_argument("--bits", type=parse_bits, default=(2, 4), help="W/A bit-widths (default 2/4)")
    p.add_argument("--kind", choices=("both", "params", "loss"), default="both")
    p.add_argument("--k", type=int, help="number of merges (default: the official scheme's count)")
    p.add_argument("--stride-exponent", type=float, default=2.0, help="gamma of the data-free stride scaling")
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
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.run(args)
    except (data.DataError, models.ModelError, ValueError) as e:
        print(f"mrecg {args.command}: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
