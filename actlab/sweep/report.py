"""Tables of a metric over an experiment's runs (mean ± std over seeds and folds) and curve plots.

Rows and columns are *fields* of a run, looked up in this order: the sweep tag ``axis.<name>``,
the tag ``<name>`` (``backbone``, ``activation``, ``head``, ``dataset``, ``seed``), the param
``<name>``. Runs that agree
on every row and column field form a cell; whatever else differs among them (seeds, folds) is
averaged. The best cell of each column is marked; with reference numbers each cell also shows the
paper's value and the difference ours − paper.
"""

from __future__ import annotations

import csv
import io
import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from actlab.errors import ActlabError

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


@dataclass
class Cell:
    """The runs of one table cell, summarised."""

    values: list[float]
    reference: float | None = None
    best: bool = False

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
    def diff(self) -> float | None:
        return None if self.reference is None or not self.values else self.mean - self.reference


@dataclass
class Table:
    """A report table: row and column labels, cells keyed by (row, column), display settings."""

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

    def cell(self, row: str, column: str) -> Cell | None:
        return self.cells.get((row, column))


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
) -> Table:
    """Group ``records`` into a table of ``metric`` (``scale * metric`` or ``scale * (1 - metric)``).

    Only FINISHED runs count. A field a run lacks is left out of its row or column label; runs
    with none of the row fields or none of the column fields, or without the metric, are left
    out and counted in ``Table.notes``. Row and column order: first appearance in ``records``, which
    :func:`load_records` gives oldest first, i.e. the sweep's order.
    """
    if mode not in (None, "max", "min"):
        raise ActlabError(f"mode must be max or min, got {mode!r}")
    mode = mode or guess_mode(metric, error)
    references = references or {}
    grouped: dict[tuple[str, str], list[float]] = {}
    row_order: dict[str, None] = {}
    col_order: dict[str, None] = {}
    missing_metric = missing_field = 0
    for record in records:
        if record.status != "FINISHED":
            continue
        if where and any(record.field(k) != v for k, v in where.items()):
            continue
        # a field a run lacks is left out of its label (grid parts may have different axes)
        row, col = _label(record, rows), _label(record, columns)
        if not row or not col:
            missing_field += 1
            continue
        if metric not in record.metrics:
            missing_metric += 1
            continue
        value = record.metrics[metric]
        value = scale * ((1.0 - value) if error else value)
        row_order.setdefault(row)
        col_order.setdefault(col)
        grouped.setdefault((row, col), []).append(value)
    cells = {
        key: Cell(values, references.get(key[0], {}).get(key[1])) for key, values in grouped.items()
    }
    for col in col_order:
        column_cells = [c for (_, cc), c in cells.items() if cc == col]
        if not column_cells:
            continue
        pick = max if mode == "max" else min
        best = pick(c.mean for c in column_cells)
        for c in column_cells:
            c.best = c.mean == best
    notes = []
    if missing_field:
        notes.append(f"{missing_field} runs lack all row or all column fields and are left out")
    if missing_metric:
        notes.append(f"{missing_metric} runs lack the metric {metric!r} and are left out")
    return Table(
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
    )


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


def format_number(value: float | None, digits: int) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:.{digits}f}"


def cell_text(cell: Cell | None, digits: int, with_reference: bool, plus_minus: str = "±") -> str:
    """``mean ± std`` (``n`` runs), then ``paper P (Δ d)`` when a reference exists."""
    if cell is None:
        return "–"
    text = f"{format_number(cell.mean, digits)} {plus_minus} {format_number(cell.std, digits)}"
    if with_reference and cell.reference is not None:
        text += f" | paper {format_number(cell.reference, digits)} ({cell.diff:+.{digits}f})"
    return text


def _has_references(table: Table) -> bool:
    return any(c.reference is not None for c in table.cells.values())


def render_markdown(table: Table) -> str:
    refs = _has_references(table)
    header = [table.row_title, *table.columns]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in table.rows:
        texts = []
        for col in table.columns:
            cell = table.cell(row, col)
            text = cell_text(cell, table.digits, refs)
            texts.append(f"**{text}**" if cell is not None and cell.best else text)
        lines.append("| " + " | ".join([row, *texts]) + " |")
    caption = f"{table.metric}: mean ± std over seeds/folds; best per column in bold"
    if refs:
        caption += "; paper = the paper's number, (±d) = ours − paper"
    return "\n".join([*lines, "", caption, *table.notes]) + "\n"


