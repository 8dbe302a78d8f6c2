"""Lock-step: one unit reconstructed by the released QDrop loop and by ours, from the same state,
on the same cached inputs, with the same random numbers.

    python benchmarks/lockstep.py --qdrop PATH [--bits 2/2] [--seed 0] [--units layer1.0 layer3.1] [--iters 500]

Issue #22 left a gap of about half a point at W2A2 between the released QDrop and ours, with no
difference found by reading the two codes side by side. Run free, two implementations differ by
their random streams too, so a run-to-run difference hides a computational one. Here the random
streams are made the same: the released unit is reconstructed first (its caches, its initial
state and the global generator's state are kept); our loop then runs on those very caches, from
that very state (weights, weight steps and zero points, activation steps), with the released
loop's choices switched on (:data:`mrecg.recon.loop.RELEASED_LOOP`), batch indices drawn from
the global generator and each drop mask drawn as the released code draws it
(``torch.rand_like(x) < p``, in the same order). If the two loops compute the same thing, their
losses agree to float rounding step by step until a rounding decision flips; a step where
they part at once names the difference.

For scale, ``free`` runs of ours (their own random streams, our defaults otherwise) start from
the same state: how far two runs of one implementation land apart.

One JSON line per unit goes to ``--out`` (default ``benchmarks/results/lockstep.jsonl``).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import sys
import time
from pathlib import Path

import torch
from torch import nn

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import released_xcheck as xcheck  # noqa: E402

from mrecg import methods, models  # noqa: E402
from mrecg.quant import quantizer  # noqa: E402
from mrecg.quant.blocks import quantize_block  # noqa: E402
from mrecg.recon import loop  # noqa: E402
from mrecg.recon.loop import RELEASED_LOOP, flush_denormal, reconstruct  # noqa: E402

DEFAULT_OUT = HERE / "results" / "lockstep.jsonl"
KEEP = 0.5  # QDrop's drop_prob: the probability of keeping the quantized value
FREE_SEEDS = (1, 2, 3)
CLAMP_LABEL = {"authors": "its authors'", "torch": "this torch's"}


def released_draw(quantized: torch.Tensor, fp: torch.Tensor, keep_prob: float) -> torch.Tensor:
    """The released drop: ``torch.where(torch.rand_like(x) < p, quantized, fp)`` on the global generator."""
    return torch.where(torch.rand_like(quantized) < keep_prob, quantized, fp)


def transplant(theirs: nn.Module, ours: nn.Module) -> None:
    """Give our quantized BasicBlock the released block's state: folded weights and biases, weight
    steps and zero points per channel, activation bits, steps and zero points."""
    pairs = [(theirs.conv1_relu, ours.body[0]), (theirs.conv2, ours.body[1])]
    if theirs.downsample is not None:
        pairs.append((theirs.downsample, ours.downsample))
    with torch.no_grad():
        for t, o in pairs:
            conv, wq = t.module, t.module.weight_fake_quant
            o.weight.copy_(conv.weight)
            o.bias.copy_(conv.bias)
            o.wq.scale.copy_(wq.scale.reshape(o.wq.scale.shape))
            o.wq.zero.copy_(wq.zero_point.reshape(o.wq.zero.shape).float())
        for t, o in [(theirs.conv1_relu.layer_post_act_fake_quantize, ours.body[0].aq),
                     (theirs.block_post_act_fake_quantize, ours.out_quant)]:
            o.set_bits(t.bit)
            o.scale.copy_(t.scale.reshape(()))
            o.zero.copy_(t.zero_point.reshape(()).float())
            o.initialized = True


def hard_weights(block: nn.Module) -> list[torch.Tensor]:
    return [layer.quantized_weight().detach() for _, layer in block.layers()]


def act_steps(block: nn.Module) -> list[float]:
    return [float(block.body[0].aq.scale), float(block.out_quant.scale)]


@torch.no_grad()
def full_loss(module: nn.Module, x: torch.Tensor, target: torch.Tensor) -> float:
    """The unit's reconstruction loss over the whole cache, drop off, hard rounding."""
    module.eval()
    return sum(float(methods.recon_loss(module(x[s:s + 256]), target[s:s + 256])) * len(x[s:s + 256])
               for s in range(0, len(x), 256)) / len(x)


