"""Tables of a metric over an experiment's runs (mean ± std, 95 % CI over seeds and folds), tests
against a baseline or the column's best, and curve plots.

Rows and columns are *fields* of a run, looked up in this order: the sweep tag ``axis.<name>``,
the tag ``<name>`` (``backbone``, ``activation``, ``head``, ``dataset``, ``seed``), the param
``<name>``. Runs that agree
on every row and column field form a cell; whatever else differs among them (seeds, folds) is
averaged. With reference numbers each cell also shows the paper's value and the difference
ours − paper.

Statistics (:mod:`actlab.sweep.stats`): each cell has n, mean, std and the Student-t interval of
its mean. Each cell is compared with a reference cell of its column: the ``baseline`` row when
one is given, else the column's best mean. Runs pair by the value of their seed and fold
(paired t-test) when both cells have the same seeds, else Welch's t-test; the p-values of the
table are Holm-corrected together. Without a baseline a cell is *best* (bold) only when its
column's best mean is significantly better than every other cell of the column; with one, the
cells significantly better or worse than the baseline are marked ▲ or ▼ and no best is claimed.
"""

from __future__ import annotations

import csv
import io
import math
import statistics
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from actlab.errors import ActlabError
from actlab.sweep.spec import run_identity
from actlab.sweep.stats import (
    MAX_SEEDS,
    POWER,
    Comparison,
    Interval,
    compare,
    holm,
    mean_interval,
    seeds_needed,
)

#: Output formats of :func:`render`.
FORMATS = ("rich", "markdown", "csv", "latex")
#: Joins the values of several row or column fields into one label.
LABEL_JOIN = "/"


@dataclass
class RunRecord:
    """What the report needs from one MLflow run."""

    run_id: str
    tags: dict[str, str]
    params: dict[str, str]
    metrics: dict[str, float]
    status: str = "FINISHED"

    def field(self, name: str) -> str | None:
        """Value of field ``name``: tag ``axis.<name>``, tag ``<name>`` or param ``<name>``."""
        for source, key in ((self.tags, f"axis.{name}"), (self.tags, name), (self.params, name)):
            if key in source:
                return source[key]
        return None


#: Params that carry a run's seed or fold: they differ between the runs of a cell by design.
REPLICATE_PARAMS = ("seed_everything", "data.seed", "data.fold")
#: A run's replicate: its seed and fold (either may be unknown).
ReplicateKey = tuple[str | None, str | None]


def replicate_key(record: RunRecord) -> ReplicateKey | None:
    """``(seed, fold)`` of a run, from the fields ``seed`` and ``fold``, else the params
    ``seed_everything`` / ``data.seed`` and ``data.fold`` (only with ``data.folds`` set: the data
    modules log ``fold: 0`` without folds too); ``None`` when it has neither."""

    def known(value: str | None) -> str | None:
        return None if value in (None, "", "None", "null") else value

    seed = known(record.field("seed"))
    for name in ("seed_everything", "data.seed"):
        seed = seed or known(record.params.get(name))
    fold = known(record.field("fold"))
    if fold is None and known(record.params.get("data.folds")) is not None:
        fold = known(record.params.get("data.fold"))
    return None if seed is None and fold is None else (seed, fold)


def key_text(key: ReplicateKey | None) -> str:
    """``seed 3``, ``seed 3 fold 1``, or ``no seed``."""
    if key is None:
        return "no seed"
    seed, fold = key
    return " ".join(p for p in (seed and f"seed {seed}", fold and f"fold {fold}") if p)


