"""Resuming keeps the history right: a resumed run that finishes keeps its earlier ``error`` as
``error.previous`` only; a run deleted in the UI is never resumed into (a new run starts)."""

from __future__ import annotations

from pathlib import Path

from mlflow.tracking import MlflowClient

from tests.helpers import CONFIGS, run_actlab, tracking_uri

FIT = ["fit", "--config", str(CONFIGS / "quickstart.yaml"), "--trainer.enable_progress_bar",
       "false", "--trainer.enable_model_summary", "false", "--trainer.limit_train_batches", "2"]  # fmt: skip


def failed_run(mlruns: Path, error: str) -> tuple[MlflowClient, str, Path]:
    """A 1-epoch fit whose run is then marked FAILED with ``error`` (as a crash leaves it)."""
    assert run_actlab([*FIT, "--trainer.max_epochs", "1"]) == 0
    client = MlflowClient(tracking_uri(mlruns))
    (run,) = client.search_runs([client.get_experiment_by_name("quickstart").experiment_id])
    client.set_tag(run.info.run_id, "error", error)
    client.set_terminated(run.info.run_id, "FAILED")
    (last,) = mlruns.glob(f"*/{run.info.run_id}/checkpoints/last.ckpt")
    return client, run.info.run_id, last


def test_a_resumed_run_that_finishes_keeps_its_old_error_as_history(mlruns: Path) -> None:
    client, run_id, last = failed_run(mlruns, "killed by SIGKILL")
    assert run_actlab([*FIT, "--trainer.max_epochs", "2", "--ckpt_path", str(last)]) == 0
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert "error" not in run.data.tags  # was: FINISHED with the old attempt's error
    assert run.data.tags["error.previous"] == "killed by SIGKILL"


def test_a_run_deleted_in_the_ui_starts_a_new_run(mlruns: Path) -> None:
    client, run_id, last = failed_run(mlruns, "interrupted")
    client.delete_run(run_id)
    assert run_actlab([*FIT, "--trainer.max_epochs", "2", "--ckpt_path", str(last)]) == 0
    experiment = client.get_experiment_by_name("quickstart").experiment_id
    (new,) = client.search_runs([experiment])  # the deleted one is not listed
    assert new.info.run_id != run_id and new.info.status == "FINISHED"
    assert client.get_run(run_id).info.status == "FAILED"  # the deleted run is left as it was


def test_resuming_an_older_checkpoint_starts_a_new_run(mlruns: Path) -> None:
    """From epoch 0's checkpoint of a run that reached epoch 2: the run kept epochs 1-2 of the
    abandoned weights and dropped the retrained ones (a mix); now a new run trains on."""
    every = ["--checkpoint.save_top_k", "-1", "--checkpoint.monitor", "null"]
    assert run_actlab([*FIT, *every, "--trainer.max_epochs", "3"]) == 0
    client = MlflowClient(tracking_uri(mlruns))
    experiment = client.get_experiment_by_name("quickstart").experiment_id
    (run,) = client.search_runs([experiment])
    client.set_terminated(run.info.run_id, "FAILED")  # a run a resume would write into
    (older,) = mlruns.glob(f"*/{run.info.run_id}/checkpoints/best-epoch000.ckpt")
    history = [m.value for m in client.get_metric_history(run.info.run_id, "val/acc")]
    assert run_actlab([*FIT, *every, "--trainer.max_epochs", "3", "--ckpt_path", str(older)]) == 0
    assert [m.value for m in client.get_metric_history(run.info.run_id, "val/acc")] == history
    (new,) = [r for r in client.search_runs([experiment]) if r.info.run_id != run.info.run_id]
    assert new.data.tags["continued_from"] == run.info.run_id
    assert new.data.tags["config_hash"] != run.data.tags["config_hash"]
    assert len(client.get_metric_history(new.info.run_id, "val/acc")) == 2  # epochs 1 and 2
