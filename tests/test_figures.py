"""The sweeps, frames and verdicts behind the notebooks, on exact numbers."""

import json
import math

import pandas as pd
import pytest

from mrecg.config import PRESETS
from mrecg.figures import FIGURES, all_specs, budget, fig4, fig5, fig6, table1, table2
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
    assert sizes == [  # the released scheme; the paper's expansion (x4 images, x8 batch); W3A3 at mini
        ("brecq", 1024, 32, None, 3, 3),
        ("mrecg+brecq", 1024, 32, "official", 3, 3),
        ("brecq", 4096, 256, None, 3, 3),
        ("mrecg+brecq", 4096, 256, "official", 3, 3),
    ]
    table1_keys = {s.key() for s in table1.specs(MINI)}
    assert specs[0].key() in table1_keys and specs[3].key() in table1_keys  # BRECQ and "+ both" are Table 1's


def _record(method, batch, seed, top1, scheme=None):
    return {"config": {"preset": "mini", "method": method, "batch_size": batch, "seed": seed, "scheme": scheme},
            "top1": top1}


def _table1_record(method, seed, top1, device="cpu", scheme=None):
    return {"spec": {"model": "mobilenetv2_x0.5"}, "top1": top1, "fp_top1": 90.0,
            "config": {"method": method, "w_bits": 2, "a_bits": 4, "seed": seed, "scheme": scheme},
            "machine": {"device": device, "torch": "2.14.1+cu130"}}


def test_table1_gains_are_paired_per_seed_and_name_the_machines_of_each_row():
    records = [_table1_record("brecq", 0, 80.0), _table1_record("brecq", 1, 82.0),
               _table1_record("mrecg+brecq", 0, 81.0, "NVIDIA H200"), _table1_record("mrecg+brecq", 1, 85.0),
               _table1_record("mrecg+brecq", 0, 79.0, scheme="modcap:loss"),
               _table1_record("mrecg+brecq", 1, 83.0, scheme="modcap:loss")]
    table = table1.frame(records, floor=0.2).set_index("method")
    released, ours = table.loc["mrecg+brecq"], table.loc["mrecg+brecq (ours: data-dependent ModCap)"]
    assert (released.ours, released.gain_ours, ours.gain_ours) == pytest.approx((83.0, 2.0, 0.0))
    assert (released.gain_lo, released.gain_hi) == pytest.approx((2.0 - 12.706, 2.0 + 12.706))  # differences 1, 3
    assert released.verdict == "undecided" and released.seeds == 2
    ref = paper.table1().set_index(["model", "w_bits", "a_bits", "method"]).top1
    assert released.gain_paper == pytest.approx(ref["mobilenetv2_x0.5", 2, 4, "mrecg+brecq"] - ref["mobilenetv2_x0.5", 2, 4, "brecq"])
    assert released.machines == "CPU, torch 2.14.1 + NVIDIA H200" and table.loc["brecq", "machines"] == "CPU, torch 2.14.1"


def test_table2_gains_are_paired_per_seed_with_a_t_interval():
    records = [_record("brecq", 32, 0, 80.0), _record("brecq", 32, 1, 82.0),
               _record("mrecg+brecq", 32, 0, 81.0), _record("mrecg+brecq", 32, 1, 85.0),
               _record("brecq", 64, 0, 80.5), _record("brecq", 64, 1, 81.5),
               _record("mrecg+brecq", 64, 0, 83.0), _record("mrecg+brecq", 64, 1, 84.0)]
    table = table2.frame(records, floor=0.2).set_index("row")
    mixed = table.loc["+ mixed granularity"]
    assert mixed.gain_ours == pytest.approx(2.0)  # differences 1 and 3
    half = 12.706 * math.sqrt(2) / math.sqrt(2)  # t(0.975, 1) * sd / sqrt(n), sd of (1, 3) = sqrt(2)
    assert (mixed.gain_lo, mixed.gain_hi) == pytest.approx((2.0 - half, 2.0 + half))
    # "+ both": differences 3 and 2, +2.5 [-3.85, +8.85]: two seeds' t interval is wide, a gain of +2.5 undecided
    assert mixed.verdict == table.loc["+ both (MRECG)", "verdict"] == "undecided"
    assert table.loc["+ expanded batch", "gain_ours"] == pytest.approx(0.0)
    assert table.loc["+ both (MRECG)", "ours"] == pytest.approx(83.5)
    assert table.loc["+ mixed granularity", "gain_paper"] == 1.08 and table.loc["BRECQ", "seeds"] == 2