@dataclass
class CellComparison:
    """A cell tested against the reference cell of its column.

    Attributes:
        row: the cell's row.
        column: the cell's column.
        reference: the row it is compared with (the baseline, or the column's best mean).
        stats: the test (:class:`actlab.sweep.stats.Comparison`).
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
    and column order: first appearance in ``records``, which :func:`load_records` gives oldest
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
        row, col = _label(record, rows), _label(record, columns)
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


def load_records(tracking_uri: str, experiment: str) -> list[RunRecord]:
    """Every run of ``experiment`` (oldest first), as :class:`RunRecord`."""
    from actlab.tracking.store import read_sqlite_runs

    stored = read_sqlite_runs(tracking_uri, experiment)  # a local store: no MLflow import
    if stored is not None:
        return [RunRecord(r.run_id, r.tags, r.params, r.metrics, r.status) for r in stored]
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri)
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        names = [e.name for e in client.search_experiments()]
        from actlab.errors import unknown_name_message

        raise ActlabError(unknown_name_message(f"experiment in {tracking_uri}", experiment, names))
    runs = client.search_runs(
        [exp.experiment_id], max_results=50000, order_by=["attributes.start_time ASC"]
    )
    return [
        RunRecord(
            r.info.run_id,
            dict(r.data.tags),
            dict(r.data.params),
            dict(r.data.metrics),
            r.info.status,
        )
        for r in runs
    ]


def select_runs(
    records: Sequence[RunRecord], grid: Collection[str] | None = None
) -> tuple[list[RunRecord], list[str]]:
    """The runs a report counts (oldest first), and one note per kind of run left out.

    With ``grid`` (the config hashes of a sweep file's current grid,
    :func:`actlab.sweep.resolve.grid_identities`) only runs whose tag ``config_hash`` is one of
    them are kept: runs of an edited grid, of ``--set`` trials, of another sweep file writing to
    the experiment and continued runs are left out and counted in one line. Of FINISHED runs
    with one identity (:func:`actlab.sweep.spec.run_identity`: config hash, seed and fold) only
    the newest counts.
    """
    notes = []
    kept = list(records)
    if grid is not None:
        kept = [r for r in records if r.tags.get("config_hash") in grid]
        other = len(records) - len(kept)
        if other:
            notes.append(
                f"{other} runs of other configurations not shown (not in the sweep file's "
                "current grid: an earlier grid, --set, another sweep file, continued runs)"
            )
    newest: dict[tuple[str, ...], RunRecord] = {}
    for record in kept:
        identity = run_identity(record.tags, record.params)
        if identity is not None and record.status == "FINISHED":
            newest[identity] = record  # oldest first: the last one is the newest
    counted = set(map(id, newest.values()))
    selected = [
        r
        for r in kept
        if r.status != "FINISHED" or run_identity(r.tags, r.params) is None or id(r) in counted
    ]
    duplicates = len(kept) - len(selected)
    if duplicates:
        notes.append(
            f"{duplicates} duplicate runs not counted: a configuration and seed FINISHED more than "
            "once counts once, its newest run"
        )
    return selected, notes


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


def _has_references(table: Table) -> bool:
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


def _comparisons_shown(table: Table) -> bool:
    """A comparison table is worth printing when some comparison was tested or planned."""
    return any(c.stats.tested or c.seeds_needed is not None for c in table.comparisons)


def comparison_summary(table: Table) -> str:
    """One line instead of the comparison table when nothing could be tested."""
    if not table.comparisons or _comparisons_shown(table):
        return ""
    reasons = sorted({c.stats.note or c.seeds_note for c in table.comparisons})
    return f"no comparison tested ({len(table.comparisons)} possible): " + "; ".join(reasons)


def _markdown_rows(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    """A markdown table; ``|`` inside a cell (before the paper's number) is escaped, so the cell
    stays one column."""

    def line(texts: Sequence[str]) -> str:
        return "| " + " | ".join(t.replace("|", "\\|") for t in texts) + " |"

    return [line(header), "|" + "---|" * len(header), *(line(r) for r in rows)]


def render_markdown(table: Table) -> str:
    refs = _has_references(table)
    rows = []
    for row in table.rows:
        texts = []
        for col in table.columns:
            cell = table.cell(row, col)
            text = cell_text(cell, table.digits, refs)
            texts.append(f"**{text}**" if cell is not None and cell.best else text)
        rows.append([row_text(table, row), *texts])
    lines = _markdown_rows([table.row_title, *table.columns], rows)
    lines += ["", caption(table, refs), *cell_notes(table)]
    if _comparisons_shown(table):
        header = [table.row_title, *COMPARISON_HEADER]
        lines += ["", *_markdown_rows(header, comparison_rows(table)), ""]
        lines.append(comparison_caption(table))
    elif summary := comparison_summary(table):
        lines.append(summary)
    return "\n".join(lines) + "\n"


#: Columns of :func:`render_csv`: the cell, then its comparison with its column's reference.
CSV_HEADER = (
    "row",
    "column",
    "metric",
    "mean",
    "std",
    "n",
    "reference",
    "diff",
    "best",
    "ci_low",
    "ci_high",
    "confidence",
    "flags",
    "vs",
    "test",
    "n_compared",
    "n_vs",
    "delta",
    "delta_low",
    "delta_high",
    "p",
    "p_holm",
    "effect",
    "effect_kind",
    "significant",
    "direction",
    "seeds_needed",
    "planning_alpha",
    "comparison_note",
    "measured",
)


def render_csv(table: Table) -> str:
    """Long form, one line per cell: n, mean, std, CI, the paper's number and the difference,
    best, flags, and the cell's comparison with its column's reference (empty for the
    reference). ``std`` and the CI are empty for one run; ``diff`` is ours − paper."""

    def num(value: float | None) -> str:
        return "" if value is None or math.isnan(value) else repr(float(value))

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    for row in table.rows:
        for col in table.columns:
            cell = table.cell(row, col)
            if cell is None:
                continue
            iv = cell.interval
            line = [
                row,
                col,
                table.metric,
                num(iv.mean),
                num(iv.std),
                cell.n,
                num(cell.reference),
                num(cell.diff),
                int(cell.best),
                num(iv.low),
                num(iv.high),
                repr(table.confidence),
                "; ".join(cell.flags),
            ]
            c = cell.comparison
            if c is None:
                line += [""] * (len(CSV_HEADER) - 1 - len(line))
            else:
                s = c.stats
                line += [
                    c.reference,
                    s.test,
                    s.n,
                    s.n_reference,
                    num(s.delta),
                    num(s.low),
                    num(s.high),
                    num(s.p),
                    num(c.p_holm),
                    num(s.effect),
                    s.effect_kind,
                    int(c.significant),
                    c.direction,
                    "" if c.seeds_needed is None else c.seeds_needed,
                    repr(c.planning_alpha),
                    "; ".join(n for n in (s.note, c.seeds_note) if n),
                ]
            writer.writerow([*line, measured(table)])
    return buffer.getvalue()


def _latex_escape(text: str) -> str:
    for char, repl in (
        ("\\", r"\textbackslash{}"),
        ("_", r"\_"),
        ("%", r"\%"),
        ("&", r"\&"),
        ("#", r"\#"),
    ):
        text = text.replace(char, repl)
    return text


def _latex_text(text: str) -> str:
    """Escaped, with the report's symbols in math mode (no extra packages)."""
    text = _latex_escape(text)
    for char, repl in (
        ("±", r"$\pm$"),
        (BETTER, r"$\uparrow$"),
        (WORSE, r"$\downarrow$"),
        (FLAGGED, r"$\dagger$"),
        ("Δ", r"$\Delta$"),
        ("−", "-"),
        ("<", r"$<$"),
        (">", r"$>$"),
    ):
        text = text.replace(char, repl)
    return text


def _latex_tabular(header: Sequence[str], rows: Iterable[Sequence[str]], align: str) -> list[str]:
    lines = [
        r"\begin{tabular}{" + align + "}",
        r"\toprule",
        " & ".join(_latex_text(h) for h in header) + r" \\",
        r"\midrule",
    ]
    lines += [" & ".join(r) + r" \\" for r in rows]
    return [*lines, r"\bottomrule", r"\end{tabular}"]


def render_latex(table: Table) -> str:
    """Booktabs tabulars: the table, its caption and notes as comments, the comparisons."""
    refs = _has_references(table)
    rows = []
    for row in table.rows:
        texts = []
        for col in table.columns:
            cell = table.cell(row, col)
            text = _latex_text(cell_text(cell, table.digits, refs))
            texts.append(rf"\textbf{{{text}}}" if cell is not None and cell.best else text)
        rows.append([_latex_text(row_text(table, row)), *texts])
    align = "l" + "c" * len(table.columns)
    lines = _latex_tabular([table.row_title, *table.columns], rows, align)
    lines += [f"% {line}" for line in [caption(table, refs), *cell_notes(table)]]
    if _comparisons_shown(table):
        body = [[_latex_text(t) for t in r] for r in comparison_rows(table)]
        header = [table.row_title, *COMPARISON_HEADER]
        lines += ["", *_latex_tabular(header, body, "ll" + "c" * (len(header) - 2))]
        lines.append(f"% {comparison_caption(table)}")
    elif summary := comparison_summary(table):
        lines.append(f"% {summary}")
    return "\n".join(lines) + "\n"


def rich_table(table: Table) -> Any:
    from rich.markup import escape
    from rich.table import Table as RichTable

    refs = _has_references(table)
    out = RichTable(title=table.title or None, caption=escape(caption(table)))
    out.add_column(table.row_title, style="bold")
    for col in table.columns:
        out.add_column(col, justify="right")
    for row in table.rows:
        texts = []
        for col in table.columns:
            cell = table.cell(row, col)
            text = escape(cell_text(cell, table.digits, False))
            if cell is not None and refs and cell.reference is not None:
                color = "green" if (cell.diff or 0) >= 0 else "red"
                text += (
                    f"\npaper {format_number(cell.reference, table.digits)} "
                    f"[{color}]({cell.diff:+.{table.digits}f})[/]"
                )
            texts.append(f"[bold green]{text}[/]" if cell is not None and cell.best else text)
        out.add_row(escape(row_text(table, row)), *texts)
    return out


def rich_comparisons(table: Table) -> Any:
    """The comparisons as a rich table (significant ones in colour)."""
    from rich.markup import escape
    from rich.table import Table as RichTable

    out = RichTable(caption=escape(comparison_caption(table)))
    for name in [table.row_title, *COMPARISON_HEADER]:
        out.add_column(name, justify="left" if name in ("column", "vs", "test") else "right")
    for comparison, texts in zip(table.comparisons, comparison_rows(table), strict=True):
        color = {"better": "green", "worse": "red"}.get(comparison.direction)
        texts = [escape(t) for t in texts]
        out.add_row(*(f"[{color}]{t}[/]" for t in texts) if color else texts)
    return out


def render(table: Table, fmt: str) -> str:
    """The table as text in ``fmt`` (rich renders to plain text without a terminal)."""
    if fmt == "markdown":
        return render_markdown(table)
    if fmt == "csv":
        return render_csv(table)
    if fmt == "latex":
        return render_latex(table)
    if fmt == "rich":
        from rich.console import Console

        console = Console(file=io.StringIO(), width=200, color_system=None)
        console.print(rich_table(table))
        for note in cell_notes(table):
            console.print(note, markup=False)
        if _comparisons_shown(table):
            console.print(rich_comparisons(table))
        elif summary := comparison_summary(table):
            console.print(summary, markup=False)
        return console.file.getvalue()  # type: ignore[attr-defined]
    raise ActlabError(f"unknown format {fmt!r}; valid: {', '.join(FORMATS)}")


def mean_curves(
    client: Any,
    records: Iterable[RunRecord],
    by: str,
    metric: str,
    where: dict[str, str] | None = None,
) -> dict[str, tuple[int, list[tuple[int, float, float, float]]]]:
    """``metric`` per epoch of the FINISHED runs matching ``where``, grouped by field ``by``:
    ``{label: (runs, [(step, mean, min, max), ...])}`` (min and max over the group's runs)."""
    groups: dict[str, list[dict[int, float]]] = {}
    for record in records:
        if record.status != "FINISHED":
            continue
        if where and any(record.field(k) != v for k, v in where.items()):
            continue
        label = record.field(by)
        if label is None:
            continue
        history = client.get_metric_history(record.run_id, metric)
        if history:
            groups.setdefault(label, []).append({m.step: m.value for m in history})
    curves = {}
    for label, runs in groups.items():
        points = []
        for step in sorted(set().union(*runs)):
            values = [r[step] for r in runs if step in r]
            points.append((step, statistics.fmean(values), min(values), max(values)))
        curves[label] = (len(runs), points)
    return curves


def _draw_curves(
    ax: Any, curves: dict[str, tuple[int, list[tuple[int, float, float, float]]]], metric: str
) -> None:
    for label, (runs, points) in curves.items():
        steps = [p[0] for p in points]
        ax.plot(steps, [p[1] for p in points], label=f"{label} (n={runs})")
        if runs > 1:
            ax.fill_between(steps, [p[2] for p in points], [p[3] for p in points], alpha=0.2)
    ax.set_xlabel("epoch")
    ax.set_ylabel(metric)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)


