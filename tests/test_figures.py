"""The sweeps, frames and verdicts behind the notebooks, on exact numbers."""

import math

import pandas as pd
import pytest

from mrecg import methods
from mrecg.config import PRESETS
from mrecg.figures import FIGURES, all_specs, budget, fig4, fig5, fig6, heldout, table1, table2
from mrecg.study import paper, stats
from mrecg.study.oscillation import oscillation
from mrecg.study.records import record_path
from mrecg.study.runner import estimated_cost, missing, run_specs
from mrecg.study.runs import RunSpec
from mrecg.study.sweeps import Study, StudyError

MINI = Study("mini")


def test_every_figure_module_has_a_notebook_and_a_sweep_per_preset():
    for name, module in FIGURES.items():
        assert name[:2].isdigit() and module.__doc__
        if hasattr(module, "specs"):
            assert set(module.SWEEP) == set(PRESETS), name
    with pytest.raises(StudyError, match="unknown preset 'huge'"):
        Study("huge")


def test_table2_rows_switch_one_component_at_a_time_and_reuse_table1_runs():
    specs = table2.specs(Study("mini", seeds=(0,)))
    sizes = [(s.method, s.calib_size, s.batch_size, s.resolved().scheme, s.w_bits, s.a_bits) for s in specs]
    single_blocks = tuple((i,) for i in range(17))  # MobileNetV2's 17 blocks, none merged
    assert sizes == [  # the released scheme; the paper's expansion (x4 images, x8 batch); W3A3 at mini
        ("brecq", 1024, 32, None, 3, 3),
        ("mrecg+brecq", 1024, 32, "official", 3, 3),
        ("mrecg+brecq", 4096, 256, single_blocks, 3, 3),
        ("mrecg+brecq", 4096, 256, "official", 3, 3),
    ]
    # every component row has the released joint stem and head units, as the released code gives any run
    assert [methods.get(s.method).joint_edges for s in specs] == [False, True, True, True]
    table1_keys = {s.key() for s in table1.specs(MINI)}
    assert specs[0].key() in table1_keys and specs[3].key() in table1_keys  # BRECQ and "+ both" are Table 1's


def _machine(device: str = "cpu") -> dict:
    return {"cpu": "Xeon", "threads": 1, "device": device, "torch": "2.14.1+cu130"}


def _record(method, batch, seed, top1, merged=True, device="cpu"):
    """A Table 2 record: BRECQ, or the MRECG method with the released merges (``merged``) or none."""
    blocks = [[0, 1], [2]] if method != "brecq" and merged else [[0], [1], [2]]
    return {"config": {"preset": "mini", "method": method, "batch_size": batch, "seed": seed, "scheme": None,
                       "w_bits": 3, "a_bits": 3},
            "scheme": blocks, "top1": top1, "fp_top1": 90.0, "machine": _machine(device)}


def _table1_record(method, seed, top1, device="cpu", scheme=None, model="mobilenetv2_x0.5", bits=(2, 4)):
    return {"key": f"{method}-{scheme}-{seed}-{device}", "spec": {"model": model}, "top1": top1, "fp_top1": 90.0,
            "config": {"method": method, "w_bits": bits[0], "a_bits": bits[1], "seed": seed, "scheme": scheme},
            "machine": _machine(device)}


