"""Learned activation shapes side by side: every seed of a row, and the rows' means.

Each fit with a trainable activation logs its learned shapes at the end
(:data:`~actlab.tracking.plots.CURVES_ARTIFACT`: f(x) of each module evaluated itself, the median
over its channels or elements). This module reads them back with numpy only (no torch) and draws
one figure per row value (activation) overlaying every run's shape per layer, and one figure
overlaying the rows' mean shapes, all on the same axes. ``actlab report --html`` shows them and
logs them, with the page, to a summary run in MLflow (:func:`log_summary`).
"""

from __future__ import annotations

import io
import math
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from actlab.tracking.plots import CURVES_ARTIFACT, new_figure, shown_layers

if TYPE_CHECKING:
    from matplotlib.figure import Figure

#: Suffix of the experiment holding a sweep's summary run (as ``-smoke`` names its smoke runs).
SUMMARY_SUFFIX = "-summary"
#: Name of the summary run (one per experiment, updated by each ``actlab report --html``).
SUMMARY_RUN = "report"


@dataclass
class RunShapes:
    """One run's learned shapes: ``label`` names the run in a legend (its seed, its column)."""

    label: str
    x: np.ndarray
    layers: dict[str, np.ndarray]


def read_shapes(client: Any, run_id: str) -> tuple[np.ndarray, dict[str, np.ndarray]] | None:
    """``(x, {layer key: median f(x)})`` of a run's :data:`CURVES_ARTIFACT`, ``None`` without one."""
    folder, name = CURVES_ARTIFACT.rsplit("/", 1)
    if not any(f.path.endswith(name) for f in client.list_artifacts(run_id, folder)):
        return None
    with tempfile.TemporaryDirectory() as tmp:
        with np.load(client.download_artifacts(run_id, CURVES_ARTIFACT, tmp)) as arrays:
            x = arrays["x"]
            layers = {k[: -len(".median")]: arrays[k] for k in arrays if k.endswith(".median")}
    return x, layers


def _grid(n: int) -> tuple[int, int]:
    cols = 1 if n == 1 else 2
    return math.ceil(n / cols), cols


def _limits(series: Sequence[np.ndarray]) -> tuple[float, float]:
    values = np.concatenate([s.ravel() for s in series]) if series else np.zeros(1)
    low, high = float(values.min()), float(values.max())
    margin = 0.05 * (high - low) or 0.05
    return low - margin, high + margin


def _panels(layers: Sequence[str], title: str, limits: tuple[float, float]) -> tuple[Figure, list]:
    rows, cols = _grid(len(layers))
    fig = new_figure(3.2 * cols + 0.4, 2.8 * rows + 0.7)
    axes = []
    for index, key in enumerate(layers, start=1):
        ax = fig.add_subplot(rows, cols, index)
        ax.set_title(key, fontsize=9)
        ax.set_ylim(*limits)
        ax.axhline(0, color="grey", lw=0.4)
        ax.axvline(0, color="grey", lw=0.4)
        ax.set_xlabel("x", fontsize=8)
        ax.set_ylabel("f(x)", fontsize=8)
        ax.grid(alpha=0.3)
        axes.append(ax)
    fig.suptitle(title, fontsize=10)
    return fig, axes


def shape_figures(
    shapes: Mapping[str, Sequence[RunShapes]], by: str = "activation"
) -> tuple[dict[str, Figure], Figure | None]:
    """Per row value with shapes, a figure overlaying each run's shape (one line per run) in one
    panel per layer; and one figure overlaying each row's mean shape (one line per row). The
    layers shown are the union over all runs (at most four, spread over the net); every panel of
    every figure has the same x and y range."""
    layers = shown_layers(sorted({k for runs in shapes.values() for r in runs for k in r.layers}))
    if not layers:
        return {}, None
    drawn = [r.layers[k] for runs in shapes.values() for r in runs for k in layers if k in r.layers]
    limits = _limits(drawn)
    per_row: dict[str, Figure] = {}
    means: dict[str, dict[str, tuple[np.ndarray, np.ndarray, int]]] = {}
    for row, runs in shapes.items():
        if not runs:
            continue
        fig, axes = _panels(layers, f"learned f(x), {by} = {row}: {len(runs)} runs", limits)
        for key, ax in zip(layers, axes, strict=True):
            mine = [r for r in runs if key in r.layers]
            for r in mine:
                ax.plot(r.x, r.layers[key], lw=1.2, alpha=0.8, label=r.label)
            if mine:
                stacked = np.stack([r.layers[key] for r in mine])
                means.setdefault(row, {})[key] = (mine[0].x, stacked.mean(0), len(mine))
                ax.legend(fontsize=7)
        per_row[row] = fig
    fig, axes = _panels(layers, f"mean learned f(x) per {by}", limits)
    for key, ax in zip(layers, axes, strict=True):
        for row, by_layer in means.items():
            if key in by_layer:
                x, mean, n = by_layer[key]
                ax.plot(x, mean, lw=1.6, label=f"{row} (n={n})")
        ax.legend(fontsize=7)
    return per_row, fig


def row_shapes(
    client: Any,
    runs_by_row: Mapping[str, Sequence[Any]],
    label: Any,
) -> dict[str, list[RunShapes]]:
    """The :class:`RunShapes` of each row's runs (``RunRecord``), labelled by ``label(record)``;
    runs without the artifact (fixed activations, fits before it existed) are left out."""
    found: dict[str, list[RunShapes]] = {}
    for row, records in runs_by_row.items():
        for record in records:
            read = read_shapes(client, record.run_id)
            if read is not None:
                found.setdefault(row, []).append(RunShapes(label(record), *read))
    return found


def figure_png(fig: Figure) -> bytes:
    """``fig`` as PNG bytes."""
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


def log_summary(client: Any, experiment: str, files: Mapping[str, bytes]) -> tuple[str, str]:
    """Log ``files`` (artifact path -> bytes: the page, the figures) to the summary run of
    ``experiment``: run :data:`SUMMARY_RUN` of experiment ``<experiment>-summary``, created on
    first use and updated after (the same paths are replaced). Kept apart so that the
    experiment's runs table, charts and reports hold only its runs. Returns
    ``(experiment id, run id)``."""
    name = experiment + SUMMARY_SUFFIX
    found = client.get_experiment_by_name(name)
    experiment_id = found.experiment_id if found else client.create_experiment(name)
    runs = client.search_runs(
        [experiment_id], f"tags.mlflow.runName = '{SUMMARY_RUN}'", max_results=1
    )
    if runs:
        run_id = runs[0].info.run_id
    else:
        tags = {"mlflow.runName": SUMMARY_RUN, "summary_of": experiment}
        run_id = client.create_run(experiment_id, tags=tags).info.run_id
    with tempfile.TemporaryDirectory() as tmp:
        for path, data in files.items():
            local = Path(tmp) / path
            local.parent.mkdir(parents=True, exist_ok=True)
            local.write_bytes(data)
        client.log_artifacts(run_id, tmp)
    client.set_terminated(run_id, "FINISHED")
    return experiment_id, run_id
