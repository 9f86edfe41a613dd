"""The report's statistics: t-intervals, paired / Welch tests, Holm and seeds needed, checked by
hand and against SciPy's own tests on known samples."""

from __future__ import annotations

import math

import pytest
from scipy import stats as scipy_stats

from actlab.report.stats import (
    compare,
    holm,
    mean_interval,
    pair_up,
    paired_power,
    seeds_needed,
)

#: Two cells of 5 seeds (004 §4.2 style accuracies, %), keyed by seed.
A = {0: 88.68, 1: 88.42, 2: 88.30, 3: 88.91, 4: 88.55}
B = {0: 87.63, 1: 87.27, 2: 87.87, 3: 87.95, 4: 87.40}


def test_t_interval_by_hand_and_against_scipy() -> None:
    # [1, 2, 3, 4]: mean 2.5, s = sqrt(5/3), t(0.975, 3) = 3.182446305 (printed tables: 3.182)
    iv = mean_interval([1, 2, 3, 4])
    half = 3.182446305284263 * math.sqrt(5 / 3) / 2
    assert (iv.n, iv.mean, iv.std) == (4, 2.5, pytest.approx(math.sqrt(5 / 3)))
    assert (iv.low, iv.high) == (pytest.approx(2.5 - half), pytest.approx(2.5 + half))
    assert iv.low == pytest.approx(0.44574, abs=1e-5)
    values = list(A.values())
    expected = scipy_stats.ttest_1samp(values, 0).confidence_interval(0.9)
    iv = mean_interval(values, 0.9)
    assert (iv.low, iv.high) == (pytest.approx(expected.low), pytest.approx(expected.high))


def test_one_run_has_no_interval_two_runs_a_wide_one_equal_runs_a_point() -> None:
    one = mean_interval([0.9])
    assert one.n == 1 and one.mean == 0.9
    assert math.isnan(one.std) and math.isnan(one.low) and math.isnan(one.high)
    two = mean_interval([90.0, 92.0])  # t(0.975, 1) = 12.706: mean ± 12.706 * 1
    assert (two.low, two.high) == (pytest.approx(91 - 12.7062047), pytest.approx(91 + 12.7062047))
    same = mean_interval([99.44, 99.44, 99.44])
    assert (same.low, same.high) == (99.44, 99.44)


def test_paired_test_matches_scipy_and_pairs_by_seed_value_not_order() -> None:
    seeds = list(A)
    shuffled = [3, 0, 4, 2, 1]  # the reference cell's runs came back in another order
    result = compare(
        [A[s] for s in seeds], [B[s] for s in shuffled], seeds, shuffled, confidence=0.95
    )
    expected = scipy_stats.ttest_rel([A[s] for s in seeds], [B[s] for s in seeds])
    assert result.test == "paired t" and result.n == 5 and result.note == ""
    assert result.p == pytest.approx(expected.pvalue)
    ci = expected.confidence_interval(0.95)
    assert (result.low, result.high) == (pytest.approx(ci.low), pytest.approx(ci.high))
    differences = [A[s] - B[s] for s in seeds]
    sd = scipy_stats.tstd(differences)
    assert result.delta == pytest.approx(sum(differences) / 5)
    assert (result.effect_kind, result.effect) == ("d_z", pytest.approx(result.delta / sd))
    assert result.sd_delta == pytest.approx(sd)
    by_order = scipy_stats.ttest_rel([A[s] for s in seeds], [B[s] for s in shuffled])
    assert result.p != pytest.approx(by_order.pvalue)  # pairing by position would differ