def test_table1_cells_in_their_room_beside_the_paper_with_mixed_pairs_flagged():
    # x0.5 W2A4: BRECQ 80, 82, 81 (rooms 10, 8, 9); MRECG +1.9, +2.1, +2.0; ours (ModCap) +0, +0, +0
    records = [_table1_record("brecq", s, t) for s, t in enumerate((80.0, 82.0, 81.0))]
    records += [_table1_record("mrecg+brecq", s, t, scheme="official") for s, t in enumerate((81.9, 84.1, 83.0))]
    records += [_table1_record("mrecg+brecq", s, t, scheme="modcap:loss") for s, t in enumerate((80.0, 82.0, 81.0))]
    # x0.35 W2A4, the x0.5 scheme applied: one seed's MRECG ran on the GPU, its BRECQ on the CPU
    records += [_table1_record("brecq", s, 80.0, model="mobilenetv2_x0.35") for s in (0, 1)]
    records += [_table1_record("mrecg+brecq", s, 81.0, device=d, scheme="official", model="mobilenetv2_x0.35")
                for s, d in ((0, "NVIDIA H200"), (1, "cpu"))]
    table = table1.frame(records).set_index("method")
    released, ours = table.loc["mrecg+brecq"], table.loc["mrecg+brecq (ours: data-dependent ModCap)"]
    assert (released.ours, released.gain_ours, ours.gain_ours, released.room) == pytest.approx((83.0, 2.0, 0.0, 9.0))
    half = 0.1 * 4.303 / 3 ** 0.5  # sd 0.1 over 3 seeds
    assert (released.gain_lo, released.gain_hi) == pytest.approx((2.0 - half, 2.0 + half))
    assert released.fraction == pytest.approx((1.9 / 10 + 2.1 / 8 + 2 / 9) / 3)
    cell = table1.paper_cells().set_index(["model", "bits", "method"]).loc["mobilenetv2_x0.5", "W2A4", "mrecg+brecq"]
    assert (released.gain_paper, released.paper_room) == pytest.approx((41.16 - 34.55, 64.60 - 34.55))
    assert released.scaled_gain == pytest.approx(cell.fraction * 9.0)  # 22 % of our 9 pt: +1.98
    assert (released.vs_zero, released.vs_paper, released.pairs) == ("above zero", "consistent", "same machine")
    assert ours.vs_paper == "smaller"  # differences 0, 0, 0: no spread, the prediction +1.98 lies above
    assert released.family and not ours.family and math.isnan(ours.p_holm)
    mixed = table.loc["mrecg+brecq (x0.5 scheme applied)"]
    assert mixed.vs_zero == mixed.vs_paper == "excluded: mixed machines (1 of 2 seeds)" and not mixed.family
    assert mixed.machines == "CPU, torch 2.14.1 + NVIDIA H200"
    assert table1.mixed_records(records) == [("mobilenetv2_x0.35", "W2A4", "mrecg+brecq (x0.5 scheme applied)",
                                              "brecq", 0, "mrecg+brecq-official-0-NVIDIA H200", "brecq-None-0-cpu")]
    # the family: one same-machine released cell; the Holm family has one member, so p is unchanged
    pooled = table1.family(table.reset_index())
    assert (pooled["ours"].cells, pooled["ours"].cells_positive, pooled["ours"].seeds_positive) == (1, 1, 3)
    assert pooled["ours"].fraction.mean == pytest.approx(released.fraction)
    assert table1.family(table.reset_index(), cells={("resnet18", "W4A4")})["ours"].cells == 0
    assert released.p_holm == pytest.approx(stats.paired([81.9, 84.1, 83.0], [80.0, 82.0, 81.0]).p_above_zero())


def test_table1_in_the_paper_layout_has_every_cell_ours_beside_the_paper_and_marks_held_out_cells():
    # x0.5 W2A4: BRECQ and released MRECG, and an MRECG row of our ModCap that the paper's layout leaves out
    records = [_table1_record("brecq", s, t) for s, t in enumerate((80.0, 82.0, 81.0))]
    records += [_table1_record("mrecg+brecq", s, t, scheme="official") for s, t in enumerate((81.9, 84.1, 83.0))]
    records += [_table1_record("mrecg+brecq", s, 70.0, scheme="modcap:loss") for s in range(3)]
    records += [_table1_record("brecq", s, 91.0, model="resnet50", bits=(4, 4)) for s in range(3)]
    grid = table1.layout(table1.frame(records), held_out=[("resnet50", "W4A4")])
    assert list(grid.columns) == ["model", "method", "full precision", "W4A4", "W2A4", "W3A3", "W2A2"]
    assert len(grid) == 6 * 6  # six models, each full precision and the paper's five methods
    cell = grid.set_index(["model", "method"])
    ref = paper.table1().set_index(["model", "method", "w_bits", "a_bits"]).top1
    assert cell.loc[("mobilenetv2_x0.5", "brecq"), "W2A4"] == f"81.00 ({ref['mobilenetv2_x0.5', 'brecq', 2, 4]:.2f})"
    assert cell.loc[("mobilenetv2_x0.5", "mrecg+brecq"), "W2A4"] == "83.00 (41.16)"  # not our ModCap's 70
    assert cell.loc[("mobilenetv2_x0.5", "full precision"), "full precision"] == "90.00 (64.60)"
    assert cell.loc[("resnet50", "brecq"), "W4A4"] == "91.00 (74.88) †"  # held out: marked
    assert cell.loc[("resnet50", "qdrop"), "W4A4"] == "-- (75.03) †"  # not run yet
    assert cell.loc[("resnet18", "adaround"), "W2A2"] == "-- (--)"  # the paper has no AdaRound at W2A2
    assert cell.loc[("resnet18", "full precision"), "full precision"] == "-- (71.01)"


