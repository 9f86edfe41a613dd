"""`--ckpt_path last` through the CLI: which run a fit continues, and the kill -9 soak."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from tests.helpers import (
    ONE_EPOCH,
    REPO,
    actlab_subprocess,
    all_runs,
    error_lines,
    process_group,
    run_actlab,
    tracking_uri,
)

# -- which run `--ckpt_path last` continues ------------------------------------------------------


def test_ckpt_last_never_touches_another_config_or_a_finished_run(mlruns: Path, capsys) -> None:
    uri = tracking_uri(mlruns)
    assert run_actlab(ONE_EPOCH) == 0
    (finished,) = all_runs(uri)
    run_id = finished.info.run_id
    digits = [*ONE_EPOCH, "--data", "actlab.data.DigitsDataModule", "--ckpt_path", "last"]
    capsys.readouterr()
    assert run_actlab(digits) == 2  # the WDBC checkpoint is not this config's
    assert "no last.ckpt of this configuration" in error_lines(capsys.readouterr().err)[0]

    assert run_actlab([*ONE_EPOCH, "--trainer.max_epochs", "2", "--ckpt_path", "last"]) == 0
    note = capsys.readouterr().err
    assert f"run {run_id} (mlp-relu-wdbc) is FINISHED and a finished run is never changed" in note
    runs = {r.info.run_id: r for r in all_runs(uri)}
    assert len(runs) == 2
    old = runs[run_id]
    assert old.info.status == "FINISHED" and old.info.end_time == finished.info.end_time
    assert old.data.tags == finished.data.tags and old.data.metrics == finished.data.metrics
    (new,) = (r for r in runs.values() if r.info.run_id != run_id)
    assert new.info.status == "FINISHED" and new.data.tags["continued_from"] == run_id
    client = MlflowClient(uri)
    assert [m.step for m in client.get_metric_history(new.info.run_id, "val/acc")] == [1]


def test_ckpt_last_resumes_the_failed_run_and_names_it(mlruns: Path, capsys) -> None:
    crash = ["--trainer.callbacks+=tests.tracking.helpers.FailAfterSteps"]
    # WDBC: 12 training batches an epoch, so this fails in epoch 1, after epoch 0's last.ckpt
    assert run_actlab([*ONE_EPOCH, "--trainer.max_epochs", "2", *crash,
                       "--trainer.callbacks.init_args.steps", "14"]) == 70  # a bug's status  # fmt: skip
    (failed,) = all_runs(tracking_uri(mlruns))
    assert failed.info.status == "FAILED"
    assert failed.data.tags["error"] == "RuntimeError: boom: test-only crash"
    capsys.readouterr()
    assert run_actlab([*ONE_EPOCH, "--trainer.max_epochs", "2", "--ckpt_path", "last"]) == 0
    captured = capsys.readouterr()
    assert (
        f"actlab: resuming run {failed.info.run_id} (mlp-relu-wdbc), FAILED, from" in captured.err
    )
    assert f"{failed.info.run_id}  (mlp-relu-wdbc)" in captured.out  # the summary: no "(None)"
    (resumed,) = all_runs(tracking_uri(mlruns))
    assert resumed.info.run_id == failed.info.run_id and resumed.info.status == "FINISHED"


# -- the soak test: kill -9 at random points, resume, every epoch logged once ------------------


def wait_for_last_ckpt(
    mlruns: Path, after: float, proc: subprocess.Popen, timeout: float = 300
) -> float:
    """Wait until a ``last.ckpt`` under ``mlruns`` is written after ``after``; returns its mtime."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        times = [p.stat().st_mtime for p in mlruns.glob("*/*/checkpoints/last.ckpt")]
        if times and max(times) > after:
            return max(times)
        assert proc.poll() is None, f"the fit ended ({proc.returncode}) before a new last.ckpt"
        time.sleep(0.02)
    raise TimeoutError(f"no new last.ckpt under {mlruns}")


@pytest.mark.slow
def test_soak_kill_9_at_random_points_then_resume_logs_every_epoch_once(tmp_path: Path) -> None:
    import random

    seed = int(os.environ.get("ACTLAB_SOAK_SEED") or random.SystemRandom().randrange(2**32))
    print(f"soak seed {seed}: replay with ACTLAB_SOAK_SEED={seed}")
    rng = random.Random(seed)
    # Every epoch lasts at least `floor` seconds (tests.tracking.helpers.SlowSteps) and each kill
    # comes at most 1.5 floors after a last.ckpt write, so a round ends at most one epoch after
    # the write it waits for, whatever the machine's load: three rounds cannot train more than
    # 6 of the 12 epochs. (A delay scaled by a measured epoch could: on a loaded machine a 1 s
    # first epoch made a 1.52 s delay outlast the last of 8 fast epochs, and the run had
    # FINISHED when it was killed.)
    floor, epochs = 0.6, 12
    mlruns = tmp_path / "mlruns"
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "ACTLAB_MLRUNS": str(mlruns),
        "MLFLOW_TRACKING_URI": "",
    }
    args = [*ONE_EPOCH, "--trainer.max_epochs", str(epochs),
            "--trainer.callbacks+=tests.tracking.helpers.SlowSteps",
            "--trainer.callbacks.init_args.epoch_seconds", str(floor)]  # fmt: skip
    for kill_round in range(3):
        resume = [] if kill_round == 0 else ["--ckpt_path", "last"]
        started = time.time()
        with process_group([sys.executable, "-m", "actlab", *args, *resume], env=env, cwd=tmp_path,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) as proc:  # fmt: skip
            wait_for_last_ckpt(mlruns, started, proc)
            delay = rng.uniform(0, 1.5 * floor)
            print(f"round {kill_round}: kill -9 {delay:.2f} s after a last.ckpt write")
            time.sleep(delay)
            os.killpg(proc.pid, signal.SIGKILL)
            _, err = proc.communicate(timeout=60)
        assert proc.returncode == -signal.SIGKILL, (
            f"round {kill_round} ended by itself: {err[-2000:]}"
        )
        (run,) = all_runs(tracking_uri(mlruns))
        assert run.info.status == "RUNNING"  # killed: nobody could end it

    result = actlab_subprocess([*args, "--ckpt_path", "last"], env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"resuming run {run.info.run_id} (mlp-relu-wdbc), RUNNING" in result.stderr
    (final,) = all_runs(tracking_uri(mlruns))
    assert final.info.run_id == run.info.run_id and final.info.status == "FINISHED"
    client = MlflowClient(tracking_uri(mlruns))
    for key in (
        "train/loss",
        "train/acc",
        "val/loss",
        "val/acc",
        "val/best_acc",
        "time/epoch_seconds",
    ):
        steps = sorted(m.step for m in client.get_metric_history(run.info.run_id, key))
        assert steps == list(range(epochs)), (key, steps, f"seed {seed}")
    epoch_times = client.get_metric_history(run.info.run_id, "time/epoch_seconds")
    assert min(m.value for m in epoch_times) >= floor  # the bound above holds
    assert [m.step for m in client.get_metric_history(run.info.run_id, "test/acc")] == [epochs]


# -- what the store answers about the checkpoint's run ------------------------------------------


def refuse_get_run(monkeypatch: pytest.MonkeyPatch, err: Exception) -> None:
    from mlflow.tracking import MlflowClient

    def get_run(self, run_id: str):
        raise err

    monkeypatch.setattr(MlflowClient, "get_run", get_run)


def test_a_run_the_store_does_not_have_starts_a_new_run(tmp_path: Path) -> None:
    from actlab.fit.resume import run_info

    assert run_info("0123456789abcdef0123456789abcdef", f"sqlite:///{tmp_path}/a.db") is None


def test_a_refused_login_or_a_server_error_is_one_line_not_a_new_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from mlflow.exceptions import MlflowException, RestException
    from mlflow.protos.databricks_pb2 import UNAUTHENTICATED

    from actlab.fit.checkpoints import CheckpointError
    from actlab.fit.resume import run_info

    uri = "http://admin:s3cret@127.0.0.1:5000"
    text = "API request to endpoint /api/2.0/mlflow/runs/get failed with error code 401 != 200"
    refuse_get_run(monkeypatch, MlflowException(text, error_code=UNAUTHENTICATED))
    with pytest.raises(CheckpointError) as refused:
        run_info("abc", uri)
    line = str(refused.value)
    assert "\n" not in line and "s3cret" not in line
    assert line.startswith("--ckpt_path: cannot tell whether the checkpoint's run abc can be")
    assert "server refused the login: HTTP 401 Unauthorized (set MLFLOW_TRACKING_USERNAME" in line

    refuse_get_run(monkeypatch, RestException({"error_code": "INTERNAL_ERROR", "message": "db\nx"}))
    with pytest.raises(CheckpointError, match=r"answered: RestException: INTERNAL_ERROR: db$"):
        run_info("abc", uri)

    refuse_get_run(monkeypatch, MlflowException("API request to endpoint failed: Max retries"))
    assert run_info("abc", uri) == ("UNKNOWN", "")  # unreachable: the spool keeps the writes


def test_ckpt_last_with_a_refused_login_stops_before_training(
    mlruns: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlflow.exceptions import MlflowException
    from mlflow.protos.databricks_pb2 import UNAUTHENTICATED

    crash = ["--trainer.callbacks+=tests.tracking.helpers.FailAfterSteps"]
    assert run_actlab([*ONE_EPOCH, "--trainer.max_epochs", "2", *crash,
                       "--trainer.callbacks.init_args.steps", "14"]) == 70  # fmt: skip
    (failed,) = all_runs(tracking_uri(mlruns))
    capsys.readouterr()
    refuse_get_run(monkeypatch, MlflowException("refused", error_code=UNAUTHENTICATED))
    assert run_actlab([*ONE_EPOCH, "--trainer.max_epochs", "2", "--ckpt_path", "last"]) == 2
    (line,) = error_lines(capsys.readouterr().err)
    assert f"run {failed.info.run_id} can be continued" in line and "HTTP 401" in line
    monkeypatch.undo()
    (after,) = all_runs(tracking_uri(mlruns))  # no new run, the failed one as it was
    assert after.info.run_id == failed.info.run_id and after.info.status == "FAILED"
    assert after.data.metrics == failed.data.metrics
