"""``actlab report --html``: one self-contained page with the table, a strip plot of each cell's
runs, and per row value its curves and learned activation shapes."""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from actlab.report.curves import curve_figures
from actlab.report.load import RunRecord, key_text, replicate_key
from actlab.report.table import Table, field_label
from actlab.report.text import (
    BETTER,
    COMPARISON_HEADER,
    WORSE,
    caption,
    cell_notes,
    cell_text,
    comparison_caption,
    comparison_rows,
    comparison_summary,
    comparisons_shown,
    has_references,
    row_text,
    value_name,
)


def render_html_table(table: Table) -> str:
    """The table as an HTML ``<table>`` (best cells in bold, the paper's numbers beside), its
    notes, and the comparisons with each column's reference cell."""
    from html import escape

    refs = has_references(table)
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
    if comparisons_shown(table):
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
    activation shape overlaid, and the rows' mean shapes overlaid (:mod:`actlab.report.shapes`;
    runs logged before those existed show their ``act_curves`` image; fixed activations have
    none). ``figures``, when given, receives the shape figures as PNG by artifact path
    (``learned_shapes/<row>.png``, ``learned_shapes/means.png``)."""
    import re
    from html import escape

    from mlflow.tracking import MlflowClient

    from actlab.report import shapes as learned
    from actlab.tracking import links

    client = MlflowClient(tracking_uri)
    records = [r for r in records if r.status == "FINISHED"]
    if where:
        records = [r for r in records if all(r.field(k) == v for k, v in where.items())]
    sections = []
    by_row = {r: [x for x in records if field_label(x, table.row_fields) == r] for r in table.rows}
    curves = curve_figures(client, table, by_row, by, metric)
    several = len(table.columns) > 1

    def run_label(record: RunRecord) -> str:
        seed = key_text(replicate_key(record))
        return f"{field_label(record, table.column_fields)} {seed}" if several else seed

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
