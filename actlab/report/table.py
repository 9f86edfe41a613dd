"""Tables of a metric over an experiment's runs (mean ± std, 95 % CI over seeds and folds), tests
against a baseline or the column's best.

Rows and columns are *fields* of a run, looked up in this order: the sweep tag ``axis.<name>``,
the tag ``<name>`` (``backbone``, ``activation``, ``head``, ``dataset``, ``seed``), the param
``<name>``. Runs that agree
on every row and column field form a cell; whatever else differs among them (seeds, folds) is
averaged. With reference numbers each cell also shows the paper's value and the difference
ours − paper.

Statistics (:mod:`actlab.report.stats`): each cell has n, mean, std and the Student-t interval of
its mean. Each cell is compared with a reference cell of its column: the ``baseline`` row when
one is given, else the column's best mean. Runs pair by the value of their seed and fold
(paired t-test) when both cells have the same seeds, else Welch's t-test; the p-values of the
table are Holm-corrected together. Without a baseline a cell is *best* (bold) only when its
column's best mean is significantly better than every other cell of the column; with one, the
cells significantly better or worse than the baseline are marked ▲ or ▼ and no best is claimed.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from actlab.errors import ActlabError
from actlab.report.compare import CellComparison, compare_cells
from actlab.report.load import (
    REPLICATE_PARAMS,
    ReplicateKey,
    RunRecord,
    key_text,
    replicate_key,
)
from actlab.report.stats import Interval, mean_interval

#: Joins the values of several row or column fields into one label.
LABEL_JOIN = "/"


@dataclass
class Cell:
    """The runs of one table cell, summarised.

    ``keys`` holds each value's ``(seed, fold)`` (for pairing), ``flags`` what makes the cell
    doubtful (runs not FINISHED, runs of different configs), ``best`` whether it is
    significantly the best of its column, ``comparison`` its test against the reference cell.
    """

    values: list[float]
    reference: float | None = None
    best: bool = False
    keys: list[ReplicateKey | None] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)
    confidence: float = 0.95
    comparison: CellComparison | None = None

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def mean(self) -> float:
        return statistics.fmean(self.values) if self.values else math.nan

    @property
    def std(self) -> float:
        """Sample standard deviation (0 for a single run)."""
        return statistics.stdev(self.values) if len(self.values) > 1 else 0.0

    @property
    def interval(self) -> Interval:
        """n, mean, std and the Student-t ``confidence`` interval of the mean (NaN for n = 1)."""
        return mean_interval(self.values, self.confidence)

    @property
    def diff(self) -> float | None:
        return None if self.reference is None or not self.values else self.mean - self.reference


@dataclass
class Table:
    """A report table: row and column labels, cells keyed by (row, column), display settings,
    and the comparisons of each column's cells with its reference cell."""

    metric: str
    rows: list[str]
    columns: list[str]
    cells: dict[tuple[str, str], Cell]
    row_title: str = "activation"
    digits: int = 2
    title: str = ""
    notes: list[str] = field(default_factory=list)
    row_fields: tuple[str, ...] = ()
    column_fields: tuple[str, ...] = ()
    mode: str = "max"
    alpha: float = 0.05
    baseline: str | None = None
    mde: float | None = None
    comparisons: list[CellComparison] = field(default_factory=list)
    #: How the cells were computed from the metric: ``scale * metric`` or ``scale * (1 - metric)``.
    scale: float = 1.0
    error: bool = False
    #: The metric the sweep file's ``report`` declares (``None``: no sweep file).
    sweep_metric: str | None = None

    def cell(self, row: str, column: str) -> Cell | None:
        return self.cells.get((row, column))

    @property
    def confidence(self) -> float:
        return 1.0 - self.alpha


def guess_mode(metric: str, error: bool = False) -> str:
    """``min`` for losses and errors, else ``max``."""
    lower = metric.lower()
    return "min" if error or "loss" in lower or "error" in lower or "seconds" in lower else "max"


