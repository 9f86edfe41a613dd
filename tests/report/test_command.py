"""``actlab report`` end to end on a small experiment written straight to MLflow: by name and by
sweep file, every format, --baseline, --html, --curves and --where."""

from __future__ import annotations

import csv
import io
import statistics
from pathlib import Path

import pytest
import yaml
from mlflow.tracking import MlflowClient

from actlab.sweep.resolve import grid_identities
from actlab.sweep.spec import SweepSpec, parse_where
from tests.helpers import run_actlab, tracking_uri
from tests.report.helpers import QUICKSTART, RUNS, client_runs, make_experiment


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
        if len(values) > 1:
            assert float(cell["std"]) == pytest.approx(statistics.stdev(values))
        else:
            assert cell["std"] == cell["ci_low"] == ""  # one run: no spread, no interval
        assert int(cell["n"]) == len(values)
    # a sweep file supplies experiment, layout, scale and references
    sweep = mlruns.parent / "sweep.yaml"
    sweep.write_text(
        yaml.safe_dump(
            {
                "experiment": "small",
                "base": str(QUICKSTART),
                "grid": {
                    "model.init_args.activation": ["relu", "prelu"],
                    "model": [  # the runs' column, a setting of their configs
                        {"label": "mlp", "model.init_args.backbone_kwargs.drop_rate": 0.1},
                        {"label": "cnn", "model.init_args.backbone_kwargs.drop_rate": 0.2},
                    ],
                },
                "report": {"rows": "activation", "columns": "model", "scale": 100, "digits": 1},
                "references": {"prelu": {"cnn": 95.5}},
            }
        )
    )
    # the runs are of the grid's configurations: what actlab fit would have tagged them with
    spec = SweepSpec.load(sweep)
    identities = grid_identities(spec).values()
    hashes = {
        (r.labels["activation"], r.labels["model"]): i.config_hash
        for r, i in zip(spec.runs(), identities, strict=True)
    }
    for run in client_runs(uri, "small"):
        cell = (run.data.tags["axis.activation"], run.data.tags["model"])
        MlflowClient(uri).set_tag(run.info.run_id, "config_hash", hashes[cell])
    capsys.readouterr()
    assert run_actlab(["report", str(sweep), "--format", "markdown"]) == 0
    md = capsys.readouterr().out
    assert "| prelu | 94.0 ± 1.4 [81.3, 106.7] n=2 | 94.0 (n=1) \\| paper 95.5 (-1.5) |" in md
    assert run_actlab(["report", str(sweep), "--baseline", "relu", "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert {r["vs"] for r in rows} == {"", "relu"}
    assert run_actlab(["report", str(sweep), "--baseline", "gelu"]) == 2
    assert "unknown --baseline row 'gelu'" in capsys.readouterr().err
    html = mlruns.parent / "report.html"
    assert run_actlab(["report", str(sweep), "--baseline", "relu", "--html", str(html)]) == 0
    page = html.read_text()
    assert '<img class="strips"' in page and "no comparison tested (2 possible)" in page
    png = mlruns.parent / "curves.png"
    assert run_actlab(["report", str(sweep), "--where", "model=mlp", "--curves", str(png)]) == 0
    assert png.stat().st_size > 1000
    assert run_actlab(["report", "nope"]) == 2
    assert "unknown experiment" in capsys.readouterr().err


def test_report_where_reads_values_as_written_like_sweep_where() -> None:
    """``actlab report --where`` parsed values as YAML: ``1.10`` matched no run tagged 1.10
    (it became 1.1) and ``true`` became ``True``."""
    from actlab.errors import ActlabError
    from actlab.report.command import _where

    assert _where(["lr=1.10", "augment=true", "head=null"]) == {
        "lr": "1.10",
        "augment": "true",
        "head": "null",
    }
    assert parse_where(["lr=1.10"], "x") == {"lr": ["1.10"]}  # the sweep's, the same text
    with pytest.raises(ActlabError, match="one value per field; lr has several"):
        _where(["lr=0.1", "lr=0.2"])
