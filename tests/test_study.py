"""The sweeps and the analysis helpers behind the notebooks, on exact numbers."""

import math

import pandas as pd
import pytest
import torch

from mrecg import paper, study, toy
from mrecg.config import EXPANDED, PRESETS
from mrecg.experiments import RunSpec, record_path


def test_table2_rows_switch_one_component_at_a_time_and_reuse_table1_runs():
    specs = study.table2_specs("mini", seeds=(0,))
    sizes = [(s.method, s.config().calib_size, s.config().batch_size) for s in specs]
    base, big = PRESETS["mini"], EXPANDED["mini"]
    assert sizes == [
        ("brecq", base["calib_size"], base["batch_size"]),
        ("mrecg+brecq", base["calib_size"], base["batch_size"]),
        ("brecq", big["calib_size"], big["batch_size"]),
        ("mrecg+brecq", big["calib_size"], big["batch_size"]),
    ]
    table1 = {s.key() for s in study.table1_specs("mini")}
    assert specs[0].key() in table1 and specs[3].key() in table1  # BRECQ and "+ both" are Table 1's runs


def test_table2_frame_gains_are_mean_per_seed_differences():
    def record(method, batch, seed, top1):
        return {"spec": {"method": method, "seed": seed}, "top1": top1,
                "config": {"preset": "mini", "batch_size": batch}}

    b, e = PRESETS["mini"]["batch_size"], EXPANDED["mini"]["batch_size"]
    records = [record("brecq", b, 0, 80.0), record("brecq", b, 1, 82.0),
               record("mrecg+brecq", b, 0, 81.0), record("mrecg+brecq", b, 1, 85.0),
               record("brecq", e, 0, 80.5), record("brecq", e, 1, 81.5),
               record("mrecg+brecq", e, 0, 83.0), record("mrecg+brecq", e, 1, 84.0)]
    table = study.table2_frame(records).set_index("row")
    assert table.loc["+ mixed granularity", "gain_ours"] == pytest.approx(2.0)  # (1 + 3) / 2
    assert table.loc["+ mixed granularity", "gain_std"] == pytest.approx(math.sqrt(2))
    assert table.loc["+ expanded batch", "gain_ours"] == pytest.approx(0.0)
    assert table.loc["+ both (MRECG)", "ours"] == pytest.approx(83.5)
    assert table.loc["+ mixed granularity", "gain_paper"] == 1.08 and table.loc["BRECQ", "seeds"] == 2


def test_paper_table2_gains_are_read_from_the_reference(reference_file):
    notes = reference_file("paper_notes.md").read_text()
    gains = paper.table2_gains()
    assert f"+{gains['+ mixed granularity']:.2f} %" in notes and f"+{gains['+ expanded batch']:.2f} %" in notes
    assert gains["+ both (MRECG)"] == pytest.approx(2.24)


def test_pareto_front_keeps_exactly_the_undominated_points():
    df = pd.DataFrame({"largest_unit": [1, 2, 2, 3, 4, 5], "top1": [80, 79, 83, 82, 85, 85]})
    assert study.pareto_front(df).index.tolist() == [0, 2, 4]


def test_fig4_sweep_holds_brecq_mrecg_at_brecq_batch_and_seeded_random_schemes():
    specs = study.fig4_specs("mini")
    assert [s.method for s in specs[:2]] == ["brecq", "mrecg+brecq"]
    assert specs[1].config().batch_size == PRESETS["mini"]["batch_size"]
    assert [s.scheme for s in specs[2:]] == [f"random:{i}" for i in range(study.FIG4_SWEEP["mini"]["schemes"])]


def test_budget_sweep_reuses_table1_runs_at_the_preset_iterations():
    specs = study.budget_specs("mini")
    at_default = [s for s in specs if s.iters is None]
    assert at_default and {s.key() for s in at_default} >= {s.key() for s in study.table1_specs("mini")
                                                            if s.w_bits == 2 and s.method in ("brecq", "mrecg+brecq")}
    assert sorted({s.config().iters for s in specs}) == list(study.BUDGET_SWEEP["mini"]["iters"])


def test_budget_gains_and_convergence_on_exact_numbers():
    rows = []
    for iters, brecq, mrecg in ((250, (60, 62), (70, 74)), (500, (70, 70), (72, 73)), (1000, (70.5, 71.5), (71, 72))):
        for seed in (0, 1):
            rows.append({"model": "m", "method": "brecq", "iters": iters, "seed": seed, "top1": brecq[seed]})
            rows.append({"model": "m", "method": "mrecg+brecq", "iters": iters, "seed": seed, "top1": mrecg[seed]})
    gains = study.budget_gains(pd.DataFrame(rows)).set_index("iters")
    assert gains.loc[250, "gain"] == pytest.approx(11.0) and gains.loc[1000, "gain"] == pytest.approx(0.5)
    assert gains.loc[250, "brecq_below_best"] == pytest.approx(10.0)
    assert study.converged_iters(gains.reset_index(), tolerance=1.0) == {"m": 500}
    assert study.converged_iters(gains.reset_index(), tolerance=0.5) == {"m": 1000}


def test_gain_verdict_counts_only_gains_beyond_the_seed_spread():
    assert study.gain_verdict(0.3, 0.2, 3) == "larger than the seed spread: a real gain"
    assert study.gain_verdict(-0.3, 0.2, 3) == "larger than the seed spread: a real loss"
    assert study.gain_verdict(0.2, 0.2, 3) == "within the seed spread: not distinguishable from noise"
    assert study.gain_verdict(5.0, float("nan"), 1) == "one seed: no spread to judge it by"
    assert study.gain_verdict(5.0, 0.1, 1) == "one seed: no spread to judge it by"


def test_mini_preset_scales_the_rounding_lr_with_its_short_budget():
    from mrecg.config import PTQConfig
    mini, paper = PTQConfig.preset_config("mini"), PTQConfig.preset_config("paper")
    assert (mini.iters, mini.w_lr, mini.a_lr) == (1000, 1e-2, 4e-5)
    assert (paper.iters, paper.w_lr, paper.a_lr) == (20_000, 1e-3, 4e-5)


def test_toy_capacity_drops_and_by_hand_modcap():
    model = toy.toy_model()
    by_hand = [float(sum(m.weight.numel() * 4 * m.stride[0] ** 2 for m in b.modules() if isinstance(m, torch.nn.Conv2d)))
               for b in model.features[1:-1]]
    from mrecg.modcap import data_free

    assert data_free(model, 4).values == by_hand
    assert toy.capacity_drops([10, 40, 10, 10, 30, 5]) == [1, 4]
    with pytest.raises(ValueError, match="widths"):
        toy.toy_model(widths=())


def test_parallel_workers_store_the_same_records_as_one_process(tmp_path):
    specs = [RunSpec("resnet18", "smoke", "brecq", 4, 4, seed, iters=5) for seed in (0, 1)]
    parallel = study.run_specs(specs + specs[:1], tmp_path / "a", workers=2)  # a duplicate runs once
    serial = study.run_specs(specs, tmp_path / "b", workers=1)
    # workers use one thread each, the serial run the default count: equal up to float summation order
    assert [r["top1"] for r in parallel[:2]] == pytest.approx([r["top1"] for r in serial], abs=0.05)
    assert parallel[2] == parallel[0] and all(record_path(s, tmp_path / "a").is_file() for s in specs)
    assert [r["units"][1]["loss"] for r in parallel[:2]] == pytest.approx([r["units"][1]["loss"] for r in serial], rel=1e-4)