def build_table(
    records: Iterable[RunRecord],
    rows: Sequence[str],
    columns: Sequence[str],
    metric: str,
    *,
    mode: str | None = None,
    scale: float = 1.0,
    error: bool = False,
    references: dict[str, dict[str, float]] | None = None,
    digits: int = 2,
    where: dict[str, str] | None = None,
    title: str = "",
    baseline: str | None = None,
    alpha: float = 0.05,
    mde: float | None = None,
) -> Table:
    """Group ``records`` into a table of ``metric`` (``scale * metric`` or ``scale * (1 - metric)``)
    and compare each column's cells (:func:`compare_cells`).

    Only FINISHED runs count; a cell whose other runs left a seed without a FINISHED run, or
    whose runs differ in more than seed and fold, is flagged (:attr:`Cell.flags`). A field a run
    lacks is left out of its row or column label; runs with none of the row fields or none of
    the column fields, or without the metric, are left out and counted in ``Table.notes``. Row
    and column order: first appearance in ``records``, which :func:`~actlab.report.load.load_records` gives oldest
    first, i.e. the sweep's order. ``baseline`` must be a row label (else an ActlabError names
    the rows); ``mde`` is in the table's units (after ``scale``).
    """
    if mode not in (None, "max", "min"):
        raise ActlabError(f"mode must be max or min, got {mode!r}")
    if not 0 < alpha < 1:
        raise ActlabError(f"alpha must be between 0 and 1, got {alpha}")
    mode = mode or guess_mode(metric, error)
    references = references or {}
    grouped: dict[tuple[str, str], list[RunRecord]] = {}
    unfinished: dict[tuple[str, str], list[RunRecord]] = {}
    row_order: dict[str, None] = {}
    col_order: dict[str, None] = {}
    missing_metric = missing_field = 0
    for record in records:
        if where and any(record.field(k) != v for k, v in where.items()):
            continue
        # a field a run lacks is left out of its label (grid parts may have different axes)
        row, col = field_label(record, rows), field_label(record, columns)
        if record.status != "FINISHED":
            if row and col:
                unfinished.setdefault((row, col), []).append(record)
            continue
        if not row or not col:
            missing_field += 1
            continue
        if metric not in record.metrics:
            missing_metric += 1
            continue
        row_order.setdefault(row)
        col_order.setdefault(col)
        grouped.setdefault((row, col), []).append(record)

    one_config_per_cell(grouped, f"{LABEL_JOIN.join(rows)} x {LABEL_JOIN.join(columns)}")

    def value(record: RunRecord) -> float:
        raw = record.metrics[metric]
        return scale * ((1.0 - raw) if error else raw)

    cells = {
        key: Cell(
            [value(r) for r in runs],
            references.get(key[0], {}).get(key[1]),
            keys=[replicate_key(r) for r in runs],
            flags=_unfinished_flags(runs, unfinished.get(key, [])) + _mixing_flags(runs),
            confidence=1.0 - alpha,
        )
        for key, runs in grouped.items()
    }
    notes = []
    if missing_field:
        notes.append(f"{missing_field} runs lack all row or all column fields and are left out")
    if missing_metric:
        notes.append(f"{missing_metric} runs lack the metric {metric!r} and are left out")
    for (row, col), runs in unfinished.items():
        if (row, col) not in grouped:
            statuses = ", ".join(sorted({r.status for r in runs}))
            notes.append(f"{row} / {col}: {len(runs)} runs, none FINISHED ({statuses})")
    table = Table(
        metric=metric,
        rows=list(row_order),
        columns=list(col_order),
        cells=cells,
        row_title=LABEL_JOIN.join(rows),
        digits=digits,
        title=title,
        notes=notes,
        row_fields=tuple(rows),
        column_fields=tuple(columns),
        mode=mode,
        alpha=alpha,
        mde=mde,
        scale=scale,
        error=error,
    )
    if baseline is not None and baseline not in table.rows:
        from actlab.errors import unknown_name_message

        raise ActlabError(unknown_name_message("baseline row", baseline, table.rows))
    compare_cells(table, baseline, mde)
    return table


