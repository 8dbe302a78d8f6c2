"""The mrecg command line: one subcommand per job, each a thin layer over the package. The
quantization flags derive from PTQConfig's fields (--w-lr, --scheme, ...), so a new knob needs no
new flag. Bad input is one line on stderr and exit code 2, before any long computation."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shlex
import sys
import typing
from pathlib import Path

from . import data, methods, models
from .config import PRESETS, ConfigError, PTQConfig, check_device, knobs, parse_bits, parse_scheme
from .study.executors import ExecutorChoice
from .study.notebooks import DRIVER_PARAMETERS, write_all


class Parser(argparse.ArgumentParser):
    """argparse whose errors are one line that points to --help, instead of the usage block."""
    def error(self, message: str) -> typing.NoReturn:
        self.exit(2, f"{self.prog}: error: {message}; see {self.prog} --help\n")


def arg_type(parse: typing.Callable) -> typing.Callable:
    """A config parser as an argparse type: its one-line error becomes argparse's."""
    def parsed(text: str):
        try:
            return parse(text)
        except ConfigError as e:
            raise argparse.ArgumentTypeError(str(e)) from None
    return parsed


def add_config_flags(p: argparse.ArgumentParser) -> None:
    """One ``--flag`` per PTQConfig field; unset flags keep the preset's value."""
    for f in knobs():
        kind = arg_type(parse_scheme) if f.name == "scheme" else {"int": int, "float": float, "str": str}[
            str(f.type).split("|")[0].strip()]
        p.add_argument(f"--{f.name.replace('_', '-')}", dest=f.name, type=kind, default=None,
                       choices=tuple(methods.METHODS) if f.name == "method" else None,
                       help=f"{f.metadata['help']} (default: the preset's)")
    p.add_argument("--bits", type=arg_type(parse_bits), help="W/A bit-widths at once, e.g. 2/4")


def config_overrides(args: argparse.Namespace) -> dict:
    out = {f.name: getattr(args, f.name) for f in knobs() if getattr(args, f.name, None) is not None}
    if args.bits is not None:
        out["w_bits"], out["a_bits"] = args.bits
    return out


def cmd_data(args: argparse.Namespace) -> None:
    for split in ("train", "test"):
        images, labels = data.load_fashion_mnist_arrays(split, args.root, download=args.download)
        print(f"{split}: {len(labels)} images {tuple(images.shape[1:])}, per class {labels.bincount().tolist()}")
    print(f"read from {data.find_fashion_mnist(args.root)}")


def cmd_train(args: argparse.Namespace) -> None:
    from .train import MINI_EPOCHS, TrainConfig, train_and_save

    check_device(args.device)
    cfg = TrainConfig(epochs=args.epochs if args.epochs is not None else MINI_EPOCHS[args.model], seed=args.seed)
    print(json.dumps(train_and_save(args.model, cfg, args.state_dir, args.out, args.publish,
                                    "mrecg " + shlex.join(sys.argv[1:]), data_root=args.data_root,
                                    progress=not args.quiet, device=args.device)))


def cmd_eval(args: argparse.Namespace) -> None:
    from .evaluation import evaluate

    check_device(args.device)
    if args.preset == "paper":
        data.require_imagenet(args.data_root)  # before any weights are fetched
    top1 = evaluate(models.load(args.model, models.variant(args.preset), args.weights),  # weights before data
                    data.evaluation_loader(args.preset, args.data_root, args.workers), args.device)
    print(f"{args.model} ({args.preset}): top-1 {top1:.2f}%")


def cmd_quantize(args: argparse.Namespace) -> None:
    from .study.records import compute_record
    from .study.runs import RunSpec

    spec = RunSpec(args.model, args.preset, weights=args.weights, data_root=args.data_root, **config_overrides(args))
    cfg = spec.resolved()
    check_device(cfg.device)
    if args.preset == "paper":
        data.require_imagenet(args.data_root)
    with contextlib.redirect_stdout(sys.stderr):  # the computation's notices: stdout holds the result alone
        r = compute_record(spec, progress=not args.quiet)
    if args.json:
        keep = ("top1", "fp_top1", "scheme", "scheme_source", "modcap", "seconds", "code", "machine")
        return print(json.dumps({"model": args.model, "method": cfg.method, "bits": f"{cfg.w_bits}/{cfg.a_bits}",
                                 "preset": args.preset, "seed": cfg.seed, **{k: r[k] for k in keep},
                                 "unit_losses": {u["name"]: round(u["loss"], 6) for u in r["units"]}}))
    print(f"{args.model} {cfg.method} W{cfg.w_bits}A{cfg.a_bits} ({args.preset}, seed {cfg.seed}): "
          f"top-1 {r['top1']:.2f}% (float {r['fp_top1']:.2f}%), {r['seconds']:.0f} s, scheme {r['scheme']}")


