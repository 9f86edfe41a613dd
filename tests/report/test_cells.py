"""A report cell is one configuration: the config hash ``actlab fit`` tags (resolved config
without seed and fold), only the sweep file's current grid, each (config, seed) once, continued
runs apart, and a cell whose runs differ in an axis that is neither row nor column refused."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from mlflow.tracking import MlflowClient

from actlab.errors import ActlabError
from actlab.report.load import RunRecord, select_runs
from actlab.report.table import build_table
from actlab.sweep.resolve import grid_identities
from actlab.sweep.runner import run_config
from actlab.sweep.spec import SweepSpec
from tests.helpers import CONFIGS, run_actlab, tracking_uri

FAST = {
    "trainer.max_epochs": 1,
    "trainer.limit_train_batches": 2,
    "trainer.enable_progress_bar": False,
    "trainer.enable_model_summary": False,
}


LR = "model.init_args.optimizer.init_args.lr"


def write_sweep(folder: Path, fixed: dict, seeds: list[int]) -> Path:
    path = folder / "sweep.yaml"
    sweep = {
        "experiment": "cells",
        "base": str(CONFIGS / "quickstart.yaml"),
        "seeds": seeds,
        "grid": {"model.init_args.head": ["softmax"]},
        "fixed": {**FAST, **fixed},
        "report": {"rows": "head", "columns": "dataset", "metric": "test/acc"},
    }
    path.write_text(yaml.safe_dump(sweep))
    return path


def fit_run(path: Path, index: int = 0, *extra: str) -> None:
    """One run of the sweep file, fitted in-process as the sweep would start it."""
    spec = SweepSpec.load(path)
    run = spec.runs()[index]
    config = path.parent / f"run{index}.yaml"
    config.write_text(yaml.safe_dump(run_config(run, spec.experiment, spec.experiment)))
    assert run_actlab(["fit", "--config", str(config), *extra]) == 0


def runs_of(uri: str, experiment: str) -> list:
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name(experiment)
    return client.search_runs([exp.experiment_id], order_by=["attributes.start_time ASC"])


@pytest.mark.slow
def test_report_counts_the_current_grid_once_per_seed(
    mlruns: Path, capsys: pytest.CaptureFixture
) -> None:
    """Old grid (lr 0.01), a --set-like trial and a duplicate of seed 0 in one experiment: the
    report of the edited sweep file shows n=1 and says what it left out (before: n=4 pooled)."""
    path = write_sweep(mlruns.parent, {LR: 0.01}, [0])
    fit_run(path)  # the grid before its edit
    path = write_sweep(mlruns.parent, {LR: 0.002}, [0])
    fit_run(path)
    fit_run(path)  # the same config and seed again: the newest counts
    fit_run(path, 0, "--trainer.limit_val_batches", "1")  # a trial with another setting
    uri = tracking_uri(mlruns)
    runs = runs_of(uri, "cells")
    expected = {r.config_hash for r in grid_identities(SweepSpec.load(path)).values()}
    assert [r.data.tags["config_hash"] in expected for r in runs] == [False, True, True, False]
    capsys.readouterr()
    assert run_actlab(["report", str(path), "--format", "markdown"]) == 0
    out = capsys.readouterr().out
    newest = runs[2].data.metrics["test/acc"]
    assert f"| softmax | {newest:.2f} (n=1) |" in out
    assert "2 runs of other configurations not shown" in out
    assert "1 duplicate runs not counted" in out


def test_a_continued_run_is_its_own_configuration(mlruns: Path) -> None:
    """A FINISHED run trained on (``--ckpt_path``) kept the sweep's config hash and was pooled
    with fresh runs; now its hash names what it was continued from."""
    path = write_sweep(mlruns.parent, {}, [0])
    fit_run(path)
    (last,) = mlruns.glob("*/*/checkpoints/last.ckpt")
    fit_run(path, 0, "--ckpt_path", str(last), "--trainer.max_epochs", "2")
    first, continued = runs_of(tracking_uri(mlruns), "cells")
    assert continued.data.tags["continued_from"] == first.info.run_id
    fresh = write_sweep(mlruns.parent, {"trainer.max_epochs": 2}, [0])
    two_epochs = {r.config_hash for r in grid_identities(SweepSpec.load(fresh)).values()}
    assert continued.data.tags["config_hash"] not in {first.data.tags["config_hash"], *two_epochs}


def record(run_id: str, config: str, seed: str, lr: str, acc: float, status: str = "FINISHED"):
    tags = {"config_hash": config, "axis.head": "softmax", "axis.lr": lr, "dataset": "wdbc"}
    params = {"seed_everything": seed, "data.seed": seed, "data.fold": "0", "model.lr": lr}
    return RunRecord(run_id, {**tags, "seed": seed}, params, {"test/acc": acc}, status)


def test_an_axis_that_is_neither_row_nor_column_is_refused() -> None:
    """Two learning rates in one cell were averaged as if they were seeds."""
    runs = [record(f"a{s}", "h1", str(s), "0.1", 0.9) for s in range(3)]
    runs += [record(f"b{s}", "h2", str(s), "0.01", 0.8) for s in range(3)]
    with pytest.raises(ActlabError, match=r"cell softmax / wdbc holds 2 configurations, which "
                       r"differ in lr: .*--rows or --columns"):  # fmt: skip
        build_table(runs, ["head"], ["dataset"], "test/acc")
    table = build_table(runs, ["head", "lr"], ["dataset"], "test/acc")
    assert table.cell("softmax/0.1", "wdbc").n == 3 and table.cell("softmax/0.01", "wdbc").n == 3


def test_duplicates_count_once_and_other_configs_are_counted() -> None:
    runs = [
        record("old", "h1", "0", "0.1", 0.5),
        record("new", "h1", "0", "0.1", 0.9),
        record("failed", "h1", "1", "0.1", 0.0, "FAILED"),
        record("other", "h9", "1", "0.1", 0.1),
    ]
    kept, notes = select_runs(runs, {"h1"})
    assert [r.run_id for r in kept] == ["new", "failed"]
    assert notes == [
        "1 runs of other configurations not shown (not in the sweep file's current grid: an "
        "earlier grid, --set, another sweep file, continued runs)",
        "1 duplicate runs not counted: a configuration and seed FINISHED more than once counts "
        "once, its newest run",
    ]
