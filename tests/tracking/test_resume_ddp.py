"""A killed fit resumed with ``--ckpt_path last`` continues its run; a DDP fit makes one run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from mlflow.tracking import MlflowClient

from tests.conftest import CONFIGS, REPO, actlab_subprocess, tracking_uri
from tests.tracking.helpers import all_artifacts, metric_steps

QUICKSTART = str(CONFIGS / "quickstart.yaml")
QUIET = ["--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false"]


def only_run(uri: str):
    client = MlflowClient(uri)
    runs = client.search_runs([client.get_experiment_by_name("actlab").experiment_id])
    assert len(runs) == 1, [r.info.run_id for r in runs]
    return client, runs[0]


def last_epoch(path: Path) -> int:
    """Epoch stored in a checkpoint being written by another process (-1 while unreadable)."""
    try:
        return int(torch.load(path, map_location="cpu", weights_only=False)["epoch"])
    except Exception:  # noqa: BLE001 - partially written
        return -1


def logged_steps(mlruns: Path, key: str) -> list[int]:
    """Steps of ``key`` in the (only) run of a store another process is writing ([] while none)."""
    try:
        client, run = only_run(tracking_uri(mlruns))
        return metric_steps(client, run.info.run_id, key)
    except Exception:  # noqa: BLE001 - store or run not created yet
        return []


@pytest.mark.slow
def test_killed_fit_resumed_from_last_continues_the_same_run(tmp_path: Path) -> None:
    mlruns = tmp_path / "mlruns"
    env = {**os.environ, "PYTHONPATH": str(REPO), "ACTLAB_MLRUNS": str(mlruns)}
    env.pop("MLFLOW_TRACKING_URI", None)
    args = ["fit", "--config", QUICKSTART, *QUIET, "--trainer.max_epochs", "4",
            "--trainer.callbacks+=tests.tracking.helpers.SlowEpochs",
            "--trainer.callbacks.init_args.seconds", "1.5"]  # fmt: skip
    proc = subprocess.Popen(
        [sys.executable, "-m", "actlab", *args],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and proc.poll() is None:
            lasts = list(mlruns.glob("*/*/checkpoints/last.ckpt"))
            # Kill after the second epoch has ended: checkpointed and its train metrics logged
            # (Lightning logs epoch-level train metrics after the checkpoint is written).
            if lasts and last_epoch(lasts[0]) >= 1 and 1 in logged_steps(mlruns, "train/loss"):
                break
            time.sleep(0.2)
        assert proc.poll() is None, "fit ended before it could be killed"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    client, run = only_run(tracking_uri(mlruns))
    assert run.info.status == "RUNNING"  # killed: nobody could end it
    run_id = run.info.run_id

    resumed = actlab_subprocess(
        ["fit", "--config", QUICKSTART, *QUIET, "--trainer.max_epochs", "5", "--ckpt_path", "last"],
        env={"ACTLAB_MLRUNS": str(mlruns), "MLFLOW_TRACKING_URI": ""},
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    client, run = only_run(tracking_uri(mlruns))
    assert run.info.run_id == run_id
    assert run.info.status == "FINISHED"
    for key in ("val/acc", "train/loss", "time/epoch_seconds", "val/best_acc"):
        assert metric_steps(client, run_id, key) == [0, 1, 2, 3, 4], key
    assert metric_steps(client, run_id, "test/acc") == [5]
    # The changed max_epochs is kept (MLflow params are immutable) and flagged.
    assert run.data.params["trainer.max_epochs"] == "4"
    assert run.data.tags["resumed_param_changed.trainer.max_epochs"] == "4 -> 5"
    files = all_artifacts(client, run_id)
    assert "confusion/val_epoch004.csv" in files and "confusion/test_best.csv" in files


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
    # Counts are summed over both ranks: the whole split, not one rank's half, and only once
    # (WDBC: 40 validation samples; 171 test samples, padded to 172 by DistributedSampler).
    for name, size in (("val_epoch001", 40), ("test", 172), ("test_best", 172)):
        local = client.download_artifacts(run_id, f"confusion/{name}.csv", str(tmp_path))
        rows = Path(local).read_text().strip().splitlines()[1:]
        assert sum(int(v) for row in rows for v in row.split(",")[1:]) == size, name
