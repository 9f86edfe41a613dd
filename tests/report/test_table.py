"""The report table: grouping runs into cells, mean ± std, the mode, scale, error and --where,
references, labels of runs that lack a field, and flags of failed and mixed runs."""

from __future__ import annotations

import statistics

import pytest

from actlab.errors import ActlabError
from actlab.report.load import RunRecord
from actlab.report.render_text import render
from actlab.report.table import Table, build_table
from tests.report.helpers import PER_SEED, records, seeded


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


def test_an_unknown_baseline_names_the_rows() -> None:
    with pytest.raises(ActlabError, match=r"unknown baseline row 'gelu'.*valid: cpaf, elu, relu"):
        build_table(seeded(PER_SEED), ["activation"], ["dataset"], "test/acc", baseline="gelu")
    assert isinstance(build_table(seeded(PER_SEED), ["activation"], ["dataset"], "a"), Table)
