"""benchmarks/released_xcheck.py without the released code: its argument errors, and our side at a
tiny size writing a well-formed, resumable row."""

import contextlib
import json

import pytest
import torch
from conftest import load_script



@pytest.fixture(scope="module")
def xcheck():
    return load_script("benchmarks/released_xcheck.py")


def error_of(xcheck, capsys, argv: list[str]) -> str:
    assert xcheck.main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ")
    return err


def test_missing_released_folder_is_one_line(xcheck, capsys, tmp_path):
    err = error_of(xcheck, capsys, ["--released", str(tmp_path / "nowhere")])
    assert "is not a folder; it should hold QDrop/ and BRECQ/" in err


def test_folder_without_checkouts_names_the_repository(xcheck, capsys, tmp_path):
    (tmp_path / "QDrop").mkdir()
    err = error_of(xcheck, capsys, ["--released", str(tmp_path), "--runs", "qdrop:2/2"])
    assert "does not look like a checkout of wimh966/QDrop (no qdrop/solver/recon.py)" in err
    err = error_of(xcheck, capsys, ["--released", str(tmp_path), "--runs", "brecq:2/4"])
    assert "BRECQ is not a folder; clone https://github.com/yhhhli/BRECQ there" in err


def test_released_runs_need_a_checkout(xcheck, capsys):
    err = error_of(xcheck, capsys, ["--runs", "qdrop:2/4"])
    assert "released qdrop runs need --released DIR or --qdrop PATH" in err


def test_bad_run_and_iterations(xcheck, capsys):
    with pytest.raises(SystemExit) as exit_:
        xcheck.main(["--runs", "qdrop:2-4"])
    assert exit_.value.code == 2 and "must look like qdrop:2/4" in capsys.readouterr().err
    err = error_of(xcheck, capsys, ["--impl", "ours", "--iters", "0"])
    assert "--iters must be > 0, got 0" in err


def test_ours_writes_a_row_and_resumes(xcheck, capsys, tmp_path):
    out = tmp_path / "rows.jsonl"
    argv = ["--impl", "ours", "--runs", "qdrop:2/4", "--seeds", "0", "--iters", "2",
            "--variant", "with_replacement", "--out", str(out)]
    assert xcheck.main(argv) == 0
    (row,) = [json.loads(line) for line in out.read_text().splitlines()]
    assert {k: row[k] for k in ("impl", "method", "bits", "seed", "iters", "lr", "act_init", "variant")} == {
        "impl": "ours", "method": "qdrop", "bits": "2/4", "seed": 0, "iters": 2, "lr": {"w": 1e-3, "a": 4e-5},
        "act_init": "ours", "variant": ["with_replacement"]}
    assert row["code"].startswith("mrecg@") and 10 < row["top1"] <= 100
    assert row["machine"]["threads"] == 1
    capsys.readouterr()
    assert xcheck.main(argv) == 0  # the stored row is not computed again
    assert "stored" in capsys.readouterr().out and len(out.read_text().splitlines()) == 1


def test_stem_before_pool_makes_the_stem_a_layer_unit(xcheck):
    from mrecg.recon.units import build_chain, partition

    from mrecg import models

    q = build_chain(models.load("resnet18", "mini"), 2, 2)
    ours, released = partition(q, "block"), xcheck.stem_before_pool(partition)(q, "block")
    assert (ours[0].elements, ours[0].layer) == ((0,), None)  # ours: the stem with its max-pool
    assert (released[0].elements, released[0].layer) == ((0,), "0")  # the conv layer, before the max-pool
    assert type(q.elements[0].get_submodule("0")).__name__ == "QuantLayer"
    assert released[1:] == ours[1:]


def test_the_table_pairs_seeds_of_one_machine_type_and_decides_the_tolerance(xcheck):
    cpu = {"cpu": "A", "threads": 1, "device": "cpu"}
    base = dict(method="qdrop", bits="2/2", iters=500, act_init="qdrop", machine=cpu)
    released = [dict(base, impl="released", code="wimh966/QDrop@x", seed=s, top1=t, variant=[])
                for s, t in ((0, 85.0), (1, 85.2), (2, 85.4))]
    close = [dict(base, impl="ours", code="mrecg@y", seed=s, top1=t, variant=[])
             for s, t in ((0, 85.1), (1, 85.35), (2, 85.45))]  # differences +0.1, +0.15, +0.05
    ours = [dict(r, impl="ours", code="mrecg@y") for r in released]
    far = [dict(r, variant=["two_adams"], top1=r["top1"] - 1.0) for r in ours]  # -1.0 at every seed
    elsewhere = [dict(r, variant=["with_replacement"], machine=dict(cpu, cpu="B")) for r in ours]
    lines = xcheck.table(released + close + far + elsewhere).splitlines()
    rows = {line.split(" | ")[2]: line.split(" | ")[3:] for line in lines[2:]}
    assert rows["ours, act_init=qdrop"] == ["85.30", "0, 1, 2", "+0.10 [-0.02, +0.22]", "yes", "yes |"]
    assert rows["ours, act_init=qdrop, released choices: two_adams"][2:] == ["-1.00 [-1.00, -1.00]", "no", "no |"]
    assert rows["ours, act_init=qdrop, released choices: with_replacement"][2:] == ["", "", " |"]  # no pair: other CPU
    assert xcheck.within(-0.5, 0.1) == "undecided (wider)"


