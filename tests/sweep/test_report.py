"""``actlab report``: grouping, mean ± std, best marks, references and every output format."""

from __future__ import annotations

import csv
import io
import math
import statistics
from pathlib import Path

import pytest
import yaml
from mlflow.tracking import MlflowClient

from actlab.sweep.report import RunRecord, build_table, render
from tests.helpers import run_actlab, tracking_uri

#: (activation, model, seed, test/acc)
RUNS = [
    ("relu", "mlp", 0, 0.90),
    ("relu", "mlp", 1, 0.92),
    ("relu", "cnn", 0, 0.95),
    ("prelu", "mlp", 0, 0.93),
    ("prelu", "mlp", 1, 0.95),
    ("prelu", "cnn", 0, 0.94),
]


def records() -> list[RunRecord]:
    out = [
        RunRecord(
            f"r{i}",
            {"axis.activation": act, "model": model, "seed": str(seed)},
            {"data.batch_size": "32"},
            {"test/acc": acc, "test/loss": 1 - acc},
        )
        for i, (act, model, seed, acc) in enumerate(RUNS)
    ]
    out.append(
        RunRecord(
            "failed", {"axis.activation": "relu", "model": "mlp"}, {}, {"test/acc": 0.1}, "FAILED"
        )
    )
    out.append(RunRecord("nometric", {"axis.activation": "relu", "model": "mlp"}, {}, {}))
    return out


def test_cells_mean_std_best_and_references() -> None:
    refs = {"relu": {"mlp": 90.0}, "prelu": {"cnn": 95.0}}
    table = build_table(
        records(), ["activation"], ["model"], "test/acc", scale=100, references=refs
    )
    assert table.rows == ["relu", "prelu"] and table.columns == ["mlp", "cnn"]
    relu_mlp = table.cell("relu", "mlp")
    assert relu_mlp.values == pytest.approx([90.0, 92.0])  # the FAILED run is left out
    assert relu_mlp.mean == pytest.approx(91.0)
    assert relu_mlp.std == pytest.approx(statistics.stdev([90.0, 92.0]))
    assert relu_mlp.diff == pytest.approx(1.0)
    assert table.cell("prelu", "mlp").mean == pytest.approx(94.0)
    assert table.cell("prelu", "cnn").diff == pytest.approx(-1.0)
    assert table.cell("relu", "cnn").std == 0.0 and table.cell("relu", "cnn").reference is None
    best = {(r, c) for (r, c), cell in table.cells.items() if cell.best}
    assert best == {("prelu", "mlp"), ("relu", "cnn")}
    assert table.notes == ["1 runs lack the metric 'test/acc' and are left out"]


def test_min_mode_error_and_where() -> None:
    loss = build_table(records(), ["activation"], ["model"], "test/loss")
    assert {k for k, c in loss.cells.items() if c.best} == {("prelu", "mlp"), ("relu", "cnn")}
    error = build_table(records(), ["activation"], ["model"], "test/acc", error=True, scale=100)
    assert error.cell("relu", "mlp").mean == pytest.approx(9.0)
    assert error.cell("relu", "cnn").best
    only_mlp = build_table(
        records(), ["activation", "seed"], ["model"], "test/acc", where={"model": "mlp"}
    )
    assert only_mlp.rows == ["relu/0", "relu/1", "prelu/0", "prelu/1"] and only_mlp.columns == [
        "mlp"
    ]
    by_param = build_table(records(), ["data.batch_size"], ["model"], "test/acc")
    assert by_param.cell("32", "cnn").mean == pytest.approx(0.945)


def test_render_formats() -> None:
    refs = {"relu": {"mlp": 90.0}}
    table = build_table(
        records(), ["activation"], ["model"], "test/acc", scale=100, references=refs
    )
    md = render(table, "markdown").splitlines()
    assert md[0] == "| activation | mlp | cnn |"
    assert (
        md[2]
        == f"| relu | 91.00 ± {statistics.stdev([90, 92]):.2f} | paper 90.00 (+1.00) | **95.00 ± 0.00** |"
    )
    assert md[3].startswith("| prelu | **94.00 ± 1.41** | 94.00 ± 0.00 |")
    rows = list(csv.DictReader(io.StringIO(render(table, "csv"))))
    assert len(rows) == 4
    assert rows[0]["row"] == "relu" and rows[0]["column"] == "mlp" and rows[0]["n"] == "2"
    assert float(rows[0]["mean"]) == pytest.approx(91.0) and float(
        rows[0]["diff"]
    ) == pytest.approx(1.0)
    assert rows[1]["reference"] == "" and rows[1]["best"] == "1"
    latex = render(table, "latex")
    assert latex.startswith(r"\begin{tabular}{lcc}")
    assert r"\textbf{95.00 $\pm$ 0.00}" in latex
    text = render(table, "rich")
    assert "91.00 ± 1.41" in text and "paper 90.00" in text and "(+1.00)" in text


