"""``actlab report``: grouping, mean ± std and intervals, comparisons with a baseline or the
column's best (pairing by seed value, Welch fallback, Holm), flags, references and every output
format. The statistics themselves are checked in ``test_stats.py``."""

from __future__ import annotations

import csv
import io
import math
import random
import statistics
from pathlib import Path

import pytest
import yaml
from mlflow.tracking import MlflowClient
from scipy import stats as scipy_stats

from actlab.errors import ActlabError
from actlab.sweep.report import (
    RunRecord,
    Table,
    build_table,
    render,
    render_html_table,
    strip_plot,
)
from actlab.sweep.resolve import grid_identities
from actlab.sweep.spec import SweepSpec
from actlab.sweep.stats import holm
from tests.helpers import CONFIGS, run_actlab, tracking_uri

QUICKSTART = CONFIGS / "quickstart.yaml"


def client_runs(uri: str, experiment: str) -> list:
    client = MlflowClient(uri)
    return client.search_runs([client.get_experiment_by_name(experiment).experiment_id])


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
    # no best is claimed: mlp's pairs all differ by 3 points (no spread to test), cnn has 1 run
    assert not any(cell.best for cell in table.cells.values())
    assert [(c.row, c.column, c.reference) for c in table.comparisons] == [
        ("relu", "mlp", "prelu"),
        ("prelu", "cnn", "relu"),
    ]
    assert [c.stats.note for c in table.comparisons] == [
        "no test: every pair differs by the same amount",
        "no test: 1 pair",
    ]
    assert table.notes == ["1 runs lack the metric 'test/acc' and are left out"]
    # the FAILED run has no FINISHED twin in its cell: the cell says so
    assert relu_mlp.flags == ["1 of 3 runs not FINISHED (FAILED no seed): not counted"]


def test_min_mode_error_and_where() -> None:
    loss = build_table(records(), ["activation"], ["model"], "test/loss")
    assert loss.mode == "min"  # each column's reference is its lowest mean
    assert {(c.column, c.reference) for c in loss.comparisons} == {
        ("mlp", "prelu"),
        ("cnn", "relu"),
    }
    error = build_table(records(), ["activation"], ["model"], "test/acc", error=True, scale=100)
    assert error.cell("relu", "mlp").mean == pytest.approx(9.0)
    assert {(c.column, c.reference) for c in error.comparisons} == {
        ("mlp", "prelu"),
        ("cnn", "relu"),
    }
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
    assert md[2] == (
        "| relu | 91.00 ± 1.41 [78.29, 103.71] n=2 † \\| paper 90.00 (+1.00) | 95.00 (n=1) |"
    )
    assert md[3] == "| prelu | 94.00 ± 1.41 [81.29, 106.71] n=2 | 94.00 (n=1) |"
    assert "no comparison tested (2 possible)" in md[-1]
    rows = list(csv.DictReader(io.StringIO(render(table, "csv"))))
    assert len(rows) == 4
    assert rows[0]["row"] == "relu" and rows[0]["column"] == "mlp" and rows[0]["n"] == "2"
    assert float(rows[0]["mean"]) == pytest.approx(91.0)
    assert float(rows[0]["diff"]) == pytest.approx(1.0)
    assert float(rows[0]["ci_low"]) == pytest.approx(91 - 12.7062047 * 1.0)
    assert rows[0]["flags"].startswith("1 of 3 runs not FINISHED")
    assert rows[1]["reference"] == "" and rows[1]["best"] == "0"
    assert rows[1]["std"] == rows[1]["ci_low"] == "" and rows[1]["n"] == "1"  # no interval
    assert rows[3]["vs"] == "relu" and rows[3]["comparison_note"].startswith("no test")
    latex = render(table, "latex")
    assert latex.startswith(r"\begin{tabular}{lcc}")
    assert r"95.00 (n=1)" in latex and r"91.00 $\pm$ 1.41 [78.29, 103.71] n=2 $\dagger$" in latex
    text = render(table, "rich")
    assert "91.00 ± 1.41 [78.29, 103.71]" in text and "paper 90.00" in text and "(+1.00)" in text


#: Per-seed test accuracy % of three activations (seeds 0-4) and a baseline.
PER_SEED = {
    "relu": [87.6, 87.3, 87.9, 87.5, 87.2],
    "elu": [87.7, 87.2, 88.0, 87.4, 87.4],  # within noise of relu
    "cpaf": [88.9, 88.6, 89.2, 88.8, 88.7],  # about 1.3 above relu, on every seed
}