def test_the_paper_table1_pairs_and_their_pooled_fraction():
    cells = table1.paper_cells()
    assert len(cells) == 48  # 6 models x 4 bit-widths x 2 baselines
    r18 = cells.set_index(["model", "bits", "method"]).loc["resnet18", "W4A4", "mrecg+brecq"]
    assert (r18.room, r18.gain) == pytest.approx((71.01 - 68.69, 69.06 - 68.69))
    pooled = stats.pooled(cells.fraction.tolist(), cells.gain.tolist())
    assert pooled.cells_positive == 47  # ResNet-50 W4A4 over BRECQ*: 74.84 vs 74.88
    assert pooled.fraction.mean == pytest.approx(cells.fraction.mean())


def test_table2_gains_are_paired_per_seed_with_a_t_interval():
    records = [_record("brecq", 32, 0, 80.0), _record("brecq", 32, 1, 82.0),
               _record("mrecg+brecq", 32, 0, 81.0), _record("mrecg+brecq", 32, 1, 85.0),
               _record("mrecg+brecq", 64, 0, 80.5, merged=False), _record("mrecg+brecq", 64, 1, 81.5, merged=False),
               _record("mrecg+brecq", 64, 0, 83.0), _record("mrecg+brecq", 64, 1, 84.0)]
    table = table2.frame(records).set_index("row")
    mixed = table.loc["+ mixed granularity"]
    assert mixed.gain_ours == pytest.approx(2.0)  # differences 1 and 3
    half = 12.706 * math.sqrt(2) / math.sqrt(2)  # t(0.975, 1) * sd / sqrt(n), sd of (1, 3) = sqrt(2)
    assert (mixed.gain_lo, mixed.gain_hi) == pytest.approx((2.0 - half, 2.0 + half))
    assert mixed.room == pytest.approx(9.0) and mixed.fraction == pytest.approx((1 / 10 + 3 / 8) / 2)
    # the paper: +1.08 of BRECQ*'s 11.58 pt at W4A4, scaled to our 9 pt
    assert mixed.paper_fraction == pytest.approx(1.08 / (64.60 - 53.02))
    assert mixed.scaled_gain == pytest.approx(9.0 * 1.08 / (64.60 - 53.02))
    assert mixed.vs_paper == "too little room to test"  # two seeds: half-width 12.7 pt
    assert (mixed.cell, mixed.paper_cell) == ("W3A3", "W4A4")
    assert table.loc["+ both (MRECG)", "vs_zero"] == "Table 1's W3A3 cell"  # not decided twice
    assert table.loc["+ expanded batch", "gain_ours"] == pytest.approx(0.0)
    assert table.loc["+ both (MRECG)", "ours"] == pytest.approx(83.5)
    assert table.loc["+ mixed granularity", "gain_paper"] == 1.08 and table.loc["BRECQ", "seeds"] == 2