def cmd_results(args: argparse.Namespace) -> None:
    from .study.records import load_results

    if args.csv not in (None, "-") and not Path(args.csv).parent.is_dir():
        raise ValueError(f"cannot write {args.csv}: there is no folder {Path(args.csv).parent}")
    table = load_results(args.dir, args.preset).drop(columns=["units", "errors"], errors="ignore")
    if table.empty:
        raise ValueError(f"no results under {args.dir}" + (f"/{args.preset}" if args.preset else ""))
    if not args.csv:
        return print(table.to_string(index=False))
    try:
        table.to_csv(sys.stdout if args.csv == "-" else args.csv, index=False)
    except OSError as e:  # a closed pipe is main's; a full disk or a refused file is one line
        raise e if isinstance(e, BrokenPipeError) else ValueError(f"cannot write {args.csv}: {e.strerror or e}")


def cmd_modcap(args: argparse.Namespace) -> None:
    import pandas as pd

    from .merging import modcap, schemes, selection
    from .study.runs import RunSpec, datasets

    w_bits, a_bits = args.bits
    spec = RunSpec(args.model, args.preset, data_root=args.data_root, method="mrecg+brecq", w_bits=w_bits,  # checks
                   a_bits=a_bits, seed=args.seed, scheme="modcap:loss", stride_exponent=args.stride_exponent)
    model = models.load(args.model, models.variant(args.preset), args.weights)
    k = args.k if args.k is not None else schemes.default_k(models.family(args.model))
    selection.check_k(model, k, w_bits)
    found = {"params": modcap.data_free(model, w_bits, args.stride_exponent)} if args.kind != "loss" else {}
    if args.kind in ("loss", "both"):
        calib, _ = datasets(spec, cfg := spec.resolved())
        with contextlib.redirect_stdout(sys.stderr):  # the computation's notices: stdout holds the result alone
            found["loss"] = modcap.data_dependent(model, selection.block_losses(model, calib, cfg, not args.quiet))
    out = {kind: {"rows": mc.table(), "scheme": schemes.top_k_scheme(mc.scores, k, mc.comparable)}
           for kind, mc in found.items()}
    if args.json:
        return print(json.dumps({"model": args.model, "bits": f"{w_bits}/{a_bits}", "k": k, **out}))
    labels = {"params": f"data-free (params x bits x stride^{args.stride_exponent:g})",
              "loss": "data-dependent (block reconstruction loss)"}
    for kind, found_kind in out.items():
        rows = pd.DataFrame(found_kind["rows"]).rename(columns={"score_next": "score->next", "comparable_next": "comparable"})
        print(f"{args.model} W{w_bits}A{a_bits} ModCap {labels[kind]}\n{rows.to_string(index=False)}\n"
              f"top-{k} scheme: {json.dumps(found_kind['scheme'])}\n")


def cmd_reproduce(args: argparse.Namespace) -> None:
    from .reproduce import reproduce  # imports every figure module: only when asked for

    reproduce(**{n: getattr(args, n) for n in (*DRIVER_PARAMETERS, "models", "stop_after", "same_machine")},
              notebooks=not args.compute_only, executor=ExecutorChoice.from_args(args))


