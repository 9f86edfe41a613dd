"""Each cell of a report table tested against the reference cell of its column (the baseline
row, else the column's best mean), Holm-corrected over the table, with the seeds a paired test
needs (:mod:`actlab.report.stats`)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from actlab.report.stats import (
    MAX_SEEDS,
    POWER,
    Comparison,
    compare,
    holm,
    seeds_needed,
)

if TYPE_CHECKING:
    from actlab.report.table import Table


@dataclass
class CellComparison:
    """A cell tested against the reference cell of its column.

    Attributes:
        row: the cell's row.
        column: the cell's column.
        reference: the row it is compared with (the baseline, or the column's best mean).
        stats: the test (:class:`actlab.report.stats.Comparison`).
        p_holm: the p-value Holm-adjusted over every test of the table (NaN: not tested).
        significant: ``p_holm < alpha``.
        direction: ``better`` or ``worse`` than the reference (by the table's mode) when
            significant, else ``""``.
        seeds_needed: seeds (pairs) a paired t-test needs to detect ``planned_delta`` with 80 %
            power at ``planning_alpha``; ``None`` with ``seeds_note`` saying why.
        planned_delta: the difference planned for: ``--mde`` or the observed one.
        planning_alpha: alpha / number of comparisons in the table (Bonferroni, Holm's first
            and strictest step: enough seeds whatever the other comparisons show).
    """

    row: str
    column: str
    reference: str
    stats: Comparison
    p_holm: float = math.nan
    significant: bool = False
    direction: str = ""
    seeds_needed: int | None = None
    seeds_note: str = ""
    planned_delta: float = math.nan
    planning_alpha: float = math.nan


def compare_cells(table: Table, baseline: str | None = None, mde: float | None = None) -> None:
    """Compare every cell with the reference cell of its column and mark ``best``.

    The reference is the ``baseline`` row, else the column's best mean (the table's mode).
    Each comparison is a paired t-test when both cells have the same seeds (matched by value),
    else Welch's; the p-values of all of the table's tests are Holm-corrected together at
    ``table.alpha``. Without a baseline a column's best mean is ``best`` only when it is
    significantly better than every other cell of its column (a column with one cell has no
    best). Seeds needed: for ``mde`` (table units) or the observed difference, with the SD of
    the paired differences (unpaired: ``sqrt(s1² + s2²)``), at alpha / (comparisons in the
    table). Fills ``table.comparisons`` and each cell's ``comparison``; adds notes.
    """
    table.baseline = baseline
    table.mde = mde
    sign = 1.0 if table.mode == "max" else -1.0
    comparisons: list[CellComparison] = []
    no_baseline = []
    for col in table.columns:
        column = {row: c for row in table.rows if (c := table.cell(row, col)) is not None}
        for cell in column.values():
            cell.best = False
            cell.comparison = None
        if baseline is not None:
            if baseline not in column:
                no_baseline.append(col)
                continue
            reference = baseline
        else:
            reference = max(column, key=lambda r: sign * column[r].mean)
        ref = column[reference]
        for row, cell in column.items():
            if row == reference:
                continue
            result = compare(cell.values, ref.values, cell.keys, ref.keys, table.confidence)
            cell.comparison = CellComparison(row, col, reference, result)
            comparisons.append(cell.comparison)
    for comparison, p in zip(comparisons, holm([c.stats.p for c in comparisons]), strict=True):
        comparison.p_holm = p
        comparison.significant = p < table.alpha
        if comparison.significant:
            comparison.direction = "better" if sign * comparison.stats.delta > 0 else "worse"
    planning_alpha = table.alpha / max(len(comparisons), 1)
    for comparison in comparisons:
        _plan(comparison, mde, planning_alpha)
    if baseline is None:
        for col in table.columns:
            mine = [c for c in comparisons if c.column == col]
            if mine and all(c.significant and c.direction == "worse" for c in mine):
                best = table.cell(mine[0].reference, col)
                if best is not None:
                    best.best = True
    table.comparisons = comparisons
    if no_baseline:
        table.notes.append(f"no baseline {baseline!r} in column(s) {', '.join(no_baseline)}")


def _plan(comparison: CellComparison, mde: float | None, alpha: float) -> None:
    """Fill the seeds a paired test needs for ``mde`` (else the observed difference)."""
    stats = comparison.stats
    comparison.planned_delta = abs(mde) if mde is not None else abs(stats.delta)
    comparison.planning_alpha = alpha
    sd = stats.sd_delta
    if math.isnan(sd):
        comparison.seeds_note = "no estimate: a cell has 1 run"
    elif sd <= 0 or math.isnan(comparison.planned_delta):
        comparison.seeds_note = "no estimate: no spread"
    elif comparison.planned_delta == 0:
        comparison.seeds_note = "no difference to detect"
    else:
        needed = seeds_needed(comparison.planned_delta, sd, alpha, POWER)
        comparison.seeds_needed = needed
        comparison.seeds_note = "" if needed is not None else f"more than {MAX_SEEDS}"