def test_paired_interval_and_verdicts_on_exact_numbers():
    d = stats.paired([1.0, 2.0, 3.0], [0.0, 0.0, 0.0])
    assert (d.mean, d.n) == (2.0, 3)
    assert (d.lo, d.hi) == pytest.approx((2.0 - 4.303 / math.sqrt(3), 2.0 + 4.303 / math.sqrt(3)))
    assert stats.verdict(d, floor=0.2) == "undecided"  # lo = -0.48
    assert stats.verdict(stats.paired([1.0, 1.1, 0.9], [0.0] * 3), floor=0.2) == "supported"
    assert stats.verdict(stats.paired([0.05, 0.06, 0.04], [0.0] * 3), floor=0.2) == "contradicted"
    assert stats.verdict(stats.paired([0.3, 0.31, 0.29], [0.0] * 3), floor=0.4) == "contradicted"
    assert stats.verdict(stats.paired([5.0], [0.0]), floor=0.0) == "undecided"  # one seed never decides
    assert "1 seed, no interval" in stats.explain(stats.paired([5.0], [0.0]), 0.2)
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


def test_fig4_verdict_ranks_mrecg_among_random_schemes():
    frame = pd.DataFrame({"model": ["m"] * 5, "kind": ["BRECQ", "MRECG", "random", "random", "random"],
                          "top1": [80.0, 82.0, 81.0, 83.0, 79.0], "largest_unit": [1, 3, 3, 2, 2]})
    v = fig4.verdict(frame).iloc[0]
    assert (v["rank"], v["of"], v.random_median, bool(v.on_front)) == (2, 4, 81.0, False)


def test_fig4_claim_is_mrecg_minus_each_random_scheme_with_the_interval_of_their_spread():
    frame = pd.DataFrame({"model": ["m"] * 5, "kind": ["BRECQ", "MRECG", "random", "random", "random"],
                          "top1": [80.0, 82.0, 81.0, 83.0, 79.0], "largest_unit": [1, 3, 3, 2, 2]})
    d = fig4.claims(frame)["m"]
    assert (d.mean, d.n) == (1.0, 3)  # differences 1, -1, 3
    assert (d.lo, d.hi) == pytest.approx((1.0 - 4.303 * 2.0 / math.sqrt(3), 1.0 + 4.303 * 2.0 / math.sqrt(3)))
    assert str(d).endswith("(95 %, 3 random schemes)") and stats.verdict(d, 0.3) == "undecided"


def test_fig4_sweep_holds_brecq_mrecg_at_brecq_batch_and_seeded_random_schemes():
    specs = fig4.specs(MINI)
    assert [s.method for s in specs[:2]] == ["brecq", "mrecg+brecq"]
    assert specs[1].batch_size == PRESETS["mini"]["batch_size"]
    assert [s.resolved().scheme for s in specs[2:]] == [f"random:{i}" for i in range(fig4.SWEEP["mini"]["schemes"])]


def test_fig5_claims_are_paired_per_seed():
    rows = pd.DataFrame({"batch_size": [16, 16, 32, 32, 64, 64], "seed": [0, 1, 0, 1, 0, 1],
                         "top1": [80.0, 81.0, 82.0, 82.5, 82.5, 83.0]})
    claims = fig5.claims(rows)
    assert claims["batch 64 - batch 16"].mean == pytest.approx(2.25)
    # first doubling +2 / +1.5, last +0.5 / +0.5: differences 1.5 and 1.0
    assert claims["first doubling's gain - last doubling's gain"].mean == pytest.approx(1.25)


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
    gains = budget.gains(pd.DataFrame(rows)).set_index("iters")
    assert gains.loc[250, "gain"] == pytest.approx(11.0) and gains.loc[1000, "gain"] == pytest.approx(0.5)
    assert gains.loc[1000, "gain_lo"] == pytest.approx(0.5)  # both seeds +0.5: no spread
    assert gains.loc[250, "brecq_below_best"] == pytest.approx(10.0)
    assert budget.converged_iters(gains.reset_index(), tolerance=1.0) == {"m": 500}
    assert budget.converged_iters(gains.reset_index(), tolerance=0.5) == {"m": 1000}