def plot_curves(
    tracking_uri: str,
    records: Iterable[RunRecord],
    by: str,
    metric: str,
    output: Path,
    where: dict[str, str] | None = None,
    title: str = "",
) -> dict[str, list[tuple[int, float]]]:
    """Plot ``metric`` per epoch, one line per value of field ``by`` (mean over its runs).

    ``where`` picks the cell (e.g. ``{"backbone": "cifar_vgg16", "dataset": "cifar10"}``); the
    band shows min–max over seeds/folds. Returns the plotted mean curves ``{label: [(step, value)]}``.
    """
    from mlflow.tracking import MlflowClient

    from actlab.tracking.plots import new_figure

    curves = mean_curves(MlflowClient(tracking_uri), records, by, metric, where)
    if not curves:
        raise ActlabError(f"no FINISHED run matching {where or {}} has a history of {metric!r}")
    fig = new_figure(6, 4)
    ax = fig.add_subplot()
    _draw_curves(ax, curves, metric)
    ax.set_title(title or ", ".join(f"{k}={v}" for k, v in (where or {}).items()) or metric)
    fig.tight_layout()
    output.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(output, dpi=120)
    return {label: [(p[0], p[1]) for p in points] for label, (_, points) in curves.items()}


def render_html_table(table: Table) -> str:
    """The table as an HTML ``<table>`` (best cells in bold, the paper's numbers beside), its
    notes, and the comparisons with each column's reference cell."""
    from html import escape

    refs = _has_references(table)
    head = "".join(f"<th>{escape(h)}</th>" for h in [table.row_title, *table.columns])
    body = []
    for row in table.rows:
        cells = [f"<th>{escape(row_text(table, row))}</th>"]
        for col in table.columns:
            cell = table.cell(row, col)
            text = escape(cell_text(cell, table.digits, refs))
            cells.append(
                f"<td><b>{text}</b></td>" if cell is not None and cell.best else f"<td>{text}</td>"
            )
        body.append("<tr>" + "".join(cells) + "</tr>")
    html = (
        f"<table><caption>{escape(caption(table, refs))}</caption><thead><tr>{head}</tr></thead>"
        f"<tbody>{''.join(body)}</tbody></table>"
    )
    html += "".join(f"<p>{escape(n)}</p>" for n in cell_notes(table))
    if _comparisons_shown(table):
        head = "".join(f"<th>{escape(h)}</th>" for h in [table.row_title, *COMPARISON_HEADER])
        rows = "".join(
            "<tr>" + "".join(f"<td>{escape(t)}</td>" for t in r) + "</tr>"
            for r in comparison_rows(table)
        )
        html += (
            f'<table class="comparisons"><caption>{escape(comparison_caption(table))}</caption>'
            f"<thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"
        )
    elif summary := comparison_summary(table):
        html += f"<p>{escape(summary)}</p>"
    return html