def test_table2_rows_whose_pairs_span_machines_get_no_verdict():
    records = [_record("brecq", 32, s, 80.0 + s) for s in (0, 1)]
    records += [_record("mrecg+brecq", 32, s, 81.0 + s, device="NVIDIA H200") for s in (0, 1)]
    records += [_record("mrecg+brecq", 64, s, 80.5, merged=False) for s in (0, 1)]
    records += [_record("mrecg+brecq", 64, s, 83.0) for s in (0, 1)]
    table = table2.frame(records).set_index("row")
    assert table.loc["+ mixed granularity", "vs_zero"] == "excluded: mixed machines (2 of 2 seeds)"
    assert table.loc["+ expanded batch", "vs_zero"] == "contains zero"
    assert [m[:2] for m in table2.mixed_records(records)] == [("+ mixed granularity vs BRECQ", 0),
                                                              ("+ mixed granularity vs BRECQ", 1)]


def test_paired_interval_on_exact_numbers():
    d = stats.paired([1.0, 2.0, 3.0], [0.0, 0.0, 0.0])
    assert (d.mean, d.n) == (2.0, 3)
    assert (d.lo, d.hi) == pytest.approx((2.0 - 4.303 / math.sqrt(3), 2.0 + 4.303 / math.sqrt(3)))
    assert "1 seed, no interval" in str(stats.paired([5.0], [0.0]))
    with pytest.raises(ValueError, match="equally many seeds"):
        stats.paired([1.0], [1.0, 2.0])


def test_paper_table2_gains_are_read_from_the_reference(reference_file):
    notes = reference_file("paper_notes.md").read_text()
    gains = paper.table2_gains()
    assert f"+{gains['+ mixed granularity']:.2f} %" in notes and f"+{gains['+ expanded batch']:.2f} %" in notes
    assert gains["+ both (MRECG)"] == pytest.approx(2.24)


def test_pareto_front_keeps_exactly_the_undominated_points():
    df = pd.DataFrame({"largest_unit": [1, 2, 2, 3, 4, 5], "top1": [80, 79, 83, 82, 85, 85]})
    assert fig4.pareto_front(df).index.tolist() == [0, 2, 4]


def _fig4_frame(mrecg=(82.0, 81.0, 83.0), machines=("gpu",) * 6) -> pd.DataFrame:
    return pd.DataFrame({"model": ["m"] * 6, "kind": ["BRECQ", "MRECG", "MRECG", "MRECG", "random", "random"],
                         "seed": [0, 0, 1, 2, 0, 0], "top1": [80.0, *mrecg, 81.0, 79.0],
                         "largest_unit": [1, 3, 3, 3, 2, 2], "machine": list(machines)})


def test_fig4_verdict_ranks_mrecg_among_random_schemes():
    v = fig4.verdict(_fig4_frame()).iloc[0]
    # MRECG's mean 82 ranks first of 3; its seed-0 run (82 at cost 3) beats every cheaper point: on the front
    assert (v["rank"], v["of"], v.random_median, v.MRECG, bool(v.on_front)) == (1, 3, 80.0, 82.0, True)


def test_fig4_claim_carries_mrecg_seed_spread_and_refuses_mixed_machines():
    d, word = fig4.claims(_fig4_frame())["m"]
    # MRECG 82, 81, 83 (var 1, /3); random 81, 79 (var 2, /2): se = sqrt(1/3 + 1),
    # Welch df = (4/3)^2 / ((1/3)^2 / 2 + 1^2 / 1) = 1.68, rounded down to 1: t = 12.706
    se = math.sqrt(1 / 3 + 1)
    assert d.mean == pytest.approx(2.0) and (d.lo, d.hi) == pytest.approx((2.0 - 12.706 * se, 2.0 + 12.706 * se))
    assert word == "against zero: contains zero"
    _, word = fig4.claims(_fig4_frame(machines=("cpu",) * 4 + ("gpu",) * 2))["m"]
    assert word == "excluded: mixed machines (cpu vs gpu)"