def ours(start: nn.Module, caches: tuple, iters: int, seed: int, lock: bool) -> tuple[nn.Module, list[float]]:
    """Our loop on the released caches from ``start``; ``lock``: the released random draws and choices."""
    block = copy.deepcopy(start)
    x_q, x_fp, target = caches
    original = loop.mix
    torch.manual_seed(seed)
    if lock:
        loop.mix = quantizer.mix = released_draw
    losses: list[float] = []
    try:
        reconstruct(block, x_q, x_fp, target, iters=iters, batch_size=xcheck.BATCH, keep_prob=KEEP,
                    w_lr=xcheck.W_LR, a_lr=xcheck.A_LR, round_lambda=0.01, warmup=0.2, device="cpu",
                    generator=torch.default_generator if lock else torch.Generator().manual_seed(seed),
                    trace_every=1, loss=methods.recon_loss, on_trace=lambda t, r: losses.append(r),
                    released=frozenset(RELEASED_LOOP) if lock else frozenset())
    finally:
        loop.mix = quantizer.mix = original
    return block, losses


def lockstep(root: Path, w: int, a: int, seed: int, unit: str, iters: int, clamp: str = "authors") -> dict:
    with xcheck.on_cpu():
        model, fp_model, cali, cfg = xcheck.prepare_released_qdrop(root, w, a, seed, iters, KEEP)
        import recon

        theirs, fp_theirs = model.get_submodule(unit), fp_model.get_submodule(unit)
        start_theirs = copy.deepcopy(theirs)
        caches: list = []
        save, lp = recon.save_inp_oup_data, recon.lp_loss
        losses: list[float] = []

        def saving(*args, **kwargs):
            out = save(*args, **kwargs)
            caches.append(out)
            return out

        def recording(pred, tgt, p=2.0):
            value = lp(pred, tgt, p)
            losses.append(float(value))
            return value

        recon.save_inp_oup_data, recon.lp_loss = saving, recording
        torch.manual_seed(seed)
        try:
            with flush_denormal(), (xcheck.authors_clamp() if clamp == "authors" else contextlib.nullcontext()):
                recon.reconstruction(model, fp_model, theirs, fp_theirs, cali, cfg)
        finally:
            recon.save_inp_oup_data, recon.lp_loss = save, lp
    (x_q, _), (x_fp, target) = caches
    caches_ = (x_q, x_fp, target)
    start = quantize_block(models.load(xcheck.MODEL, "mini").get_submodule(unit), w, a)
    transplant(start_theirs, start)
    with flush_denormal():
        locked, ours_losses = ours(start, caches_, iters, seed, lock=True)
        free = [ours(start, caches_, iters, s, lock=False)[0] for s in FREE_SEEDS]
    rel = [abs(o - t) / max(abs(t), 1e-12) for o, t in zip(ours_losses, losses)]
    parted = next((i for i, r in enumerate(rel) if r > 1e-3), None)
    theirs_w = [m.weight.detach() for m in (theirs.conv1_relu.module, theirs.conv2.module)
                + ((theirs.downsample.module,) if theirs.downsample is not None else ())]

    def differ(block: nn.Module) -> float:
        """Fraction of weights whose final rounding differs from the released run's."""
        pairs = list(zip(hard_weights(block), theirs_w))
        return sum(int((~torch.isclose(o, t, rtol=1e-4, atol=1e-7)).sum()) for o, t in pairs) / sum(
            t.numel() for _, t in pairs)

    theirs.eval()
    for m in theirs.modules():
        if hasattr(m, "drop_prob"):
            m.drop_prob = 1.0
    return {
        "unit": unit, "bits": f"{w}/{a}", "seed": seed, "iters": iters, "released_clamp": clamp,
        "code": f"{xcheck.REPOS['qdrop']}@{xcheck.commit_of(root)}",
        "losses_released": losses, "losses_ours_locked": ours_losses,
        "first_step_over_1e-3": parted,
        "max_relative_difference_first_10": max(rel[:10]),
        "final_loss": {"released": full_loss(theirs, x_q, target), "ours_locked": full_loss(locked, x_q, target),
                       "ours_free": [full_loss(b, x_q, target) for b in free]},
        "rounding_differs_from_released": {"ours_locked": differ(locked), "ours_free": [differ(b) for b in free]},
        "act_steps": {"start": act_steps(start), "released": [float(theirs.conv1_relu.layer_post_act_fake_quantize.scale),
                                                              float(theirs.block_post_act_fake_quantize.scale)],
                      "ours_locked": act_steps(locked), "ours_free": [act_steps(b) for b in free]},
        "machine": xcheck.machine(), "when": time.strftime("%Y-%m-%d %H:%M:%S"),
    }