def test_brecq_is_measured_against_qdrops_loop_at_drop_prob_1_when_it_ran(xcheck):
    """MRECG's BRECQ is QDrop's loop keeping every quantized activation: the reference for ours and
    for yhhhli/BRECQ's own two-stage pipeline alike."""
    cpu = {"cpu": "A", "threads": 1, "device": "cpu"}
    base = dict(method="brecq", bits="2/4", iters=500, machine=cpu, variant=[])
    loop = [dict(base, impl="released", code="wimh966/QDrop@x", act_init="qdrop", seed=s, top1=90.0 + s / 10)
            for s in range(3)]
    two_stage = [dict(r, code="yhhhli/BRECQ@z", act_init="brecq", top1=r["top1"] - 1.0) for r in loop]
    ours = [dict(r, impl="ours", code="mrecg@y", act_init="ours", top1=r["top1"] + 0.1) for r in loop]
    rows = {line.split(" | ")[2]: line.split(" | ")[5] for line in xcheck.table(loop + two_stage + ours).splitlines()[2:]}
    assert rows == {"ours, act_init=ours": "+0.10 [+0.10, +0.10]", "released (wimh966/QDrop), this torch's clamp": "",
                    "released (yhhhli/BRECQ), this torch's clamp": "-1.00 [-1.00, -1.00]"}


def test_the_released_run_with_its_authors_clamp_is_the_reference_when_it_ran(xcheck):
    """The released code as its authors' torch ran it is what ours is measured against; the same code
    on this torch's clamp is measured against it too."""
    cpu = {"cpu": "A", "threads": 1, "device": "cpu"}
    base = dict(method="qdrop", bits="2/2", iters=500, machine=cpu, act_init="qdrop", code="wimh966/QDrop@x")
    authors = [dict(base, impl="released", variant=["authors_clamp"], seed=s, top1=84.8 + s / 10) for s in range(3)]
    this_torch = [dict(r, variant=[], top1=r["top1"] + 0.5) for r in authors]
    ours = [dict(r, impl="ours", code="mrecg@y", variant=["stem_before_pool"], top1=r["top1"] + 0.1) for r in authors]
    rows = {line.split(" | ")[2]: line.split(" | ")[5] for line in xcheck.table(authors + this_torch + ours).splitlines()[2:]}
    assert rows == {"ours, act_init=qdrop, released choices: stem_before_pool": "+0.10 [+0.10, +0.10]",
                    "released (wimh966/QDrop), authors' clamp": "",
                    "released (wimh966/QDrop), this torch's clamp": "+0.50 [+0.50, +0.50]"}
    assert len(xcheck.named(authors + this_torch + ours)) == 9


def test_the_authors_clamp_passes_the_gradient_at_the_bounds_and_is_undone_after(xcheck):
    x = torch.tensor([-1.0, 0.0, 1.5, 3.0, 4.0], requires_grad=True)
    with xcheck.authors_clamp():
        torch.clamp(x, 0, 3).sum().backward()
        assert x.grad.tolist() == [0.0, 1.0, 1.0, 1.0, 0.0]
        x.grad = None
        x.clamp(min=0).sum().backward()
        assert x.grad.tolist() == [0.0, 1.0, 1.0, 1.0, 1.0]
        x.grad = None
        torch.clamp(x, torch.tensor(0.0), torch.tensor(3.0)).sum().backward()  # tensor bounds: torch's own
        tensor_bounds = x.grad.clone()
    x.grad = None
    torch.clamp(x, torch.tensor(0.0), torch.tensor(3.0)).sum().backward()
    assert torch.equal(x.grad, tensor_bounds)
    x.grad = None
    torch.clamp(x, 0, 3).sum().backward()
    assert x.grad.tolist() == [0.0, 0.0, 1.0, 0.0, 0.0]  # this torch: the minimum-norm subgradient 0 at the bounds