def test_fig4_sweep_holds_brecq_mrecg_at_brecq_batch_and_seeded_random_schemes():
    specs = fig4.specs(MINI)
    assert [(s.method, s.seed) for s in specs[:6]] == [(m, s) for s in (0, 1, 2) for m in ("brecq", "mrecg+brecq")]
    assert specs[1].batch_size == PRESETS["mini"]["batch_size"]
    assert [s.resolved().scheme for s in specs[6:]] == [f"random:{i}" for i in range(fig4.SWEEP["mini"]["schemes"])]
    # random schemes run as the released code runs any scheme: its joint edge units, BRECQ's batch
    assert {(s.method, s.batch_size) for s in specs[6:]} == {("mrecg+brecq", PRESETS["mini"]["batch_size"])}
    # MRECG's seeds are Table 2's "+ mixed granularity" runs: no new run
    assert {s.key() for s in specs[:6]} <= {s.key() for s in table2.specs(MINI)}


def test_fig5_claims_are_paired_per_seed_on_one_machine():
    cpu, gpu = "Xeon/1/cpu", "Xeon/1/gpu"
    rows = pd.DataFrame({"batch_size": [16, 16, 32, 32, 64, 64, 64, 64], "images": [1024] * 6 + [4096] * 2,
                         "seed": [0, 1, 0, 1, 0, 1, 0, 1], "top1": [80.0, 81.0, 82.0, 82.5, 82.5, 83.0, 84.0, 83.5],
                         "machine": [cpu, gpu, gpu, gpu, gpu, gpu, gpu, gpu]})
    claims = fig5.claims(rows)
    d, mixed = claims["batch 64 - batch 16 (1024 images)"]
    assert d.mean == pytest.approx(2.25) and mixed == 1  # seed 0's batch 16 ran on the CPU
    d, mixed = claims["batch 64 - batch 32 (1024 images, all on gpu)"]
    assert d.mean == pytest.approx(0.5) and mixed == 0
    d, mixed = claims["4096 - 1024 images (batch 64)"]
    assert d.mean == pytest.approx(1.0) and mixed == 0
    assert fig5.verdict_lines(rows)[0].endswith("excluded: mixed machines (1 of 2 seeds)")


def test_budget_sweep_reuses_table1_runs_at_the_preset_iterations():
    specs = budget.specs(MINI)
    table1_w2 = {s.key() for s in table1.specs(MINI) if (s.w_bits, s.a_bits) == (2, 4)
                 and s.method in ("brecq", "mrecg+brecq") and s.resolved().scheme in (None, "official")}
    assert table1_w2 <= {s.key() for s in specs}
    assert sorted({s.iters for s in specs}) == list(budget.SWEEP["mini"]["iters"])


def test_budget_gains_and_convergence_on_exact_numbers():
    rows = []
    for iters, brecq, mrecg in ((250, (60, 62), (70, 74)), (500, (70, 70), (72, 73)), (1000, (70.5, 71.5), (71, 72))):
        for seed in (0, 1):
            rows.append({"model": "m", "method": "brecq", "iters": iters, "seed": seed, "top1": brecq[seed]})
            rows.append({"model": "m", "method": "mrecg+brecq", "iters": iters, "seed": seed, "top1": mrecg[seed]})
    frame = pd.DataFrame(rows).assign(machine="Xeon/1/cpu")
    gains = budget.gains(frame).set_index("iters")
    assert gains.loc[250, "gain"] == pytest.approx(11.0) and gains.loc[1000, "gain"] == pytest.approx(0.5)
    assert gains.loc[1000, "gain_lo"] == pytest.approx(0.5)  # both seeds +0.5: no spread
    assert gains.loc[1000, "mixed"] == 0
    # smoke's budget is 40 per unit: give the frame 40 and 80 iterations, BRECQ +0.1 and +0.2 from doubling
    doubled = pd.DataFrame([{"model": "m", "method": "brecq", "iters": it, "seed": s, "top1": top1, "machine": "c"}
                            for it, tops in ((40, (70.0, 71.0)), (80, (70.1, 71.2))) for s, top1 in enumerate(tops)])
    d, mixed, word = budget.convergence(doubled, "smoke")["m"]
    half = 12.706 * math.sqrt(0.005)  # differences 0.1, 0.2: sd sqrt(0.005), n = 2
    assert d.mean == pytest.approx(0.15) and d.hi == pytest.approx(0.15 + half / math.sqrt(2))
    assert word == "not shown converged"  # two seeds: the interval reaches +0.6, above the 0.3 pt tolerance
    doubled.loc[(doubled.iters == 80) & (doubled.seed == 1), "machine"] = "g"
    assert budget.convergence(doubled, "smoke")["m"][2] == "excluded: mixed machines (1 of 2 seeds)"
    as_records = [{"key": f"{r.iters}-{r.seed}", "spec": {"model": r.model}, "top1": r.top1,
                   "config": {"method": r.method, "iters": r.iters, "seed": r.seed},
                   "machine": {"cpu": "x", "threads": 1, "device": r.machine}} for r in doubled.itertuples()]
    assert budget.mixed_records(as_records, "smoke") == [("m: brecq @ 80 vs @ 40", 1, "80-1", "40-1")]