def table(rows: list[dict]) -> str:
    """Markdown, one line per stored unit run: where the locked losses part, the final losses and
    how many rounding decisions differ from the released run's."""
    clamp = {"authors": "its authors' torch's (1 at the bounds)", "torch": "this torch's (0 at the bounds)"}
    lines = ["| unit | W/A | seed | iterations | released code's clamp gradient | first step where the losses part by "
             "over 1e-3 | largest relative difference, first 10 steps | final loss: released / ours locked / ours "
             "free (3 runs) | rounding decisions unlike the released run's: ours locked / ours free |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        f, d = r["final_loss"], r["rounding_differs_from_released"]
        parted = "never" if r["first_step_over_1e-3"] is None else str(r["first_step_over_1e-3"])
        lines.append(
            f"| {r['unit']} | W{r['bits'].replace('/', 'A')} | {r['seed']} | {r['iters']} | {clamp[r['released_clamp']]} | "
            f"{parted} | {r['max_relative_difference_first_10']:.1e} | {f['released']:.4f} / {f['ours_locked']:.4f} / "
            f"{min(f['ours_free']):.4f} to {max(f['ours_free']):.4f} | {100 * d['ours_locked']:.2f} % / "
            f"{100 * min(d['ours_free']):.2f} to {100 * max(d['ours_free']):.2f} % |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--qdrop", type=Path, required=True, help="a checkout of github.com/wimh966/QDrop")
    p.add_argument("--bits", default="2/2")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--units", nargs="+", default=["layer1.0"])
    p.add_argument("--iters", type=int, default=500)
    p.add_argument("--released-clamp", nargs="+", choices=xcheck.CLAMPS, default=list(xcheck.CLAMPS),
                   help="the released side's clamp gradient at the bounds: its authors' torch's, this torch's")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = p.parse_args(argv)
    try:
        root = xcheck.checkout(args.qdrop, xcheck.REPOS["qdrop"], "qdrop/solver/recon.py")
        _, w, a = xcheck.parse_run(f"qdrop:{args.bits}")
    except (xcheck.XcheckError, argparse.ArgumentTypeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    torch.set_num_threads(1)
    for unit, clamp in ((u, c) for u in args.units for c in args.released_clamp):
        row = lockstep(root, w, a, args.seed, unit, args.iters, clamp)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        with args.out.open("a") as f:
            f.write(json.dumps(row) + "\n")
        print(f"{unit} W{w}A{a} seed {row['seed']}, released on {CLAMP_LABEL[clamp]} clamp: losses part (>1e-3) at step {row['first_step_over_1e-3']}; "
              f"final loss released {row['final_loss']['released']:.5g}, ours locked "
              f"{row['final_loss']['ours_locked']:.5g}, ours free "
              + ", ".join(f"{v:.5g}" for v in row['final_loss']['ours_free'])
              + f"; rounding differs {row['rounding_differs_from_released']['ours_locked']:.4f} locked, "
              + ", ".join(f"{v:.4f}" for v in row['rounding_differs_from_released']['ours_free']) + " free")
    return 0


if __name__ == "__main__":
    sys.exit(main())
