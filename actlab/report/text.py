"""The words of a report table, shared by every format: a cell's text and marks, the captions
(what the cells hold, what the marks mean), the notes, and the rows of the comparison table."""

from __future__ import annotations

import math

from actlab.report.stats import MAX_SEEDS, POWER
from actlab.report.table import Cell, Table


def format_number(value: float | None, digits: int) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:.{digits}f}"


def format_p(p: float) -> str:
    """A p-value in 2 significant digits, ``<0.001`` below."""
    if math.isnan(p):
        return "–"
    return "<0.001" if p < 0.001 else f"{p:.2g}"


#: Marks of a cell significantly better / worse than its column's reference, and of a cell
#: with flags (runs not FINISHED, mixed configs) listed under the table.
BETTER, WORSE, FLAGGED = "▲", "▼", "†"


def cell_text(
    cell: Cell | None,
    digits: int,
    with_reference: bool,
    plus_minus: str = "±",
    *,
    marks: bool = True,
) -> str:
    """``mean ± std [low, high] n=N`` (the Student-t interval of the mean; ``mean (n=1)`` for one
    run), ▲ / ▼ when significantly better / worse than the column's reference cell, † when
    flagged, then ``paper P (Δ d)`` when a reference number exists."""
    if cell is None:
        return "–"
    iv = cell.interval
    if iv.n < 2:
        text = f"{format_number(iv.mean, digits)} (n={iv.n})"
    else:
        text = (
            f"{format_number(iv.mean, digits)} {plus_minus} {format_number(iv.std, digits)} "
            f"[{format_number(iv.low, digits)}, {format_number(iv.high, digits)}] n={iv.n}"
        )
    if marks:
        direction = cell.comparison.direction if cell.comparison else ""
        text += {"better": f" {BETTER}", "worse": f" {WORSE}"}.get(direction, "")
        text += f" {FLAGGED}" if cell.flags else ""
    if with_reference and cell.reference is not None:
        text += f" | paper {format_number(cell.reference, digits)} ({cell.diff:+.{digits}f})"
    return text


def row_text(table: Table, row: str) -> str:
    """A row's label, ``(baseline)`` added to the baseline's."""
    return f"{row} (baseline)" if row == table.baseline else row


def has_references(table: Table) -> bool:
    return any(c.reference is not None for c in table.cells.values())


#: What a metric measured, by the prefix of its name (the first match wins).
METRIC_MEANINGS = (
    ("test_best/", "test split, the best checkpoint (checkpoint.monitor, val/acc by default)"),
    ("test_start/", "test split, before training"),
    ("test/", "test split, the final weights"),
    ("val_start/", "validation split, before training"),
    ("val/best_", "validation split, the best epoch"),
    ("val/", "validation split, the last epoch"),
    ("train/", "training split"),
)


def value_name(table: Table) -> str:
    """The cells' value as a formula of the metric: ``test/acc``, ``100 × (1 − val/best_acc)``."""
    text = f"1 − {table.metric}" if table.error else table.metric
    if table.scale != 1:
        text = f"{table.scale:g} × ({text})" if table.error else f"{table.scale:g} × {text}"
    return text


def measured(table: Table) -> str:
    """What the cells hold: the metric, ``1 −`` and the scale applied, what the metric measured,
    and the metric the sweep declares when the table shows another."""
    text = value_name(table)
    meaning = next((m for prefix, m in METRIC_MEANINGS if table.metric.startswith(prefix)), None)
    if meaning:
        text += f" ({meaning})"
    if table.sweep_metric is not None:
        text += (
            "; the sweep's metric"
            if table.sweep_metric == table.metric
            else f"; the sweep declares {table.sweep_metric}"
        )
    return text


def caption(table: Table, references: bool = False) -> str:
    """What the cells and marks of the main table mean, starting with :func:`measured`."""
    percent = f"{100 * table.confidence:g} %"
    text = (
        f"{measured(table)}: mean ± std [{percent} CI of the mean, Student t] n=runs over "
        f"seeds/folds; "
    )
    holm_text = f"Holm over the table's {_tested(table)} tests, α = {table.alpha:g}"
    if table.baseline is not None:
        text += (
            f"{BETTER} / {WORSE}: significantly better / worse than the baseline "
            f"{table.baseline} ({holm_text}); no best is claimed"
        )
    else:
        text += (
            f"bold: the column's best mean, significantly better than every other cell of the "
            f"column ({holm_text}); {WORSE}: significantly worse than the column's best mean"
        )
    if any(c.flags for c in table.cells.values()):
        text += f"; {FLAGGED}: see below"
    if references:
        text += "; paper = the paper's number, (±d) = ours − paper"
    return text