def test_fig6_oscillation_and_paired_claims_on_exact_curves():
    assert oscillation([1.0, 3.0, 2.0, 4.0, 1.0]) == {"total_variation": 2 + 1 + 2 + 3, "local_maxima": 2}
    rows = []
    for seed, (ada, brecq) in enumerate(((3.0, 1.0), (2.0, 1.0))):
        for label, amp in (("AdaRound", ada), ("BRECQ", brecq)):
            for block, value in enumerate((1.0, 1.0 + amp, 1.0)):
                rows.append({"model": "m", "label": label, "seed": seed, "block": block, "normalised": value})
    claims = fig6.claims(pd.DataFrame(rows).assign(machine="c"))
    ada = claims.set_index("claim").loc["AdaRound oscillates more than BRECQ"]
    assert ada.difference == pytest.approx(((6 - 2) + (4 - 2)) / 2) and ada.seeds == 2
    assert ada.verdict == "contains zero"  # two seeds, differences 4 and 2: t(1) widens the interval past zero


def test_fig6_verdict_lines_decide_per_block_and_per_unit_on_exact_records():
    """A merged run: per block it zigzags more than BRECQ, per unit (one point for the merged pair) it is flat."""
    def record(method: str, scheme, seed: int, errors, units) -> dict:
        return {"spec": {"model": "m"}, "config": {"method": method, "scheme": scheme, "seed": seed},
                "machine": {"cpu": "x", "threads": 1, "device": "cpu"},
                "errors": [{"block": b, "error": e, "fp_energy": 2.0} for b, e in enumerate(errors)],
                "units": [{"name": f"u{i}", "blocks": blocks, "loss": loss} for i, (blocks, loss) in enumerate(units)]}

    records = []
    for seed, bump in enumerate((0.0, 1.0, 2.0)):
        records.append(record("brecq", None, seed, [1, 3 + bump, 1], [([0], 1.0), ([1], 3.0 + bump), ([2], 1.0)]))
        records.append(record("mrecg+brecq", "official", seed, [1, 5 + bump, 1], [([0, 1], 1.0), ([2], 1.0)]))
    block, unit, ref = fig6.verdict_lines(records)
    # per block, normalised: BRECQ's TV (2 + bump), MRECG's (4 + bump), so BRECQ - MRECG = -2 on every seed
    assert "per block at 3 shared points: MRECG (released) oscillates less than BRECQ" in block
    assert "-2.000 [-2.000, -2.000] (95 %, 3 seeds): below zero" in block
    # per unit, at MRECG's unit ends (blocks 1 and 2): BRECQ 3 + bump -> 1, TV 2 + bump = 2, 3, 4; MRECG's 0
    half = 4.303 * 1 / 3 ** 0.5
    assert "per unit at 2 shared points" in unit
    assert f"+3.000 [{3 - half:+.3f}, {3 + half:+.3f}] (95 %, 3 seeds): above zero" in unit
    assert ref.startswith("paper's Fig. 6")


