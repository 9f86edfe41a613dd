"""``actlab report`` says what it measured: the metric, its scale and ``1 −``, what the metric
measured and the metric the sweep declares, in every format; the sweep's scale holds for any
``--metric``; the HTML's figures share one axis per metric."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
import yaml
from mlflow.tracking import MlflowClient

from actlab.report.curves import curve_figures
from actlab.report.load import load_records
from actlab.report.render_html import render_html_table, strip_plot
from actlab.report.render_text import FORMATS, render
from actlab.report.table import build_table
from actlab.sweep.resolve import grid_identities
from actlab.sweep.spec import SweepSpec
from tests.helpers import run_actlab, tracking_uri
from tests.report.helpers import QUICKSTART, RUNS, records

SAYS = "100 × test_best/acc (test split, the best checkpoint"


def table_of(metric: str = "test_best/acc", sweep_metric: str | None = "test/acc"):
    runs = records()
    for r in runs:
        r.metrics["test_best/acc"] = r.metrics.get("test/acc", 0.5) - 0.01
    table = build_table(runs, ["activation"], ["model"], metric, scale=100)
    table.sweep_metric = sweep_metric
    return table


@pytest.mark.parametrize("fmt", [*FORMATS, "html"])
def test_every_format_names_the_metric_its_scale_and_the_sweeps(fmt: str) -> None:
    table = table_of()
    text = render_html_table(table) if fmt == "html" else render(table, fmt)
    if fmt == "csv":
        [measured] = {row["measured"] for row in csv.DictReader(io.StringIO(text))}
        text = measured
    text = " ".join(text.split())  # rich wraps its caption
    assert SAYS in text and "the sweep declares test/acc" in text, text
    same = table_of("test/acc")
    assert "; the sweep's metric" in render(same, "markdown")
    error = build_table(records(), ["activation"], ["model"], "val/best_acc", scale=100, error=True)
    assert "100 × (1 − val/best_acc) (validation split, the best epoch)" in render(error, "latex")


def test_strip_plot_panels_share_the_metrics_axis() -> None:
    fig = strip_plot(table_of())
    first, second = fig.axes[:2]
    assert first.get_xlim() == second.get_xlim()
    assert first.get_xlabel() == "100 × test_best/acc"


def small_sweep(mlruns: Path) -> Path:
    """An experiment of 2 activations x 2 models x 2 seeds (test/acc and test_best/acc, val/acc
    per epoch; prelu's curves an order of magnitude apart from relu's) and its sweep file, the
    runs tagged with the config hashes of the sweep's grid (as ``actlab fit`` would tag them)."""
    uri = tracking_uri(mlruns)
    mlruns.mkdir(parents=True, exist_ok=True)
    sweep = mlruns.parent / "sweep.yaml"
    report = {"rows": "activation", "columns": "model", "metric": "test/acc", "scale": 100}
    grid = {
        "model.init_args.activation": ["relu", "prelu"],
        "model": [
            {"label": "mlp", "model.init_args.backbone_kwargs.drop_rate": 0.1},
            {"label": "cnn", "model.init_args.backbone_kwargs.drop_rate": 0.2},
        ],
    }
    sweep.write_text(
        yaml.safe_dump(
            {"experiment": "small", "base": str(QUICKSTART), "grid": grid, "report": report}
        )  # fmt: skip
    )
    spec = SweepSpec.load(sweep)
    hashes = {
        (r.labels["activation"], r.labels["model"]): i.config_hash
        for r, i in zip(spec.runs(), grid_identities(spec).values(), strict=True)
    }
    client = MlflowClient(uri)
    exp = client.create_experiment("small")
    for act, model, seed, acc in RUNS:
        tags = {"axis.activation": act, "axis.model": model, "seed": str(seed),
                "config_hash": hashes[(act, model)]}  # fmt: skip
        run = client.create_run(exp, tags=tags).info.run_id
        for epoch in range(3):
            value = acc * (epoch + 1) / 3 / (10 if act == "prelu" else 1)
            client.log_metric(run, "val/acc", value, step=epoch)
        client.log_metric(run, "test/acc", acc)
        client.log_metric(run, "test_best/acc", acc - 0.01)
        client.set_terminated(run, "FINISHED")
    return sweep


def test_the_sweeps_scale_holds_for_another_metric(mlruns: Path, capsys) -> None:
    sweep = small_sweep(mlruns)
    assert (
        run_actlab(["report", str(sweep), "--metric", "test_best/acc", "--format", "markdown"]) == 0
    )
    out = capsys.readouterr().out
    # relu: test_best/acc 0.89, 0.91 (mlp) and 0.94 (cnn), in percent as the sweep says
    assert "| relu | 90.00 ± 1.41 [77.29, 102.71] n=2 | 94.00 (n=1) |" in out, out
    assert SAYS in out and "the sweep declares test/acc" in out
    assert run_actlab(["report", str(sweep), "--metric", "test_best/acc", "--scale", "1"]) == 0
    assert "0.94" in capsys.readouterr().out


def test_the_htmls_curves_share_one_y_axis_across_rows(mlruns: Path) -> None:
    small_sweep(mlruns)
    uri = tracking_uri(mlruns)
    runs = load_records(uri, "small")
    table = build_table(runs, ["activation"], ["model"], "test/acc")
    by_row = {row: [r for r in runs if r.field("activation") == row] for row in table.rows}
    figures = curve_figures(MlflowClient(uri), table, by_row, "activation", "val/acc")
    relu, prelu = (figures[row].axes[0].get_ylim() for row in ("relu", "prelu"))
    assert relu == prelu and relu[0] < 0.03 and relu[1] > 0.95
