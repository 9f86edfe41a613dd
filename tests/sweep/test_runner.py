"""``actlab sweep`` end to end on WDBC: runs, tags, resume after an interruption, failures."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml
from mlflow.tracking import MlflowClient

from actlab.sweep.runner import FAILED, FINISHED, SKIPPED, SweepRunner, last_error_line, run_config
from actlab.sweep.spec import SweepSpec
from tests.helpers import CONFIGS, run_actlab, tracking_uri

FAST = {
    "trainer.max_epochs": 1,
    "trainer.limit_train_batches": 2,
    "trainer.enable_progress_bar": False,
    "trainer.enable_model_summary": False,
}


def write_sweep(tmp_path: Path, heads: list[str], seeds: list[int]) -> Path:
    path = tmp_path / "sweep.yaml"
    sweep = {
        "experiment": "wdbc-sweep",
        "base": str(CONFIGS / "quickstart.yaml"),
        "seeds": seeds,
        "grid": {"model.init_args.head": heads},
        "fixed": FAST,
        "report": {"rows": "head", "columns": "dataset", "metric": "test/acc"},
    }
    path.write_text(yaml.safe_dump(sweep))
    return path


def test_run_config_sets_experiment_and_tags(tmp_path: Path) -> None:
    spec = SweepSpec.load(write_sweep(tmp_path, ["softmax"], [3]))
    (run,) = spec.runs()
    config = run_config(run, "wdbc-sweep-smoke", "wdbc-sweep")
    logger = config["trainer"]["logger"]
    assert logger["class_path"] == "actlab.tracking.ActlabMLFlowLogger"
    assert logger["init_args"]["experiment_name"] == "wdbc-sweep-smoke"
    assert logger["init_args"]["tags"] == {
        "sweep": "wdbc-sweep",
        "config_hash": run.config_hash,
        "seed": "3",
        "axis.head": "softmax",
    }
    assert "logger" not in run.config["trainer"]  # the hash covers the config without tags


def test_gpus_round_robin_over_worker_slots(tmp_path: Path) -> None:
    spec = SweepSpec.load(write_sweep(tmp_path, ["softmax"], [0]))
    runner = SweepRunner(spec, workers=3, gpus=["0", "1"], tracking_uri="sqlite:///x.db")
    assert [runner.environment(s)["CUDA_VISIBLE_DEVICES"] for s in range(3)] == ["0", "1", "0"]
    assert runner.environment(0)["MLFLOW_TRACKING_URI"] == "sqlite:///x.db"
    no_gpu = SweepRunner(spec, gpus=[], tracking_uri="sqlite:///x.db").environment(0)
    assert no_gpu.get("CUDA_VISIBLE_DEVICES") == os.environ.get("CUDA_VISIBLE_DEVICES")


def test_last_error_line() -> None:
    text = "Traceback...\n  File x\nactlab: error: invalid value for 'model.head'\n\n"
    assert last_error_line(text) == "actlab: error: invalid value for 'model.head'"
    assert last_error_line("") == "the run exited with an error and printed nothing"


@pytest.mark.slow
def test_interrupted_sweep_resumes_and_failures_are_recorded(
    mlruns: Path, capsys: pytest.CaptureFixture
) -> None:
    """First pass: 1 of 3 runs (interrupted). Second pass, 2 workers: 1 skipped, 1 finished and
    1 failed (a head that does not exist) recorded FAILED; exit status 1. Third pass reruns
    only the failed one."""
    path = write_sweep(mlruns.parent, ["softmax", "relu", "bogus"], [0])
    uri = tracking_uri(mlruns)
    first = SweepRunner(SweepSpec.load(path), tracking_uri=uri, progress=False)
    first.runs = first.runs[:1]
    assert [r.status for r in first.execute()] == [FINISHED]

    assert run_actlab(["sweep", str(path), "--workers", "2", "--no-progress"]) == 1

    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("wdbc-sweep")
    runs = client.search_runs([exp.experiment_id])
    by_head = {r.data.tags["axis.head"]: r for r in runs}
    assert len(runs) == 3 and sorted(by_head) == ["bogus", "relu", "softmax"]
    assert by_head["softmax"].info.status == "FINISHED"
    assert by_head["relu"].info.status == "FINISHED"
    assert by_head["relu"].data.tags["sweep"] == "wdbc-sweep"
    assert by_head["relu"].data.tags["model"] == "mlp"  # describe() still tags the run
    assert "test/acc" in by_head["relu"].data.metrics
    failed = by_head["bogus"]
    assert failed.info.status == "FAILED"
    assert "invalid value for 'model.head'" in failed.data.tags["sweep.error"]

    again = SweepRunner(SweepSpec.load(path), tracking_uri=uri, progress=False).execute()
    capsys.readouterr()
    assert [r.status for r in again] == [SKIPPED, SKIPPED, FAILED]
    assert run_actlab(["report", str(path), "--format", "markdown"]) == 0
    table = capsys.readouterr().out
    assert table.startswith("| head | wdbc |") and "| softmax |" in table and "| relu |" in table
    assert "bogus" not in table  # FAILED runs are not averaged