def strip_plot(table: Table) -> Any:
    """A figure with one panel per column: each cell's per-run values (dots, seed and fold
    jittered apart), its mean and the Student-t interval of the mean (bar), the reference cell's
    mean as a dashed line; ▲ / ▼ / bold in the table are in the labels."""
    from actlab.tracking.plots import new_figure

    columns = table.columns
    width = min(4.2 * len(columns), 16.0)
    fig = new_figure(width, 0.45 * len(table.rows) + 1.6)
    shared = None
    for index, col in enumerate(columns):
        # one x-axis for the metric across the columns' panels
        ax = fig.add_subplot(1, len(columns), index + 1, sharex=shared)
        shared = shared or ax
        labels = []
        for y, row in enumerate(table.rows):
            cell = table.cell(row, col)
            mark = ""
            if cell is not None and cell.comparison and cell.comparison.direction:
                mark = f" {BETTER if cell.comparison.direction == 'better' else WORSE}"
            labels.append(row + (" (best)" if cell is not None and cell.best else "") + mark)
            if cell is None:
                continue
            spread = [((i % 5) - 2) * 0.06 for i in range(cell.n)]
            ax.scatter(cell.values, [y + s for s in spread], s=14, alpha=0.7, color="C0")
            iv = cell.interval
            if iv.n > 1 and not math.isnan(iv.low):
                ax.plot([iv.low, iv.high], [y, y], color="black", linewidth=2)
            ax.plot([iv.mean], [y], marker="|", markersize=14, color="black")
        reference = table.baseline
        if reference is None:
            first = next((c for c in table.comparisons if c.column == col), None)
            reference = first.reference if first else None
        ref = table.cell(reference, col) if reference else None
        if ref is not None:
            ax.axvline(ref.mean, color="gray", linestyle="--", linewidth=1)
        ax.set_yticks(range(len(table.rows)), labels if index == 0 else [""] * len(labels))
        ax.set_ylim(len(table.rows) - 0.5, -0.5)
        ax.set_title(col, fontsize=9)
        ax.set_xlabel(value_name(table), fontsize=8)
        ax.grid(axis="x", alpha=0.3)
    fig.suptitle(
        f"per-run values, mean and {100 * table.confidence:g} % CI of the mean", fontsize=9
    )
    return fig