def test_fig6_on_the_paper_values_compares_at_mrecg_unit_ends():
    assert fig6.paper_unit_ends([1.0, 2.0, 2.0, 3.0, 3.0, 3.0]) == [0, 2, 5]
    ref = fig6.paper_matched()
    # BRECQ over 17 blocks 51.5; MRECG over its 10 units 10.6; BRECQ at those ends 11.3 (paper_notes.md)
    assert (ref["brecq"], ref["mrecg"], ref[fig6.MATCHED], ref["points"]) == pytest.approx((51.5, 10.6, 11.3, 10))


def test_mini_preset_scales_both_learning_rates_with_its_short_budget():
    from mrecg.config import PTQConfig
    mini, paper_cfg = PTQConfig.preset_config("mini"), PTQConfig.preset_config("paper")
    assert (mini.iters, mini.w_lr, mini.a_lr) == (1000, 1e-2, 4e-4)  # 20x fewer iterations: both lrs x10
    assert (paper_cfg.iters, paper_cfg.w_lr, paper_cfg.a_lr) == (20_000, 1e-3, 4e-5)


def test_every_committed_mini_record_is_wanted_and_every_wanted_run_is_committed():
    from mrecg.study import paths

    wanted = {needed.key() for specs in all_specs(MINI).values() for s in specs
              for needed in (s, s.modcap_pass()) if needed is not None}  # the runs and the ModCap passes they need
    from mrecg.study.records import NOT_RECORDS

    stored = {p.stem for p in (paths.results_dir() / "mini").glob("*.json") if p.name not in NOT_RECORDS}
    held_out = {s.key() for stage in heldout.STAGES for s in heldout.specs(MINI, stage)}  # computing across sessions
    assert wanted <= stored and stored - held_out == wanted


def test_the_scheduler_runs_longest_first_and_each_modcap_pass_once(tmp_path):
    a = RunSpec("resnet18", "smoke", method="mrecg+brecq", scheme="modcap:loss", iters=5, modcap_iters=5,
                calib_size=128, batch_size=16)
    b = a.with_(iters=6)  # another run needing the very same ModCap pass
    assert a.modcap_pass() == RunSpec("resnet18", "smoke", method="brecq", iters=5)  # the pass is an ordinary run
    c = RunSpec("resnet18", "smoke", method="brecq", iters=7)
    todo = missing([a, b, c, a], tmp_path)
    assert todo[0] == a.modcap_pass() == b.modcap_pass() and len(todo) == 4  # the pass once, first; a once
    assert estimated_cost(b) > estimated_cost(a)
    records = run_specs([a, b, c], tmp_path, workers=2)
    assert len(list((tmp_path / "smoke").glob("*.json"))) == 4 and records[0]["scheme_source"] == "modcap:loss"
    assert missing([a, b, c], tmp_path) == []


def test_parallel_workers_store_the_same_records_as_one_process(tmp_path):
    specs = [RunSpec("resnet18", "smoke", iters=5, seed=seed) for seed in (0, 1)]
    parallel = run_specs(specs + specs[:1], tmp_path / "a", workers=2)  # a duplicate runs once
    serial = run_specs(specs, tmp_path / "b", workers=1)
    # workers use one thread each, the serial run the default count: equal up to float summation order
    assert [r["top1"] for r in parallel[:2]] == pytest.approx([r["top1"] for r in serial], abs=0.05)
    assert parallel[2] == parallel[0] and all(record_path(s, tmp_path / "a").is_file() for s in specs)
    assert [r["units"][1]["loss"] for r in parallel[:2]] == pytest.approx([r["units"][1]["loss"] for r in serial], rel=1e-4)


def test_fig4_plot_is_the_same_file_for_the_same_numbers(tmp_path):
    frame = pd.DataFrame({"model": ["m"] * 6, "kind": ["BRECQ", "MRECG"] + ["random"] * 4,
                          "top1": [80.0, 82.0, 81.0, 83.0, 79.0, 81.5], "largest_unit": [1, 3, 3, 2, 2, 4]})
    a = fig4.plot(frame, tmp_path / "a")[0].read_bytes()
    b = fig4.plot(frame, tmp_path / "b")[0].read_bytes()
    assert a == b  # the strip plot's jitter is seeded and the files carry no date