def make_experiment(uri: str, name: str) -> None:
    """A small experiment written straight to MLflow: 2 activations x 2 models x 2 seeds."""
    client = MlflowClient(uri)
    exp = client.create_experiment(name)
    for act, model, seed, acc in RUNS:
        run = client.create_run(
            exp, tags={"axis.activation": act, "model": model, "seed": str(seed)}
        )
        for epoch in range(3):
            client.log_metric(run.info.run_id, "val/acc", acc * (epoch + 1) / 3, step=epoch)
        client.log_metric(run.info.run_id, "test/acc", acc)
        client.set_terminated(run.info.run_id, "FINISHED")


@pytest.mark.slow
def test_report_command_on_a_small_experiment(mlruns: Path, capsys: pytest.CaptureFixture) -> None:
    uri = tracking_uri(mlruns)
    mlruns.mkdir(parents=True, exist_ok=True)
    make_experiment(uri, "small")
    out_csv = mlruns.parent / "table.csv"
    code = run_actlab(
        [
            "report",
            "small",
            "--rows",
            "activation",
            "--columns",
            "model",
            "--format",
            "csv",
            "-o",
            str(out_csv),
        ]
    )
    assert code == 0
    cells = {(r["row"], r["column"]): r for r in csv.DictReader(out_csv.open())}
    for act, model in {(a, m) for a, m, _, _ in RUNS}:
        values = [acc for a, m, _, acc in RUNS if (a, m) == (act, model)]
        cell = cells[(act, model)]
        assert float(cell["mean"]) == pytest.approx(statistics.fmean(values))
        expected_std = statistics.stdev(values) if len(values) > 1 else 0.0
        assert float(cell["std"]) == pytest.approx(expected_std)
        assert int(cell["n"]) == len(values)
    # a sweep file supplies experiment, layout, scale and references
    base = mlruns.parent / "base.yaml"
    base.write_text("trainer: {max_epochs: 1}\n")
    sweep = mlruns.parent / "sweep.yaml"
    sweep.write_text(
        yaml.safe_dump(
            {
                "experiment": "small",
                "base": "base.yaml",
                "grid": {"model.init_args.activation": ["relu", "prelu"]},
                "report": {"rows": "activation", "columns": "model", "scale": 100, "digits": 1},
                "references": {"prelu": {"cnn": 95.5}},
            }
        )
    )
    capsys.readouterr()
    assert run_actlab(["report", str(sweep), "--format", "markdown"]) == 0
    md = capsys.readouterr().out
    assert "| prelu | **94.0 ± 1.4** | 94.0 ± 0.0 \\| paper 95.5 (-1.5) |" in md.replace(
        " | paper", " \\| paper"
    )
    png = mlruns.parent / "curves.png"
    assert run_actlab(["report", str(sweep), "--where", "model=mlp", "--curves", str(png)]) == 0
    assert png.stat().st_size > 1000
    assert run_actlab(["report", "nope"]) == 2
    assert "unknown experiment" in capsys.readouterr().err


@pytest.mark.slow
def test_plot_curves_means_per_row_value(mlruns: Path) -> None:
    from actlab.sweep.report import load_records, plot_curves

    uri = tracking_uri(mlruns)
    mlruns.mkdir(parents=True, exist_ok=True)
    make_experiment(uri, "curves")
    curves = plot_curves(
        uri,
        load_records(uri, "curves"),
        "activation",
        "val/acc",
        mlruns / "c.png",
        {"model": "mlp"},
    )
    assert sorted(curves) == ["prelu", "relu"]
    assert [s for s, _ in curves["relu"]] == [0, 1, 2]
    assert curves["relu"][2][1] == pytest.approx(0.91)
    assert not math.isnan(curves["prelu"][0][1])


def test_fields_a_run_lacks_are_left_out_of_its_label() -> None:
    recs = [
        RunRecord(
            "a",
            {"axis.activation": "relu", "axis.section": "4.2", "dataset": "fmnist"},
            {},
            {"test/acc": 0.8},
        ),
        RunRecord(
            "b",
            {
                "axis.activation": "relu",
                "axis.section": "4.3",
                "dataset": "c10",
                "axis.structure": "1",
            },
            {},
            {"test/acc": 0.7},
        ),
        RunRecord("c", {"axis.activation": "relu"}, {}, {"test/acc": 0.7}),
    ]
    table = build_table(recs, ["activation"], ["section", "dataset", "structure"], "test/acc")
    assert table.columns == ["4.2/fmnist", "4.3/c10/1"]
    assert table.notes == ["1 runs lack all row or all column fields and are left out"]
