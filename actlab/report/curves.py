"""Curves of a metric per epoch over an experiment's runs: the mean and min–max band per row
value (``actlab report --curves``), and one figure per row on a shared y-axis (the HTML page)."""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from actlab.errors import ActlabError
from actlab.report.load import RunRecord
from actlab.report.table import Table, field_label


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


def _curves_by_column(
    client: Any, records: Sequence[RunRecord], fields: Sequence[str], metric: str
) -> dict[str, tuple[int, list[tuple[int, float, float, float]]]]:
    """:func:`mean_curves` of ``records`` with one line per column label."""
    labelled = []
    for record in records:
        tags = {**record.tags, "axis.__column__": field_label(record, fields) or metric}
        labelled.append(
            RunRecord(record.run_id, tags, record.params, record.metrics, record.status)
        )
    return mean_curves(client, labelled, "__column__", metric)