def _png_data_uri(png: bytes) -> str:
    import base64

    return "data:image/png;base64," + base64.b64encode(png).decode()


def _figure_png(fig: Any) -> bytes:
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


def last_image(client: Any, run_id: str, key: str) -> bytes | None:
    """The PNG of the last step of the step-slider image ``key`` a run logged, if any."""
    import tempfile

    steps = []
    for item in client.list_artifacts(run_id, "images"):
        name = item.path.rsplit("/", 1)[-1]
        parts = name.split("+")
        if name.endswith(".png") and parts[0] == key and "step" in parts:
            steps.append((int(parts[parts.index("step") + 1]), item.path))
    if not steps:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        local = client.download_artifacts(run_id, max(steps)[1], tmp)
        return Path(local).read_bytes()


#: The image each row's section shows as the learned activation shapes.
SHAPES_IMAGE = "act_curves"


def html_report(
    table: Table,
    tracking_uri: str,
    records: Sequence[RunRecord],
    by: str,
    metric: str = "val/acc",
    where: dict[str, str] | None = None,
    title: str = "",
    figures: dict[str, bytes] | None = None,
) -> str:
    """One self-contained HTML page: the report table with its comparisons, a strip plot of each
    cell's per-run values with the interval of its mean (:func:`strip_plot`), then for each row
    value (activation) the curves of ``metric`` per column value and every run's learned
    activation shape overlaid, and the rows' mean shapes overlaid (:mod:`actlab.sweep.shapes`;
    runs logged before those existed show their ``act_curves`` image; fixed activations have
    none). ``figures``, when given, receives the shape figures as PNG by artifact path
    (``learned_shapes/<row>.png``, ``learned_shapes/means.png``)."""
    import re
    from html import escape

    from mlflow.tracking import MlflowClient

    from actlab.sweep import shapes as learned
    from actlab.tracking import links

    client = MlflowClient(tracking_uri)
    records = [r for r in records if r.status == "FINISHED"]
    if where:
        records = [r for r in records if all(r.field(k) == v for k, v in where.items())]
    sections = []
    by_row = {r: [x for x in records if _label(x, table.row_fields) == r] for r in table.rows}
    curves = curve_figures(client, table, by_row, by, metric)
    several = len(table.columns) > 1

    def run_label(record: RunRecord) -> str:
        seed = key_text(replicate_key(record))
        return f"{_label(record, table.column_fields)} {seed}" if several else seed

    overlays, means = learned.shape_figures(learned.row_shapes(client, by_row, run_label), by)
    pngs = {row: learned.figure_png(fig) for row, fig in overlays.items()}
    means_png = learned.figure_png(means) if means is not None else None
    if figures is not None:
        for row, png in pngs.items():
            figures[f"learned_shapes/{re.sub(r'[^A-Za-z0-9_.=-]+', '_', row)}.png"] = png
        if means_png is not None:
            figures["learned_shapes/means.png"] = means_png
    for row in table.rows:
        mine = by_row[row]
        parts = [f"<section><h2>{escape(by)} = {escape(row)}</h2>"]
        if row in curves:
            uri = _png_data_uri(_figure_png(curves[row]))
            parts.append(
                f'<img class="curves" alt="{escape(metric)} of {escape(row)}" src="{uri}">'
            )
        else:
            parts.append(f"<p>no run has a history of {escape(metric)}</p>")
        if row in pngs:
            alt = f"learned activation shapes of every run of {escape(row)}"
            parts.append(f'<img class="shapes" alt="{alt}" src="{_png_data_uri(pngs[row])}">')
        elif (
            shapes := next(
                (png for r in mine if (png := last_image(client, r.run_id, SHAPES_IMAGE))), None
            )
        ) is not None:
            alt = f"learned activation shapes of {escape(row)}"
            parts.append(f'<img class="shapes" alt="{alt}" src="{_png_data_uri(shapes)}">')
        elif any(r.tags.get("activation_trainable") == "true" for r in mine):
            parts.append("<p>trainable activation: no learned-shape image logged</p>")
        else:  # the runs' activation_trainable tag: is_trainable_activation, as in the fit
            parts.append("<p>fixed activation: no learned parameters</p>")
        parts.append("</section>")
        sections.append("".join(parts))
    link = ""
    experiment = client.get_experiment_by_name(title) if title else None
    if experiment is not None:
        url = links.experiment_url(links.ui_url(tracking_uri), experiment.experiment_id)
        link = f'<p><a href="{escape(url)}">open the runs in MLflow</a></p>'
    alt = "per-run values of each cell with the confidence interval of its mean"
    strips = (
        f'<img class="strips" alt="{alt}" src="{_png_data_uri(_figure_png(strip_plot(table)))}">'
    )
    means_html = ""
    if means_png is not None:
        alt = f"mean learned activation shape per {escape(by)}"
        means_html = f'<img class="means" alt="{alt}" src="{_png_data_uri(means_png)}">'
    heading = escape(title or table.metric)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{heading}</title>