def test_welch_when_the_seeds_differ_matches_scipy() -> None:
    a, b = list(A.values()), [87.63, 87.27, 87.87]
    result = compare(a, b, list(A), [0, 1, 7])
    expected = scipy_stats.ttest_ind(a, b, equal_var=False)
    assert result.test == "Welch t" and (result.n, result.n_reference) == (5, 3)
    assert result.note == "unpaired: the cells' seeds differ"
    assert result.p == pytest.approx(expected.pvalue)
    ci = expected.confidence_interval(0.95)
    assert (result.low, result.high) == (pytest.approx(ci.low), pytest.approx(ci.high))
    s1, s2 = scipy_stats.tstd(a), scipy_stats.tstd(b)
    pooled = math.sqrt((4 * s1**2 + 2 * s2**2) / 6)
    assert (result.effect_kind, result.effect) == ("d", pytest.approx(result.delta / pooled))
    assert result.sd_delta == pytest.approx(math.hypot(s1, s2))
    # a repeated or unknown seed cannot be paired either
    assert pair_up([0, 0, 1], [0, 1, 2]) == (None, "unpaired: a seed repeats in a cell")
    assert pair_up([0, None], [0, 1])[0] is None
    assert compare(a, b).test == "Welch t"  # no keys at all


def test_too_few_runs_no_test_or_a_warned_one() -> None:
    one = compare([0.9], [0.8, 0.85], [0], [0, 1])
    assert one.test == "" and one.note == "no test: the cell has 1 run" and not one.tested
    assert math.isnan(one.p) and math.isnan(one.sd_delta)
    single_pair = compare([0.9], [0.8], [0], [0])
    assert single_pair.test == "" and single_pair.note == "no test: 1 pair"
    two = compare([90.0, 93.0], [89.0, 91.0], [0, 1], [1, 0])
    assert two.test == "paired t" and two.n == 2 and two.note == "fewer than 3 pairs"
    assert two.p == pytest.approx(scipy_stats.ttest_rel([90.0, 93.0], [91.0, 89.0]).pvalue)
    same_gap = compare([91.0, 93.0, 95.0], [90.0, 92.0, 94.0], [0, 1, 2], [0, 1, 2])
    assert same_gap.note == "no test: every pair differs by the same amount"
    assert not same_gap.tested and same_gap.delta == pytest.approx(1.0)


def test_holm_on_a_hand_worked_example() -> None:
    # sorted: 0.005*4 = 0.02, 0.01*3 = 0.03, 0.03*2 = 0.06, 0.04*1 = 0.04 -> max so far 0.06
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    adjusted = holm([0.2, math.nan, 0.01])  # NaN: no test, not one of the m comparisons
    assert adjusted[0] == pytest.approx(0.2) and math.isnan(adjusted[1])
    assert adjusted[2] == pytest.approx(0.02)
    assert holm([0.6, 0.7]) == [1.0, 1.0]  # capped at 1
    assert holm([]) == []


def test_seeds_needed_matches_the_power_tables() -> None:
    # two-sided paired t, alpha 0.05, power 0.8: d_z = 1 needs 10 pairs (power 0.803),
    # d_z = 0.5 needs 34 (Cohen 1988; G*Power gives the same)
    assert seeds_needed(1.0, 1.0, 0.05) == 10
    assert paired_power(10, 1.0, 1.0, 0.05) == pytest.approx(0.8031, abs=1e-4)
    assert paired_power(9, 1.0, 1.0, 0.05) < 0.8
    assert seeds_needed(0.5, 1.0, 0.05) == 34
    assert seeds_needed(-1.36, 0.4, 0.05 / 3) == seeds_needed(1.36, 0.4, 0.05 / 3)
    # the power is the noncentral t's mass beyond the critical values
    crit = scipy_stats.t.ppf(0.975, 9)
    nc = math.sqrt(10)
    power = scipy_stats.nct.sf(crit, 9, nc) + scipy_stats.nct.cdf(-crit, 9, nc)
    assert paired_power(10, 1.0, 1.0, 0.05) == pytest.approx(power)
    assert seeds_needed(0.01, 1.0, 0.05) is None  # more than MAX_SEEDS
    assert seeds_needed(0.0, 1.0, 0.05) is None
    with pytest.raises(ValueError):
        seeds_needed(1.0, 0.0, 0.05)
