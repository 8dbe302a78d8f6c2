"""Room, recovered fraction, the verdict rule and same-machine pairs, on hand-built numbers."""

import math

import pytest

from mrecg.study import stats

HALF_3 = 4.303 / math.sqrt(3)  # t(0.975, 2) / sqrt(3): the half-width of a 3-seed interval per unit of sd


def test_room_gain_and_fraction_per_seed_beside_the_paper_scaled_to_our_room():
    # float 90; baselines 88, 89, 88.5 (rooms 2, 1, 1.5); MRECG 88.2, 89.1, 88.8 (gains 0.2, 0.1, 0.3)
    paper = stats.PaperCell(fp=70.0, baseline=60.0, method=62.0)  # room 10, gain 2, fraction 20 %
    cell = stats.room_scaled([88.2, 89.1, 88.8], [88.0, 89.0, 88.5], [90.0] * 3, paper)
    assert cell.room == pytest.approx(1.5)
    assert (cell.gain.mean, cell.gain.sd) == pytest.approx((0.2, 0.1))
    assert (cell.gain.lo, cell.gain.hi) == pytest.approx((0.2 - 0.1 * HALF_3, 0.2 + 0.1 * HALF_3))
    assert cell.fraction.mean == pytest.approx((0.1 + 0.1 + 0.2) / 3)  # per seed 0.2/2, 0.1/1, 0.3/1.5
    assert (paper.room, paper.gain, paper.fraction) == pytest.approx((10.0, 2.0, 0.2))
    assert cell.scaled == pytest.approx(0.3)  # 20 % of our 1.5 pt
    # half-width 0.248 < 0.3: testable; [-0.048, +0.448] contains +0.3 and zero
    assert stats.against_paper(cell.gain, cell.scaled) == "consistent"
    assert stats.against_zero(cell.gain) == "contains zero"


def test_a_cell_with_less_room_than_its_interval_reads_too_little_room_to_test():
    # float 90, baselines 89.7, 89.6, 89.8: 0.3 pt of room; gains 0.1, -0.1, 0.3 (sd 0.2, half-width 0.497)
    cell = stats.room_scaled([89.8, 89.5, 90.1], [89.7, 89.6, 89.8], [90.0] * 3, stats.PaperCell(70.0, 60.0, 62.0))
    assert cell.room == pytest.approx(0.3) and cell.scaled == pytest.approx(0.06)
    assert cell.gain.half_width == pytest.approx(0.2 * HALF_3)
    # the interval [-0.40, +0.60] contains +0.06, but no outcome could tell +0.06 from zero
    assert stats.against_paper(cell.gain, cell.scaled) == stats.TOO_LITTLE_ROOM == "too little room to test"


def test_smaller_larger_and_against_zero():
    gain = stats.paired([1.0, 1.1, 0.9], [0.0] * 3)  # +1.0 [+0.75, +1.25]
    assert stats.against_paper(gain, 3.0) == "smaller"
    assert stats.against_paper(gain, 0.3) == "larger"
    assert stats.against_zero(gain) == "above zero"
    assert stats.against_zero(stats.paired([-1.0, -1.1, -0.9], [0.0] * 3)) == "below zero"
    one = stats.paired([5.0], [0.0])
    assert stats.against_zero(one) == stats.against_paper(one, 1.0) == "one seed: no interval"
    assert stats.against_paper(gain, math.nan) == "no paper cell"


def test_no_room_leaves_no_fraction_and_nothing_to_test():
    cell = stats.room_scaled([90.4, 90.6], [90.5, 90.5], [90.0, 90.0], stats.PaperCell(70.0, 60.0, 62.0))
    assert cell.room == pytest.approx(-0.5) and math.isnan(cell.fraction.mean)
    assert cell.scaled == pytest.approx(-0.1)  # half-width 1.27 > 0.1
    assert stats.against_paper(cell.gain, cell.scaled) == "too little room to test"


def _run(seed: int, top1: float, device: str = "cpu", threads: int = 1, torch: str = "2.14.1") -> dict:
    return {"key": f"{device}-{seed}", "config": {"seed": seed}, "top1": top1, "fp_top1": 90.0,
            "machine": {"cpu": "Xeon", "threads": threads, "device": device, "torch": torch}}


def test_a_mixed_machine_pair_is_refused():
    method = [_run(0, 81.0), _run(1, 82.0, device="NVIDIA H200"), _run(2, 83.0)]
    baseline = [_run(0, 80.0), _run(1, 80.0), _run(2, 80.0)]
    with pytest.raises(stats.MixedMachines, match=r"NVIDIA H200-1 and cpu-1 ran on different machines .*1 mixed pair"):
        stats.paired_runs(method, baseline)
    with pytest.raises(stats.MixedMachines):
        stats.room_scaled_runs(method, baseline)
    with pytest.raises(stats.MixedMachines):  # another thread count is another machine
        stats.paired_runs([_run(0, 81.0, threads=2)], [_run(0, 80.0)])
    assert len(stats.mixed_pairs(stats.by_seed(method, baseline))) == 1


def test_a_same_machine_pair_is_paired_by_seed():
    # the torch build is not part of the machine: the same CPU gives the same numbers under both builds
    method = [_run(2, 83.0), _run(0, 81.0, torch="2.11.0"), _run(1, 82.0)]
    baseline = [_run(0, 80.0), _run(1, 80.0), _run(2, 80.0), _run(3, 70.0)]  # seed 3 has no partner
    d = stats.paired_runs(method, baseline)
    assert (d.mean, d.n) == (2.0, 3)
    cell = stats.room_scaled_runs(method, baseline)
    assert cell.room == pytest.approx(10.0) and cell.fraction.mean == pytest.approx(0.2)


def test_pooled_fraction_over_cells_with_sign_counts():
    p = stats.pooled([0.1, 0.2, 0.3, -0.1], [0.5, 1.0, 2.0, -0.2], [0.4, 0.6, -0.1, 1.0, 1.1, 0.9])
    sd = math.sqrt((0.025 ** 2 + 0.075 ** 2 + 0.175 ** 2 + 0.225 ** 2) / 3)
    assert p.fraction.mean == pytest.approx(0.125)
    assert (p.fraction.lo, p.fraction.hi) == pytest.approx((0.125 - 3.182 * sd / 2, 0.125 + 3.182 * sd / 2))
    assert (p.cells_positive, p.cells, p.seeds_positive, p.seeds) == (3, 4, 5, 6)
    assert str(p) == "12.5% [-14.7%, 39.7%] (95 %, 4 cells); gain positive in 3 of 4 cells, 5 of 6 per-seed differences"


def test_holm_and_the_one_sided_t_test():
    assert stats.holm([0.01, 0.04, 0.03, math.nan]) == pytest.approx([0.03, 0.06, 0.06, math.nan], nan_ok=True)
    assert stats.t_upper_tail(1.0, 1) == pytest.approx(0.25)  # Cauchy
    assert stats.t_upper_tail(2.0, 2) == pytest.approx(0.5 - 2 / (2 * math.sqrt(6)))  # closed form for df = 2
    assert stats.t_upper_tail(-2.0, 2) == pytest.approx(0.5 + 2 / (2 * math.sqrt(6)))
    d = stats.paired([1.0, 2.0, 3.0], [0.0] * 3)  # t = 2 / (1 / sqrt 3)
    assert d.p_above_zero() == pytest.approx(0.5 - (2 * math.sqrt(3)) / (2 * math.sqrt(2 + 12)))