def render_csv(table: Table) -> str:
    """Long form: one line per cell with mean, std, n, reference, difference and best flag."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["row", "column", "metric", "mean", "std", "n", "reference", "diff", "best"])
    for row in table.rows:
        for col in table.columns:
            cell = table.cell(row, col)
            if cell is None:
                continue
            writer.writerow(
                [
                    row,
                    col,
                    table.metric,
                    repr(cell.mean),
                    repr(cell.std),
                    cell.n,
                    "" if cell.reference is None else repr(cell.reference),
                    "" if cell.diff is None else repr(cell.diff),
                    int(cell.best),
                ]
            )
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


def render_latex(table: Table) -> str:
    refs = _has_references(table)
    lines = [
        r"\begin{tabular}{l" + "c" * len(table.columns) + "}",
        r"\toprule",
        " & ".join(_latex_escape(h) for h in [table.row_title, *table.columns]) + r" \\",
        r"\midrule",
    ]
    for row in table.rows:
        texts = []
        for col in table.columns:
            cell = table.cell(row, col)
            text = _latex_escape(cell_text(cell, table.digits, refs)).replace("±", r"$\pm$")
            texts.append(rf"\textbf{{{text}}}" if cell is not None and cell.best else text)
        lines.append(" & ".join([_latex_escape(row), *texts]) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(lines) + "\n"


def rich_table(table: Table) -> Any:
    from rich.table import Table as RichTable

    refs = _has_references(table)
    out = RichTable(title=table.title or None, caption=f"{table.metric}: mean ± std; best in bold")
    out.add_column(table.row_title, style="bold")
    for col in table.columns:
        out.add_column(col, justify="right")
    for row in table.rows:
        texts = []
        for col in table.columns:
            cell = table.cell(row, col)
            text = cell_text(cell, table.digits, False)
            if cell is not None and refs and cell.reference is not None:
                color = "green" if (cell.diff or 0) >= 0 else "red"
                text += (
                    f"\npaper {format_number(cell.reference, table.digits)} "
                    f"[{color}]({cell.diff:+.{table.digits}f})[/]"
                )
            texts.append(f"[bold green]{text}[/]" if cell is not None and cell.best else text)
        out.add_row(row, *texts)
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
        for note in table.notes:
            console.print(note)
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
    """The table as an HTML ``<table>`` (best cells in bold, the paper's numbers beside)."""
    from html import escape

    refs = _has_references(table)
    head = "".join(f"<th>{escape(h)}</th>" for h in [table.row_title, *table.columns])
    body = []
    for row in table.rows:
        cells = [f"<th>{escape(row)}</th>"]
        for col in table.columns:
            cell = table.cell(row, col)
            text = escape(cell_text(cell, table.digits, refs))
            cells.append(
                f"<td><b>{text}</b></td>" if cell is not None and cell.best else f"<td>{text}</td>"
            )
        body.append("<tr>" + "".join(cells) + "</tr>")
    caption = f"{escape(table.metric)}: mean ± std over seeds/folds; best per column in bold"
    return (
        f"<table><caption>{caption}</caption><thead><tr>{head}</tr></thead>"
        f"<tbody>{''.join(body)}</tbody></table>"
    )


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
) -> str:
    """One self-contained HTML page: the report table, then for each row value (activation) the
    curves of ``metric`` per column value and the learned activation shapes (the last
    ``act_curves`` image of its first run; fixed activations have none)."""
    from html import escape

    from mlflow.tracking import MlflowClient

    from actlab.tracking import links
    from actlab.tracking.plots import new_figure

    client = MlflowClient(tracking_uri)
    records = [r for r in records if r.status == "FINISHED"]
    if where:
        records = [r for r in records if all(r.field(k) == v for k, v in where.items())]
    sections = []
    for row in table.rows:
        mine = [r for r in records if _label(r, table.row_fields) == row]
        parts = [f"<section><h2>{escape(by)} = {escape(row)}</h2>"]
        curves = _curves_by_column(client, mine, table.column_fields, metric)
        if curves:
            fig = new_figure(5.2, 3.6)
            ax = fig.add_subplot()
            _draw_curves(ax, curves, metric)
            ax.set_title(f"{metric}, {by} = {row}", fontsize=10)
            uri = _png_data_uri(_figure_png(fig))
            parts.append(
                f'<img class="curves" alt="{escape(metric)} of {escape(row)}" src="{uri}">'
            )
        else:
            parts.append(f"<p>no run has a history of {escape(metric)}</p>")
        shapes = next(
            (png for r in mine if (png := last_image(client, r.run_id, SHAPES_IMAGE))), None
        )
        if shapes is not None:
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
    notes = "".join(f"<p>{escape(n)}</p>" for n in table.notes)
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
</style></head>
<body><h1>{heading}</h1>{link}
{render_html_table(table)}{notes}
{"".join(sections)}
</body></html>
"""


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
