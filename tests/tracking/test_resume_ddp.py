"""A killed fit resumed with ``--ckpt_path last`` continues its run; a DDP fit makes one run."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
import torch
from mlflow.tracking import MlflowClient

from tests.helpers import CONFIGS, actlab_subprocess, run_actlab, tracking_uri
from tests.tracking.helpers import all_artifacts, metric_steps

QUICKSTART = str(CONFIGS / "quickstart.yaml")
QUIET = ["--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false"]


def only_run(uri: str):
    client = MlflowClient(uri)
    runs = client.search_runs([client.get_experiment_by_name("quickstart").experiment_id])
    assert len(runs) == 1, [r.info.run_id for r in runs]
    return client, runs[0]


@pytest.mark.slow
def test_killed_fit_resumed_from_last_continues_the_same_run(tmp_path: Path) -> None:
    """SIGKILL at the end of epoch 1, right after ``last.ckpt`` is written and before Lightning
    logs the epoch's train metrics: the resumed fit logs every epoch exactly once."""
    env = {"ACTLAB_MLRUNS": str(tmp_path / "mlruns"), "MLFLOW_TRACKING_URI": ""}
    uri = tracking_uri(tmp_path / "mlruns")
    killed = actlab_subprocess(
        ["fit", "--config", QUICKSTART, *QUIET, "--trainer.max_epochs", "4",
         "--trainer.callbacks+=tests.tracking.helpers.KillAtEpochEnd",
         "--trainer.callbacks.init_args.epoch", "1"],
        env=env,
    )  # fmt: skip
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    client, run = only_run(uri)
    run_id = run.info.run_id
    assert run.info.status == "RUNNING"  # killed: nobody could end it
    assert metric_steps(client, run_id, "val/acc") == [0, 1]
    assert metric_steps(client, run_id, "train/loss") == [0]  # epoch 1's were never logged

    resumed = actlab_subprocess(
        ["fit", "--config", QUICKSTART, *QUIET, "--trainer.max_epochs", "5", "--ckpt_path", "last"],
        env=env,
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    client, run = only_run(uri)
    assert run.info.run_id == run_id
    assert run.info.status == "FINISHED"
    for key in ("val/acc", "train/loss", "train/acc", "time/epoch_seconds", "val/best_acc"):
        assert metric_steps(client, run_id, key) == [0, 1, 2, 3, 4], key
    assert metric_steps(client, run_id, "test/acc") == [5]
    # The changed max_epochs is kept (MLflow params are immutable) and flagged.
    assert run.data.params["trainer.max_epochs"] == "4"
    assert run.data.tags["resumed_param_changed.trainer.max_epochs"] == "4 -> 5"
    files = all_artifacts(client, run_id)
    assert "confusion/val_epoch004.csv" in files and "confusion/test_best.csv" in files


def test_resume_does_not_log_the_checkpoints_train_metrics_twice(mlruns: Path) -> None:
    """``last.ckpt`` holds the last epoch's train metrics; a run that has them keeps one copy."""
    args = ["fit", "--config", QUICKSTART, *QUIET, "--trainer.max_epochs"]
    assert run_actlab([*args, "2"]) == 0
    client, run = only_run(tracking_uri(mlruns))
    assert metric_steps(client, run.info.run_id, "train/loss") == [0, 1]
    (last,) = mlruns.glob("*/*/checkpoints/last.ckpt")
    saved = torch.load(last, map_location="cpu", weights_only=False)["actlab"]
    assert saved["mlflow_run_id"] == run.info.run_id
    assert saved["train_epoch_metrics"]["epoch"] == 1
    history = client.get_metric_history(run.info.run_id, "train/loss")
    loss = max(history, key=lambda m: m.step).value
    assert saved["train_epoch_metrics"]["metrics"]["train/loss"] == pytest.approx(loss)
    assert "train/acc" in saved["train_epoch_metrics"]["metrics"]
    # A FINISHED run is never reopened (its checkpoint starts a new run): make it the run of a
    # fit that crashed after logging its last epoch, which `--ckpt_path last` resumes in place.
    client.set_terminated(run.info.run_id, "FAILED")
    assert run_actlab([*args, "3", "--ckpt_path", "last"]) == 0
    client, resumed = only_run(tracking_uri(mlruns))
    assert resumed.info.run_id == run.info.run_id
    for key in ("train/loss", "train/acc", "val/acc"):
        assert metric_steps(client, run.info.run_id, key) == [0, 1, 2], key


@pytest.mark.slow
def test_ddp_spawn_on_cpu_makes_one_run_with_synced_confusion(tmp_path: Path) -> None:
    mlruns = tmp_path / "mlruns"
    args = ["fit", "--config", QUICKSTART, *QUIET, "--trainer.max_epochs", "2",
            "--trainer.strategy", "ddp_spawn", "--trainer.devices", "2",
            "--trainer.accelerator", "cpu", "--trainer.sync_batchnorm", "true"]  # fmt: skip
    result = actlab_subprocess(args, env={"ACTLAB_MLRUNS": str(mlruns), "MLFLOW_TRACKING_URI": ""})
    assert result.returncode == 0, result.stderr[-3000:]
    client, run = only_run(tracking_uri(mlruns))
    run_id = run.info.run_id
    assert run.info.status == "FINISHED"
    assert metric_steps(client, run_id, "val/acc") == [0, 1]
    assert metric_steps(client, run_id, "time/epoch_seconds") == [0, 1]
    assert "test/acc" in run.data.metrics and "test_best/acc" in run.data.metrics
    assert "best val accuracy" in result.stdout
    # Counts are summed over both ranks: the whole split, not one rank's half, and every sample
    # once (WDBC: 40 validation samples; 171 test samples, which DistributedSampler padded to 172).
    for name, size in (("val_epoch001", 40), ("test", 171), ("test_best", 171)):
        local = client.download_artifacts(run_id, f"confusion/{name}.csv", str(tmp_path))
        rows = Path(local).read_text().strip().splitlines()[1:]
        assert sum(int(v) for row in rows for v in row.split(",")[1:]) == size, name
    # the same weights tested on one process: the same test accuracy
    (best,) = mlruns.glob(f"*/{run_id}/checkpoints/best-epoch*.ckpt")
    args = ["test", "--config", QUICKSTART, *QUIET, "--trainer.accelerator", "cpu",
            "--ckpt_path", str(best)]  # fmt: skip
    result = actlab_subprocess(args, env={"ACTLAB_MLRUNS": str(mlruns), "MLFLOW_TRACKING_URI": ""})
    assert result.returncode == 0, result.stderr[-3000:]
    exp = client.get_experiment_by_name("quickstart").experiment_id
    (single,) = [r for r in client.search_runs([exp]) if r.info.run_id != run_id]
    assert single.data.metrics["test/acc"] == pytest.approx(run.data.metrics["test_best/acc"])