<style>
body {{ font-family: sans-serif; margin: 2em; }}
table {{ border-collapse: collapse; margin-bottom: 1em; }}
th, td {{ border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: right; }}
caption {{ caption-side: bottom; font-size: 0.9em; color: #555; }}
section {{ display: inline-block; vertical-align: top; margin: 0 1em 1em 0; }}
img {{ display: block; max-width: 520px; }}
img.strips {{ max-width: 100%; }}
</style></head>
<body><h1>{heading}</h1>{link}
{render_html_table(table)}
{strips}
{means_html}
{"".join(sections)}
</body></html>
"""


def curve_figures(
    client: Any,
    table: Table,
    by_row: dict[str, list[RunRecord]],
    by: str,
    metric: str,
) -> dict[str, Any]:
    """Per row label, a figure of ``metric`` per epoch with one line per column label; every
    figure on the same y-axis (:func:`shared_limits`). Rows without a history have none."""
    from actlab.tracking.plots import new_figure

    row_curves = {
        row: _curves_by_column(client, runs, table.column_fields, metric)
        for row, runs in by_row.items()
    }
    limits = shared_limits(row_curves.values())
    figures = {}
    for row, curves in row_curves.items():
        if not curves:
            continue
        fig = new_figure(5.2, 3.6)
        ax = fig.add_subplot()
        _draw_curves(ax, curves, metric)
        ax.set_ylim(*limits)
        ax.set_title(f"{metric}, {by} = {row}", fontsize=10)
        figures[row] = fig
    return figures


def shared_limits(
    curve_sets: Iterable[dict[str, tuple[int, list[tuple[int, float, float, float]]]]],
) -> tuple[float, float]:
    """One y-range holding every band of every set of :func:`mean_curves` (5 % margin)."""
    values = [
        v for curves in curve_sets for _, points in curves.values() for p in points for v in p[1:]
    ]
    if not values:
        return (0.0, 1.0)
    low, high = min(values), max(values)
    margin = 0.05 * (high - low) or 0.05 * abs(high) or 0.05
    return (low - margin, high + margin)


def _label(record: RunRecord, fields: Sequence[str]) -> str:
    """A run's row or column label, as :func:`build_table` joins it."""
    return LABEL_JOIN.join(v for v in (record.field(f) for f in fields) if v is not None)


def _curves_by_column(
    client: Any, records: Sequence[RunRecord], fields: Sequence[str], metric: str
) -> dict[str, tuple[int, list[tuple[int, float, float, float]]]]:
    """:func:`mean_curves` of ``records`` with one line per column label."""
    labelled = []
    for record in records:
        tags = {**record.tags, "axis.__column__": _label(record, fields) or metric}
        labelled.append(
            RunRecord(record.run_id, tags, record.params, record.metrics, record.status)
        )
    return mean_curves(client, labelled, "__column__", metric)