def test_fig6_oscillation_and_paired_claims_on_exact_curves():
    assert oscillation([1.0, 3.0, 2.0, 4.0, 1.0]) == {"total_variation": 2 + 1 + 2 + 3, "local_maxima": 2}
    rows = []
    for seed, (ada, brecq) in enumerate(((3.0, 1.0), (2.0, 1.0))):
        for label, amp in (("AdaRound", ada), ("BRECQ", brecq)):
            for block, value in enumerate((1.0, 1.0 + amp, 1.0)):
                rows.append({"model": "m", "label": label, "seed": seed, "block": block, "normalised": value})
    claims = fig6.claims(pd.DataFrame(rows))
    ada = claims.set_index("claim").loc["AdaRound oscillates more than BRECQ"]
    assert ada.difference == pytest.approx(((6 - 2) + (4 - 2)) / 2) and ada.seeds == 2
    assert ada.verdict == "undecided"  # two seeds, differences 4 and 2: t(1) widens the interval past zero


def test_fig6_verdict_lines_decide_per_block_and_per_unit_on_exact_records():
    """A merged run: per block it zigzags more than BRECQ, per unit (one point for the merged pair) it is flat."""
    def record(method: str, scheme, seed: int, errors, units) -> dict:
        return {"spec": {"model": "m"}, "config": {"method": method, "scheme": scheme, "seed": seed},
                "errors": [{"block": b, "error": e, "fp_energy": 2.0} for b, e in enumerate(errors)],
                "units": [{"name": f"u{i}", "blocks": blocks, "loss": loss} for i, (blocks, loss) in enumerate(units)]}

    records = []
    for seed, bump in enumerate((0.0, 1.0, 2.0)):
        records.append(record("brecq", None, seed, [1, 3 + bump, 1], [([0], 1.0), ([1], 3.0 + bump), ([2], 1.0)]))
        records.append(record("mrecg+brecq", "official", seed, [1, 5 + bump, 1], [([0, 1], 1.0), ([2], 1.0)]))
    block, unit = fig6.verdict_lines(records)
    # per block, normalised: BRECQ's TV (2 + bump), MRECG's (4 + bump), so BRECQ - MRECG = -2 on every seed
    assert "per block: MRECG (released) oscillates less than BRECQ" in block
    assert "-2.000 [-2.000, -2.000] (95 %, 3 seeds), floor 0.000: contradicted" in block
    # per unit, raw loss: BRECQ's TV 2 * (2 + bump) = 4, 6, 8; MRECG's 0; mean 6, sd 2, t(2) = 4.303
    half = 4.303 * 2 / 3 ** 0.5
    assert f"+6.000 [{6 - half:+.3f}, {6 + half:+.3f}] (95 %, 3 seeds), floor 0.000: supported" in unit
    # a machine floor of 20 % of BRECQ's mean TV (6): 1.2, above the interval's lower end 1.033
    assert fig6.verdict_lines(records, 0.2)[1].endswith("floor 1.200: undecided")


def test_fig6_unit_floor_is_the_largest_relative_range_of_one_configuration(tmp_path):
    rows = [{"key": "a", "fingerprint": "f", "unit_losses": losses} for losses in ([1, 3, 1], [1, 4, 1], [1, 3.5, 1])]
    rows += [{"key": "b", "fingerprint": "f", "unit_losses": [1, 2]}, {"key": "b", "fingerprint": "f", "unit_losses": [1, 2]},
             {"key": "c", "fingerprint": "f", "unit_losses": [0, 9]}, {"key": "c", "fingerprint": "f", "top1": 1.0}]
    (tmp_path / "mini").mkdir()
    (tmp_path / "mini" / "noise.json").write_text(json.dumps({"rows": rows}))
    # key a: total variations 4, 6, 5 -> range 2 over mean 5; key b agrees; key c has one curve
    assert fig6.unit_floor(tmp_path, "mini") == pytest.approx(0.4)
    assert fig6.unit_floor(tmp_path, "smoke") == 0.0


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
    assert wanted == stored


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