def cell_notes(table: Table) -> list[str]:
    """The table's notes, then one line per flag of a cell (``† row / column: ...``)."""
    lines = list(table.notes)
    for row in table.rows:
        for col in table.columns:
            cell = table.cell(row, col)
            for flag in cell.flags if cell else []:
                lines.append(f"{FLAGGED} {row} / {col}: {flag}")
    return lines


def _tested(table: Table) -> int:
    return sum(c.stats.tested for c in table.comparisons)


#: Columns of :func:`comparison_rows`.
COMPARISON_HEADER = ("column", "vs", "Δ", "CI", "test", "p", "p Holm", "effect", "seeds needed")


def comparison_rows(table: Table) -> list[list[str]]:
    """One row of text per comparison, the columns of :data:`COMPARISON_HEADER` after the row."""
    digits = table.digits
    out = []
    for c in table.comparisons:
        s = c.stats
        if s.test:
            sizes = f"{s.n} pairs" if s.test == "paired t" else f"{s.n} vs {s.n_reference} runs"
            test = f"{s.test}, {sizes}" + (f" ({s.note})" if s.note else "")
        else:
            test = s.note
        ci = "–" if math.isnan(s.low) else f"[{s.low:+.{digits}f}, {s.high:+.{digits}f}]"
        effect = "–" if math.isnan(s.effect) else f"{s.effect_kind} {s.effect:+.2f}"
        verdict = {"better": f" {BETTER}", "worse": f" {WORSE}"}.get(c.direction, "")
        seeds = str(c.seeds_needed) if c.seeds_needed is not None else (c.seeds_note or "–")
        if c.seeds_note.startswith("more than"):
            seeds = f">{MAX_SEEDS}"
        out.append(
            [
                c.row,
                c.column,
                c.reference,
                f"{s.delta:+.{digits}f}",
                ci,
                test,
                format_p(s.p),
                format_p(c.p_holm) + verdict,
                effect,
                seeds,
            ]
        )
    return out


def comparison_caption(table: Table) -> str:
    """What the comparison table's columns mean, with the α its seeds are planned at."""
    if not table.comparisons:
        return ""
    first = table.comparisons[0]
    reference = f"the baseline {table.baseline}" if table.baseline else "the column's best mean"
    planned = (
        f"--mde {format_number(table.mde, table.digits)}"
        if table.mde is not None
        else "the observed |Δ|"
    )
    percent = f"{100 * table.confidence:g} %"
    return (
        f"Δ = cell − {reference} ({table.metric}), its {percent} CI and p per comparison "
        f"(paired t-test when both cells have the same seeds, matched by value, else Welch); "
        f"p Holm: adjusted over the table's {_tested(table)} tests. Effect: d_z = mean / SD "
        f"of the paired differences, d = Δ / pooled SD (Welch). Seeds needed: pairs a paired "
        f"t-test needs to detect {planned} with {POWER:.0%} power at α/{len(table.comparisons)} "
        f"= {first.planning_alpha:.2g} (Bonferroni: Holm's strictest step), given the SD of "
        f"the differences seen here (unpaired: sqrt(s1² + s2²)); with few seeds that SD, and "
        f"so this number, is rough."
    )


def comparisons_shown(table: Table) -> bool:
    """A comparison table is worth printing when some comparison was tested or planned."""
    return any(c.stats.tested or c.seeds_needed is not None for c in table.comparisons)


def comparison_summary(table: Table) -> str:
    """One line instead of the comparison table when nothing could be tested."""
    if not table.comparisons or comparisons_shown(table):
        return ""
    reasons = sorted({c.stats.note or c.seeds_note for c in table.comparisons})
    return f"no comparison tested ({len(table.comparisons)} possible): " + "; ".join(reasons)