def seeded(per_seed: dict[str, list[float]], seeds: dict[str, list[int]] | None = None) -> list:
    """RunRecords of ``per_seed``, one per (row, seed), column ``fmnist``, in a shuffled order."""
    out = []
    for act, values in per_seed.items():
        for seed, value in zip((seeds or {}).get(act, range(len(values))), values, strict=True):
            tags = {"axis.activation": act, "dataset": "fmnist", "seed": str(seed)}
            params = {"seed_everything": str(seed), "data.seed": str(seed), "model.lr": "0.001"}
            out.append(RunRecord(f"{act}{seed}", tags, params, {"test/acc": value / 100}))
    random.Random(3).shuffle(out)  # MLflow returns runs in any order
    return out


def test_cells_pair_by_seed_value_whatever_order_the_runs_come_back_in() -> None:
    table = build_table(
        seeded(PER_SEED), ["activation"], ["dataset"], "test/acc", scale=100, baseline="relu"
    )
    assert table.baseline == "relu" and len(table.comparisons) == 2
    by_row = {c.row: c for c in table.comparisons}
    for act in ("elu", "cpaf"):
        expected = scipy_stats.ttest_rel(PER_SEED[act], PER_SEED["relu"])
        comparison = by_row[act]
        assert comparison.stats.test == "paired t" and comparison.stats.n == 5
        assert comparison.stats.p == pytest.approx(expected.pvalue)
        ci = expected.confidence_interval()
        assert comparison.stats.low == pytest.approx(ci.low)
        assert comparison.stats.high == pytest.approx(ci.high)
    adjusted = holm([by_row["elu"].stats.p, by_row["cpaf"].stats.p])
    assert [by_row["elu"].p_holm, by_row["cpaf"].p_holm] == pytest.approx(adjusted)
    assert by_row["cpaf"].significant and by_row["cpaf"].direction == "better"
    assert not by_row["elu"].significant and by_row["elu"].direction == ""
    assert not any(c.best for c in table.cells.values())  # a baseline table claims no best
    # seeds needed at alpha / 2 for the observed difference, and for a given --mde
    assert by_row["cpaf"].planning_alpha == pytest.approx(0.025)
    assert by_row["cpaf"].seeds_needed == 3
    mde = build_table(
        seeded(PER_SEED), ["activation"], ["dataset"], "test/acc", scale=100, baseline="relu",
        mde=0.1,
    )  # fmt: skip
    elu = next(c for c in mde.comparisons if c.row == "elu")
    assert elu.planned_delta == 0.1 and elu.seeds_needed is not None and elu.seeds_needed > 5


def test_best_only_where_significant_against_every_other_cell() -> None:
    three = build_table(seeded(PER_SEED), ["activation"], ["dataset"], "test/acc", scale=100)
    # cpaf leads and beats relu and elu on every seed: significant after Holm
    assert [c.reference for c in three.comparisons] == ["cpaf", "cpaf"]
    assert three.cell("cpaf", "fmnist").best
    assert all(c.direction == "worse" for c in three.comparisons)
    two = build_table(
        seeded({k: PER_SEED[k] for k in ("relu", "elu")}),
        ["activation"],
        ["dataset"],
        "test/acc",
        scale=100,
    )
    assert not any(c.best for c in two.cells.values())  # elu leads relu by noise


def test_unpaired_welch_when_the_seeds_differ() -> None:
    seeds = {"relu": [0, 1, 2, 3, 4], "elu": [0, 1, 2, 3, 4], "cpaf": [5, 6, 7, 8, 9]}
    table = build_table(
        seeded(PER_SEED, seeds), ["activation"], ["dataset"], "test/acc", scale=100,
        baseline="relu",
    )  # fmt: skip
    by_row = {c.row: c for c in table.comparisons}
    assert by_row["elu"].stats.test == "paired t"
    cpaf = by_row["cpaf"].stats
    assert cpaf.test == "Welch t" and cpaf.note == "unpaired: the cells' seeds differ"
    expected = scipy_stats.ttest_ind(PER_SEED["cpaf"], PER_SEED["relu"], equal_var=False)
    assert cpaf.p == pytest.approx(expected.pvalue)


def test_n1_and_n2_cells_are_said() -> None:
    per_seed = {"relu": [87.6, 87.3], "elu": [87.7, 87.2], "cpaf": [88.9]}
    table = build_table(
        seeded(per_seed), ["activation"], ["dataset"], "test/acc", scale=100, baseline="relu"
    )
    by_row = {c.row: c for c in table.comparisons}
    assert by_row["elu"].stats.note == "fewer than 3 pairs" and by_row["elu"].stats.tested
    assert by_row["cpaf"].stats.note == "no test: the cell has 1 run"
    assert by_row["cpaf"].seeds_note == "no estimate: a cell has 1 run"
    md = render(table, "markdown")
    assert "| cpaf | 88.90 (n=1) |" in md
    assert "paired t, 2 pairs (fewer than 3 pairs)" in md


