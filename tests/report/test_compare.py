"""Each cell against its column's reference: pairing by seed value whatever order the runs come
back in, Welch's fallback, Holm, best only where significant, the seeds needed, and n = 1 and 2
cells. The statistics themselves are checked in ``test_stats.py``."""

from __future__ import annotations

import pytest
from scipy import stats as scipy_stats

from actlab.report.render_text import render
from actlab.report.stats import holm
from actlab.report.table import build_table
from tests.report.helpers import PER_SEED, seeded


def test_cells_pair_by_seed_value_whatever_order_the_runs_come_back_in() -> None:
    table = build_table(
        seeded(PER_SEED), ["activation"], ["dataset"], "test/acc", scale=100, baseline="relu"
    )
    assert table.baseline == "relu" and len(table.comparisons) == 2
    by_row = {c.row: c for c in table.comparisons}
    for act in ("elu", "cpaf"):
        expected = scipy_stats.ttest_rel(PER_SEED[act], PER_SEED["relu"])
        comparison = by_row[act]
        assert comparison.stats.test == "paired t" and comparison.stats.n == 5
        assert comparison.stats.p == pytest.approx(expected.pvalue)
        ci = expected.confidence_interval()
        assert comparison.stats.low == pytest.approx(ci.low)
        assert comparison.stats.high == pytest.approx(ci.high)
    adjusted = holm([by_row["elu"].stats.p, by_row["cpaf"].stats.p])
    assert [by_row["elu"].p_holm, by_row["cpaf"].p_holm] == pytest.approx(adjusted)
    assert by_row["cpaf"].significant and by_row["cpaf"].direction == "better"
    assert not by_row["elu"].significant and by_row["elu"].direction == ""
    assert not any(c.best for c in table.cells.values())  # a baseline table claims no best
    # seeds needed at alpha / 2 for the observed difference, and for a given --mde
    assert by_row["cpaf"].planning_alpha == pytest.approx(0.025)
    assert by_row["cpaf"].seeds_needed == 3
    mde = build_table(
        seeded(PER_SEED), ["activation"], ["dataset"], "test/acc", scale=100, baseline="relu",
        mde=0.1,
    )  # fmt: skip
    elu = next(c for c in mde.comparisons if c.row == "elu")
    assert elu.planned_delta == 0.1 and elu.seeds_needed is not None and elu.seeds_needed > 5


def test_best_only_where_significant_against_every_other_cell() -> None:
    three = build_table(seeded(PER_SEED), ["activation"], ["dataset"], "test/acc", scale=100)
    # cpaf leads and beats relu and elu on every seed: significant after Holm
    assert [c.reference for c in three.comparisons] == ["cpaf", "cpaf"]
    assert three.cell("cpaf", "fmnist").best
    assert all(c.direction == "worse" for c in three.comparisons)
    two = build_table(
        seeded({k: PER_SEED[k] for k in ("relu", "elu")}),
        ["activation"],
        ["dataset"],
        "test/acc",
        scale=100,
    )
    assert not any(c.best for c in two.cells.values())  # elu leads relu by noise


def test_unpaired_welch_when_the_seeds_differ() -> None:
    seeds = {"relu": [0, 1, 2, 3, 4], "elu": [0, 1, 2, 3, 4], "cpaf": [5, 6, 7, 8, 9]}
    table = build_table(
        seeded(PER_SEED, seeds), ["activation"], ["dataset"], "test/acc", scale=100,
        baseline="relu",
    )  # fmt: skip
    by_row = {c.row: c for c in table.comparisons}
    assert by_row["elu"].stats.test == "paired t"
    cpaf = by_row["cpaf"].stats
    assert cpaf.test == "Welch t" and cpaf.note == "unpaired: the cells' seeds differ"
    expected = scipy_stats.ttest_ind(PER_SEED["cpaf"], PER_SEED["relu"], equal_var=False)
    assert cpaf.p == pytest.approx(expected.pvalue)


def test_n1_and_n2_cells_are_said() -> None:
    per_seed = {"relu": [87.6, 87.3], "elu": [87.7, 87.2], "cpaf": [88.9]}
    table = build_table(
        seeded(per_seed), ["activation"], ["dataset"], "test/acc", scale=100, baseline="relu"
    )
    by_row = {c.row: c for c in table.comparisons}
    assert by_row["elu"].stats.note == "fewer than 3 pairs" and by_row["elu"].stats.tested
    assert by_row["cpaf"].stats.note == "no test: the cell has 1 run"
    assert by_row["cpaf"].seeds_note == "no estimate: a cell has 1 run"
    md = render(table, "markdown")
    assert "| cpaf | 88.90 (n=1) |" in md
    assert "paired t, 2 pairs (fewer than 3 pairs)" in md
