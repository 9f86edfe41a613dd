"""Statistics of a report table: t-intervals of a cell's mean, paired or Welch t-tests against a
reference cell, Holm's correction and the seeds a paired t-test needs (SciPy's distributions).

Pure functions of lists of numbers, so each is checked against SciPy and by hand in
``tests/report/test_stats.py``; :mod:`actlab.report.table` and :mod:`actlab.report.compare`
apply them to table cells. SciPy is imported on first use: ``actlab sweep`` imports the report
package (:mod:`actlab.report.command`, for its link) but never computes these.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

#: The power :func:`seeds_needed` aims at.
POWER = 0.8
#: :func:`seeds_needed` stops looking beyond this many seeds (and says "more than").
MAX_SEEDS = 1000
#: A spread below this fraction of the values' magnitude is no spread (identical accuracies
#: read back as floats differ only in their last bits).
_ZERO_SPREAD = 1e-9

Test = Literal["paired t", "Welch t", ""]


def _stats() -> Any:
    from scipy import stats  # ~0.8 s: only when a table is actually compared

    return stats


def _no_spread(sd: float, values: Sequence[float]) -> bool:
    scale = max((abs(v) for v in values), default=0.0)
    return sd <= _ZERO_SPREAD * max(scale, 1.0)


@dataclass(frozen=True)
class Interval:
    """A cell's mean with its Student-t confidence interval.

    ``std`` is the sample standard deviation (n - 1); ``low`` and ``high`` are NaN for fewer
    than 2 values (no spread to estimate), and equal the mean when all values are equal.
    """

    n: int
    mean: float
    std: float
    low: float
    high: float
    confidence: float = 0.95


def mean_interval(values: Sequence[float], confidence: float = 0.95) -> Interval:
    """Mean of ``values`` and its ``confidence`` interval, ``mean ± t(n-1) * std / sqrt(n)``."""
    n = len(values)
    if n == 0:
        return Interval(0, math.nan, math.nan, math.nan, math.nan, confidence)
    mean = statistics.fmean(values)
    if n == 1:
        return Interval(1, mean, math.nan, math.nan, math.nan, confidence)
    std = statistics.stdev(values)
    if _no_spread(std, values):  # scipy's scale=0 gives NaN; the interval is the point
        return Interval(n, mean, std, mean, mean, confidence)
    low, high = _stats().t.interval(confidence, n - 1, loc=mean, scale=std / math.sqrt(n))
    return Interval(n, mean, std, float(low), float(high), confidence)


@dataclass(frozen=True)
class Comparison:
    """A cell against a reference cell (the baseline, or its column's best mean).

    Attributes:
        test: ``"paired t"`` (runs matched by seed and fold), ``"Welch t"`` (unpaired, unequal
            variances) or ``""`` when no test was possible (``note`` says why).
        n: pairs (paired) or the cell's runs (Welch).
        n_reference: pairs (paired) or the reference cell's runs (Welch).
        delta: mean of the cell minus mean of the reference (paired: mean of the differences,
            the same number).
        low: lower end of the ``confidence`` interval of ``delta`` (NaN without a test).
        high: upper end.
        p: two-sided p-value, not corrected for multiple comparisons (NaN without a test).
        effect: standardised effect size: ``d_z`` = mean difference / SD of the paired
            differences (paired), Cohen's ``d`` = delta / pooled SD (Welch).
        effect_kind: ``"d_z"`` or ``"d"``.
        sd_delta: the SD a paired plan would see: of the paired differences, or
            ``sqrt(s1² + s2²)`` unpaired (independent seeds; pairing can only shrink it).
        note: why there was no test, or what limits it (fewer than 3 pairs, unpaired because
            the seeds differ).
    """

    test: Test
    n: int
    n_reference: int
    delta: float
    low: float = math.nan
    high: float = math.nan
    p: float = math.nan
    effect: float = math.nan
    effect_kind: str = ""
    sd_delta: float = math.nan
    note: str = ""
    confidence: float = 0.95

    @property
    def tested(self) -> bool:
        return bool(self.test) and not math.isnan(self.p)


def pair_up(
    keys: Sequence[Hashable], reference_keys: Sequence[Hashable]
) -> tuple[list[tuple[int, int]] | None, str]:
    """Index pairs ``(i, j)`` with ``keys[i] == reference_keys[j]``, matched by value.

    Pairs only when both sides have the same set of keys, each once and none unknown (``None``);
    otherwise ``None`` and the reason, which the report prints beside the Welch test.
    """
    if any(k is None for k in [*keys, *reference_keys]):
        return None, "unpaired: a run has no seed"
    if len(set(keys)) < len(keys) or len(set(reference_keys)) < len(reference_keys):
        return None, "unpaired: a seed repeats in a cell"
    if set(keys) != set(reference_keys):
        return None, "unpaired: the cells' seeds differ"
    where = {k: j for j, k in enumerate(reference_keys)}
    return [(i, where[k]) for i, k in enumerate(keys)], ""


def compare(
    values: Sequence[float],
    reference: Sequence[float],
    keys: Sequence[Hashable] | None = None,
    reference_keys: Sequence[Hashable] | None = None,
    confidence: float = 0.95,
) -> Comparison:
    """``values`` against ``reference``: paired t-test when the runs pair up by key (seed, fold),
    else Welch's t-test (:func:`scipy.stats.ttest_rel`, :func:`scipy.stats.ttest_ind`).

    Args:
        values: the cell's per-run values.
        reference: the reference cell's.
        keys: one key per value (``(seed, fold)``); ``None`` compares unpaired.
        reference_keys: one key per reference value.
        confidence: of the interval of the difference.
    """
    n, m = len(values), len(reference)
    delta = statistics.fmean(values) - statistics.fmean(reference) if n and m else math.nan
    pairs, why = (None, "unpaired: no seeds given")
    if keys is not None and reference_keys is not None:
        pairs, why = pair_up(keys, reference_keys)
    if pairs is not None:
        return _paired([values[i] for i, _ in pairs], [reference[j] for _, j in pairs], confidence)
    if n < 2 or m < 2:
        note = f"no test: {'the cell' if n < 2 else 'the reference'} has {min(n, m)} run"
        return Comparison("", n, m, delta, note=note, confidence=confidence)
    s1, s2 = statistics.stdev(values), statistics.stdev(reference)
    sd_delta = math.hypot(s1, s2)
    if _no_spread(sd_delta, [*values, *reference]):
        note = "no test: every run of both cells has the same value"
        return Comparison("Welch t", n, m, delta, sd_delta=0.0, note=note, confidence=confidence)
    result = _stats().ttest_ind(values, reference, equal_var=False)
    low, high = result.confidence_interval(confidence)
    pooled = math.sqrt(((n - 1) * s1**2 + (m - 1) * s2**2) / (n + m - 2))
    return Comparison(
        "Welch t",
        n,
        m,
        delta,
        float(low),
        float(high),
        float(result.pvalue),
        delta / pooled,
        "d",
        sd_delta,
        why,
        confidence,
    )


def _paired(values: list[float], reference: list[float], confidence: float) -> Comparison:
    n = len(values)
    differences = [v - r for v, r in zip(values, reference, strict=True)]
    delta = statistics.fmean(differences)
    if n < 2:
        return Comparison("", n, n, delta, note="no test: 1 pair", confidence=confidence)
    sd = statistics.stdev(differences)
    few = "fewer than 3 pairs" if n < 3 else ""
    if _no_spread(sd, [*values, *reference]):
        note = "no test: every pair differs by the same amount"
        return Comparison("paired t", n, n, delta, sd_delta=0.0, note=note, confidence=confidence)
    result = _stats().ttest_rel(values, reference)
    low, high = result.confidence_interval(confidence)
    return Comparison(
        "paired t",
        n,
        n,
        delta,
        float(low),
        float(high),
        float(result.pvalue),
        delta / sd,
        "d_z",
        sd,
        few,
        confidence,
    )


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values, in the order given; NaN (no test) stays NaN and is
    not counted among the comparisons.

    Sorted ascending, ``p_(i)`` becomes ``max_{j <= i} min(1, (m - j + 1) p_(j))``. Written out
    because SciPy has no Holm (``scipy.stats.false_discovery_control`` is Benjamini-Hochberg /
    -Yekutieli, which control the false discovery rate, not the family-wise error) and
    statsmodels' ``multipletests`` is not worth a dependency for six lines.
    """
    tested = sorted((p, i) for i, p in enumerate(pvalues) if not math.isnan(p))
    m = len(tested)
    adjusted = [math.nan] * len(pvalues)
    running = 0.0
    for rank, (p, i) in enumerate(tested):
        running = max(running, min(1.0, (m - rank) * p))
        adjusted[i] = running
    return adjusted


def paired_power(n: int, delta: float, sd: float, alpha: float) -> float:
    """Power of a two-sided paired t-test with ``n`` pairs at level ``alpha`` when the true mean
    difference is ``delta`` and the differences' SD is ``sd``: the mass of the noncentral t
    (``n - 1`` degrees of freedom, noncentrality ``delta / sd * sqrt(n)``) beyond the critical
    values."""
    stats = _stats()
    df = n - 1
    critical = stats.t.ppf(1 - alpha / 2, df)
    nc = delta / sd * math.sqrt(n)
    return float(stats.nct.sf(critical, df, nc) + stats.nct.cdf(-critical, df, nc))


def seeds_needed(
    delta: float, sd: float, alpha: float, power: float = POWER, max_n: int = MAX_SEEDS
) -> int | None:
    """The fewest seeds (pairs) for which a two-sided paired t-test at level ``alpha`` detects a
    true difference ``delta`` with probability ``power``, given the SD ``sd`` of the paired
    differences: :func:`paired_power` evaluated for n = 2, 3, ... (SciPy's noncentral t).

    ``None`` when more than ``max_n`` would be needed, or when ``delta`` is 0; NaN inputs, or an
    ``sd`` of 0 (nothing to plan with), raise :class:`ValueError`.
    """
    if math.isnan(delta) or math.isnan(sd) or sd <= 0:
        raise ValueError(f"seeds_needed needs a finite delta and sd > 0, got {delta}, {sd}")
    if delta == 0:
        return None
    import numpy as np

    stats = _stats()
    n = np.arange(2, max_n + 1)
    critical = stats.t.ppf(1 - alpha / 2, n - 1)
    nc = abs(delta) / sd * np.sqrt(n)
    powers = stats.nct.sf(critical, n - 1, nc) + stats.nct.cdf(-critical, n - 1, nc)
    enough = np.flatnonzero(powers >= power)
    return int(n[enough[0]]) if enough.size else None