def cmd_notebooks(args: argparse.Namespace) -> None:
    print("\n".join(str(p) for p in write_all()) or "every notebook matches its source")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="mrecg", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    def command(name: str, run: typing.Callable, help: str, model: bool = True) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help)
        p.set_defaults(run=run)
        if model:
            p.add_argument("--model", required=True, choices=models.NAMES)
        return p

    p = command("data", cmd_data, "check (or download) the embedded Fashion-MNIST data", model=False)
    p.add_argument("--root", help="folder holding the IDX .gz files (default: $MRECG_DATA, ./data, Debian's)")
    p.add_argument("--download", action="store_true", help="download through torchvision if not found")

    p = command("train", cmd_train, "train a mini float model on Fashion-MNIST")
    p.add_argument("--epochs", type=int, help="default: the per-model value in mrecg.train.MINI_EPOCHS")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data-root")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--state-dir", default="runs/train", help="resumable training state (default: runs/train)")
    p.add_argument("--out", help="where to save the weights (default: runs/mini/NAME.pt)")
    p.add_argument("--publish", action="store_true", help="write into the package's mini checkpoints and manifest")
    p.add_argument("--device", default="cpu", help="where to train: cpu (default) or cuda[:N]")

    def add_inputs(p: argparse.ArgumentParser) -> None:
        p.add_argument("--preset", default="mini", choices=tuple(PRESETS))
        p.add_argument("--weights", help="local checkpoint, or a torchvision weights name (paper preset)")
        p.add_argument("--data-root", help="Fashion-MNIST folder (smoke, mini) or ImageNet root with train/ and val/")

    def add_output(p: argparse.ArgumentParser) -> None:
        p.add_argument("--json", action="store_true", help="print one JSON object")
        p.add_argument("--quiet", action="store_true", help="no progress bar")

    p = command("eval", cmd_eval, "top-1 of a float model on its test split")
    add_inputs(p)
    p.add_argument("--device", default="cpu")
    p.add_argument("--workers", type=int, default=4, help="data-loading processes (paper preset)")

    p = command("quantize", cmd_quantize, "post-training quantization of a model, then its top-1")
    add_inputs(p)
    add_config_flags(p)
    add_output(p)

    p = command("modcap", cmd_modcap, "per-block ModCap (data-free and data-dependent) and the chosen scheme")
    add_inputs(p)
    p.add_argument("--bits", type=arg_type(parse_bits), default=(2, 4), help="W/A bit-widths (default 2/4)")
    p.add_argument("--kind", choices=("both", "params", "loss"), default="both")
    p.add_argument("--k", type=int, help="number of merges (default: the official scheme's count)")
    p.add_argument("--stride-exponent", type=float, default=PTQConfig.stride_exponent,
                   help="gamma of the data-free stride scaling")
    p.add_argument("--seed", type=int, default=0)
    add_output(p)

    p = command("results", cmd_results, "the stored experiment records as one table", model=False)
    p.add_argument("--dir", default="results", help="results directory (default: results)")
    p.add_argument("--preset", help="only this preset's records")
    p.add_argument("--csv", nargs="?", const="-", help="write CSV to this file (default: stdout)")

    p = command("reproduce", cmd_reproduce, "compute every missing run, then execute every notebook", model=False)
    for name, (default, text) in DRIVER_PARAMETERS.items():  # the notebooks' parameters, as flags
        kind = {"preset": dict(choices=tuple(PRESETS)), "seeds": dict(type=int, nargs="+"), "workers": dict(type=int)}
        extra = dict(action="store_true") if default is False else dict(default=default, **kind.get(name, {}))
        p.add_argument(f"--{name.replace('_', '-')}", help=text, **extra)
    p.add_argument("--compute-only", action="store_true", help="compute the runs, do not execute the notebooks")
    p.add_argument("--models", nargs="+", help="only these models' runs (with --compute-only), to split a grid")
    p.add_argument("--stop-after", type=float, metavar="MINUTES", help="start no run expected to end later; "
                   "the runs that would be cut off are left for the next call (with --compute-only)")
    p.add_argument("--same-machine", nargs="*", metavar="FIGURE", help="recompute here the mixed-machine pairs' runs")
    ExecutorChoice.add_flags(p)

    command("notebooks", cmd_notebooks, "rebuild notebooks/*.ipynb from their sources (notebooks/*.py)", model=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.run(args)
    except BrokenPipeError:  # `mrecg results --csv | head`: the reader left, not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (data.DataError, ValueError) as e:  # every mrecg error but DataError is a ValueError
        print(f"mrecg {args.command}: error: {str(e).splitlines()[0] if str(e) else type(e).__name__}",
              file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