def test_our_step_gradients_are_lsq_with_the_authors_clamp(xcheck):
    """Our activation quantizer's gradients, element for element, are LSQ's written the released way
    (``round_ste`` then ``clamp``) under the clamp its authors ran: the straight-through gradient and
    the in-grid step gradient reach the activations that round to the first and last level -- as torch's own
    fused LSQ kernel computes them (MQBench's learnable quantizer calls it)."""
    from mrecg.quant.quantizer import ActQuantizer

    x = torch.tensor([[0.0, 0.2, 0.45, 0.7, 1.1, 1.6, 1.8, 2.0, 2.3, 3.1]])
    g = torch.tensor([[1.0, -2.0, 0.5, 3.0, -1.0, 2.0, 0.25, -0.5, 1.5, 4.0]])
    aq = ActQuantizer(2)
    with torch.no_grad():
        aq.scale.fill_(0.6)
    aq.initialized = True
    ours_x = x.clone().requires_grad_(True)
    (aq(ours_x) * g).sum().backward()

    def lsq(clamp_context):
        xs, s = x.clone().requires_grad_(True), torch.tensor(0.6, requires_grad=True)
        with clamp_context:
            t = x_int = xs / s
            x_int = (t.round() - t).detach() + t
            ((torch.clamp(x_int, 0, 3) * s) * g).sum().backward()
        return xs.grad, s.grad

    authors_x, authors_s = lsq(xcheck.authors_clamp())
    assert torch.equal(ours_x.grad, authors_x) and float(aq.scale.grad) == pytest.approx(float(authors_s), rel=1e-6)
    # by hand: t = x / 0.6 rounds to 0 0 1 1 2 3 3 3 4 5; the last two lie beyond the grid
    assert ours_x.grad[0].tolist() == [1.0, -2.0, 0.5, 3.0, -1.0, 2.0, 0.25, -0.5, 0.0, 0.0]
    fused_x, fused_s = x.clone().requires_grad_(True), torch.tensor([0.6], requires_grad=True)
    (torch._fake_quantize_learnable_per_tensor_affine(fused_x, fused_s, torch.tensor([0.0]), 0, 3, 1.0) * g).sum().backward()
    assert torch.equal(fused_x.grad, ours_x.grad) and float(fused_s.grad) == pytest.approx(float(aq.scale.grad), rel=1e-6)
    this_torch_x, this_torch_s = lsq(contextlib.nullcontext())
    assert this_torch_x[0].tolist() == [0.0, 0.0, 0.5, 3.0, -1.0, 0.0, 0.0, 0.0, 0.0, 0.0]  # the end levels stop it
    assert float(this_torch_s) != pytest.approx(float(authors_s), abs=1e-3)


def test_the_readme_names_one_configuration_per_method_and_its_reference(xcheck):
    cpu = {"cpu": "A", "threads": 1, "device": "cpu"}
    rows = [dict(impl="ours", method="qdrop", act_init="qdrop", variant=["stem_before_pool"], code="mrecg@y"),
            dict(impl="ours", method="qdrop", act_init="ours", variant=[], code="mrecg@y"),
            dict(impl="ours", method="brecq", act_init="ours", variant=[], code="mrecg@y"),
            dict(impl="released", method="brecq", act_init="qdrop", variant=[], code="wimh966/QDrop@x"),
            dict(impl="released", method="brecq", act_init="brecq", variant=[], code="yhhhli/BRECQ@z")]
    rows = [dict(r, machine=cpu, bits="2/4", iters=500, seed=0, top1=90.0) for r in rows]
    assert [(r["method"], r["act_init"]) for r in xcheck.named(rows)] == [("qdrop", "qdrop"), ("brecq", "ours"),
                                                                          ("brecq", "qdrop")]


def test_the_lockstep_needs_a_qdrop_checkout(capsys, tmp_path):
    lockstep = load_script("benchmarks/lockstep.py")
    assert lockstep.main(["--qdrop", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "does not look like a checkout of wimh966/QDrop" in err


def test_the_lockstep_draws_drop_masks_as_the_released_code_does():
    """``torch.where(torch.rand_like(x) < p, quantized, fp)`` on the global generator: the same
    numbers in the same order as the released QDrop, so both loops see the same masks."""
    lockstep = load_script("benchmarks/lockstep.py")
    q, fp = torch.ones(4, 5), torch.zeros(4, 5)
    torch.manual_seed(3)
    mixed = lockstep.released_draw(q, fp, 0.5)
    torch.manual_seed(3)
    assert torch.equal(mixed, (torch.rand(4, 5) < 0.5).float())