def test_failed_and_mixed_runs_flag_their_cell() -> None:
    runs = seeded(PER_SEED)
    tags = {"axis.activation": "elu", "dataset": "fmnist", "seed": "5", "config_hash": "h5"}
    runs.append(RunRecord("failed", tags, {}, {}, "FAILED"))
    # a FAILED run redone under the same config hash is no loss
    retried = {**tags, "axis.activation": "relu", "seed": "0", "config_hash": "h0"}
    runs.append(RunRecord("retried", retried, {}, {}, "FAILED"))
    relu0 = next(r for r in runs if r.run_id == "relu0")
    relu0.tags["config_hash"] = "h0"
    # cpaf: seed 1 again under another init, and seed 2's run with another learning rate
    again = {"axis.activation": "cpaf", "dataset": "fmnist", "seed": "1", "config_hash": "c1"}
    params = {"seed_everything": "1", "model.lr": "0.001", "model.weight_init": "keras"}
    runs.append(RunRecord("again", again, params, {"test/acc": 0.889}))
    next(r for r in runs if r.run_id == "cpaf1").tags["config_hash"] = "c1"
    next(r for r in runs if r.run_id == "cpaf2").params["model.lr"] = "0.01"
    table = build_table(runs, ["activation"], ["dataset"], "test/acc", baseline="relu")
    assert table.cell("relu", "fmnist").flags == []
    assert table.cell("elu", "fmnist").flags == [
        "1 of 6 runs not FINISHED (FAILED seed 5): not counted"
    ]
    assert table.cell("cpaf", "fmnist").flags == [
        "mixed runs: seed 1 2 times (same config)",
        "mixed configs: runs differ in model.lr (0.001, 0.01); model.weight_init (<absent>, keras)",
    ]
    cpaf = next(c for c in table.comparisons if c.row == "cpaf").stats
    assert cpaf.test == "Welch t" and cpaf.note == "unpaired: a seed repeats in a cell"
    md = render(table, "markdown")
    assert "† elu / fmnist: 1 of 6 runs not FINISHED (FAILED seed 5): not counted" in md


def test_every_format_shows_n_interval_and_comparisons() -> None:
    table = build_table(
        seeded(PER_SEED), ["activation"], ["dataset"], "test/acc", scale=100, baseline="relu"
    )
    cpaf = table.cell("cpaf", "fmnist").interval
    text = f"{cpaf.mean:.2f} ± {cpaf.std:.2f} [{cpaf.low:.2f}, {cpaf.high:.2f}] n=5 ▲"
    md = render(table, "markdown")
    assert f"| cpaf | {text} |" in md and "| relu (baseline) |" in md
    assert "| cpaf | fmnist | relu | +1.34 | [+1.23, +1.45] |" in md and "paired t, 5 pairs" in md
    assert "Holm over the table's 2 tests" in md and "at α/2 = 0.025" in md
    rich = render(table, "rich")
    assert text in rich and "paired t, 5 pairs" in rich and "relu (baseline)" in rich
    latex = render(table, "latex")
    assert r"n=5 $\uparrow$" in latex and r"paired t, 5 pairs" in latex
    assert latex.count(r"\begin{tabular}") == 2
    rows = {r["row"]: r for r in csv.DictReader(io.StringIO(render(table, "csv")))}
    assert rows["relu"]["vs"] == "" and rows["cpaf"]["vs"] == "relu"
    assert rows["cpaf"]["test"] == "paired t" and rows["cpaf"]["direction"] == "better"
    assert float(rows["cpaf"]["ci_low"]) == pytest.approx(cpaf.low)
    assert rows["cpaf"]["significant"] == "1" and rows["cpaf"]["effect_kind"] == "d_z"
    assert int(rows["cpaf"]["seeds_needed"]) == 3
    html = render_html_table(table)
    assert f"<td>{text}</td>" in html and '<table class="comparisons">' in html
    fig = strip_plot(table)
    assert len(fig.axes) == 1 and len(fig.axes[0].collections) == 3  # one strip per cell


def test_an_unknown_baseline_names_the_rows() -> None:
    with pytest.raises(ActlabError, match=r"unknown baseline row 'gelu'.*valid: cpaf, elu, relu"):
        build_table(seeded(PER_SEED), ["activation"], ["dataset"], "test/acc", baseline="gelu")
    assert isinstance(build_table(seeded(PER_SEED), ["activation"], ["dataset"], "a"), Table)


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