def _unfinished_flags(finished: Sequence[RunRecord], others: Sequence[RunRecord]) -> list[str]:
    """Runs of a cell that are not FINISHED and not redone: a FAILED run whose config (hash,
    else seed and fold) has a FINISHED run in the cell was retried and is no loss."""

    def identity(record: RunRecord) -> Any:
        return record.tags.get("config_hash") or replicate_key(record) or record.run_id

    done = {identity(r) for r in finished}
    lost = [r for r in others if identity(r) not in done]
    if not lost:
        return []
    listed = ", ".join(f"{r.status} {key_text(replicate_key(r))}" for r in lost[:4])
    more = f" and {len(lost) - 4} more" if len(lost) > 4 else ""
    total = len(finished) + len(lost)
    return [f"{len(lost)} of {total} runs not FINISHED ({listed}{more}): not counted"]


def _mixing_flags(runs: Sequence[RunRecord]) -> list[str]:
    """What makes a cell's runs more than replicates of one config: a seed and fold that occur
    twice (their ``config_hash`` tags differ, or the config was run twice), and params other
    than seed and fold (:data:`REPLICATE_PARAMS`), or the ``sweep`` tag, that differ."""
    flags = []
    by_key: dict[Any, list[RunRecord]] = {}
    for run in runs:
        by_key.setdefault(replicate_key(run), []).append(run)
    repeated = {k: v for k, v in by_key.items() if k is not None and len(v) > 1}
    if repeated:
        parts = []
        for key, group in list(repeated.items())[:3]:
            hashes = sorted({r.tags.get("config_hash", "?") for r in group})
            how = f"config hashes {', '.join(hashes)}" if len(hashes) > 1 else "same config"
            parts.append(f"{key_text(key)} {len(group)} times ({how})")
        flags.append("mixed runs: " + "; ".join(parts))
    names = sorted(set().union(*(r.params for r in runs)) - set(REPLICATE_PARAMS))
    differ = []
    for name in names:
        seen = sorted({r.params.get(name, "<absent>") for r in runs})
        if len(seen) > 1:
            differ.append(f"{name} ({', '.join(seen[:3])}{', ...' if len(seen) > 3 else ''})")
    sweeps = sorted({r.tags["sweep"] for r in runs if "sweep" in r.tags})
    if len(sweeps) > 1:
        differ.append(f"sweep tag ({', '.join(sweeps[:3])})")
    if differ:
        more = f" and {len(differ) - 3} more" if len(differ) > 3 else ""
        flags.append("mixed configs: runs differ in " + "; ".join(differ[:3]) + more)
    return flags


def one_config_per_cell(cells: dict[tuple[str, str], list[RunRecord]], fields: str) -> None:
    """Refuse a cell whose runs are of more than one configuration (``config_hash``).

    A sweep axis (or any setting) that is neither a row nor a column field would otherwise be
    averaged as if it were a seed; splitting the cell silently would hide which field is
    missing from the table, so the report names the fields that differ and stops.
    """
    for (row, col), runs in cells.items():
        hashes = {r.tags["config_hash"] for r in runs if "config_hash" in r.tags}
        if len(hashes) < 2:
            continue
        axes = sorted(
            k.removeprefix("axis.")
            for k in set().union(*(r.tags for r in runs))
            if k.startswith("axis.") and len({r.tags.get(k) for r in runs}) > 1
        )
        params = sorted(
            k
            for k in set().union(*(r.params for r in runs)) - set(REPLICATE_PARAMS)
            if len({r.params.get(k) for r in runs}) > 1
        )
        differ = axes or params[:4] or [f"config hash ({', '.join(sorted(hashes)[:3])})"]
        raise ActlabError(
            f"cell {row} / {col} holds {len(hashes)} configurations, which differ in "
            f"{', '.join(differ)}: a cell is one configuration; add "
            f"{'it' if len(differ) == 1 else 'them'} to --rows or --columns ({fields} now), or "
            "keep one with --where FIELD=VALUE"
        )


def field_label(record: RunRecord, fields: Sequence[str]) -> str:
    """A run's row or column label, as :func:`build_table` joins it."""
    return LABEL_JOIN.join(v for v in (record.field(f) for f in fields) if v is not None)
