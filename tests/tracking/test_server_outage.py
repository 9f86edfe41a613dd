"""A tracking server stopped mid-run and restarted: the run completes and nothing is lost."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from tests.conftest import CONFIGS, REPO
from tests.tracking.helpers import metric_steps

QUICKSTART = str(CONFIGS / "quickstart.yaml")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(tmp_path: Path, port: int) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
           "--backend-store-uri", f"sqlite:///{tmp_path / 'server.db'}",
           "--artifacts-destination", str(tmp_path / "server-artifacts"), "--workers", "1"]  # fmt: skip
    log = (tmp_path / f"server-{time.monotonic_ns()}.log").open("w")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2)
            return proc
        except OSError:
            if proc.poll() is not None:
                break
            time.sleep(0.5)
    stop_server(proc)
    raise RuntimeError(f"mlflow server did not start on port {port}")


def stop_server(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)


@pytest.mark.slow
@pytest.mark.server
def test_server_stopped_mid_run_and_restarted_loses_nothing(tmp_path: Path) -> None:
    port = free_port()
    uri = f"http://127.0.0.1:{port}"
    env = {**os.environ, "PYTHONPATH": str(REPO), "ACTLAB_MLRUNS": str(tmp_path / "mlruns"),
           "MLFLOW_TRACKING_URI": uri}  # fmt: skip
    args = ["fit", "--config", QUICKSTART, "--trainer.max_epochs", "6",
            "--trainer.enable_progress_bar", "false",
            "--trainer.callbacks+=tests.tracking.helpers.SlowEpochs",
            "--trainer.callbacks.init_args.seconds", "1.5"]  # fmt: skip
    server = start_server(tmp_path, port)
    fit = None
    try:
        fit = subprocess.Popen(
            [sys.executable, "-m", "actlab", *args],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        client = MlflowClient(uri)
        deadline = time.monotonic() + 240
        run_id = None
        while time.monotonic() < deadline and fit.poll() is None:
            exp = client.get_experiment_by_name("actlab")
            runs = client.search_runs([exp.experiment_id]) if exp else []
            if runs and metric_steps(client, runs[0].info.run_id, "val/acc"):
                run_id = runs[0].info.run_id
                break
            time.sleep(0.3)
        assert run_id is not None, "no epoch reached the server"
        stop_server(server)  # outage from epoch 1 on
        time.sleep(4)
        assert fit.poll() is None, "fit ended during the outage"
        server = start_server(tmp_path, port)
        output, _ = fit.communicate(timeout=300)
        assert fit.returncode == 0, output[-3000:]
        # When the server came back before the end, the fit sent its spool itself; when the fit
        # ended first (a slow restart), `actlab sync` sends what was kept.
        sync = subprocess.run(
            [sys.executable, "-m", "actlab", "sync"], env=env, capture_output=True, text=True,
            timeout=120,
        )  # fmt: skip
        assert sync.returncode == 0, sync.stdout + sync.stderr
        run = client.get_run(run_id)
        assert run.info.status == "FINISHED"
        for key in ("val/acc", "train/loss", "time/epoch_seconds", "val/best_acc"):
            assert metric_steps(client, run_id, key) == list(range(6)), key
        assert "test/acc" in run.data.metrics and "test_best/acc" in run.data.metrics
        paths = {a.path for a in client.list_artifacts(run_id, "confusion")}
        assert {f"confusion/val_epoch{e:03d}.csv" for e in range(6)} <= paths
        assert not list((tmp_path / "mlruns" / "spool").glob("*.jsonl"))
    finally:
        if fit is not None and fit.poll() is None:
            fit.kill()
        stop_server(server)


def actlab(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "actlab", *args], env=env, cwd=cwd, capture_output=True,
        text=True, timeout=300,
    )  # fmt: skip


@pytest.mark.slow
@pytest.mark.server
def test_server_down_at_run_creation_trains_and_sync_creates_the_run(tmp_path: Path) -> None:
    port = free_port()
    uri = f"http://127.0.0.1:{port}"
    mlruns = tmp_path / "mlruns"
    env = {**os.environ, "PYTHONPATH": str(REPO), "ACTLAB_MLRUNS": str(mlruns),
           "MLFLOW_TRACKING_URI": uri}  # fmt: skip
    fit = ["fit", "--config", QUICKSTART, "--trainer.enable_progress_bar", "false"]
    started = int(time.time() * 1000)
    result = actlab([*fit, "--trainer.max_epochs", "2"], env, tmp_path)  # no server
    assert result.returncode == 0, result.stderr[-3000:]
    summary = " ".join(result.stdout.split())
    assert "MLflow run PENDING pending-" in summary and "run actlab sync" in summary
    (spool,) = (mlruns / "spool").glob("pending-*.jsonl")
    server = start_server(tmp_path, port)
    try:
        sync = actlab(["sync"], env, tmp_path)
        assert sync.returncode == 0, sync.stdout + sync.stderr
        assert f"run {spool.stem} (created as run " in sync.stdout
        assert not spool.exists()
        client = MlflowClient(uri)
        (run,) = client.search_runs([client.get_experiment_by_name("actlab").experiment_id])
        run_id = run.info.run_id
        assert run.info.run_name == "mlp-relu-wdbc"
        assert run.data.tags["dataset"] == "wdbc"
        assert run.info.status == "FINISHED"
        assert started <= run.info.start_time < run.info.end_time  # the fit's own start time
        assert run.data.params["model.backbone"] == "mlp"
        assert run.data.params["trainer.max_epochs"] == "2"
        assert "config.yaml" in {a.path for a in client.list_artifacts(run_id)}
        for key in ("train/loss", "train/acc", "val/acc", "val/f1", "time/epoch_seconds"):
            assert metric_steps(client, run_id, key) == [0, 1], key
        assert "test/acc" in run.data.metrics and "test_best/acc" in run.data.metrics
        paths = {a.path for a in client.list_artifacts(run_id, "confusion")}
        assert {"confusion/val_epoch001.csv", "confusion/test.csv"} <= paths

        again = actlab(["sync"], env, tmp_path)
        assert again.returncode == 0 and "nothing to send" in again.stdout
        # The checkpoint holds the pending id: resuming it continues the run sync created.
        resumed = actlab([*fit, "--trainer.max_epochs", "3", "--ckpt_path", "last"], env, tmp_path)
        assert resumed.returncode == 0, resumed.stderr[-3000:]
        (run,) = client.search_runs([run.info.experiment_id])
        assert run.info.run_id == run_id and run.info.status == "FINISHED"
        for key in ("train/loss", "train/acc", "val/acc"):
            assert metric_steps(client, run_id, key) == [0, 1, 2], key
        assert not list((mlruns / "spool").glob("*.jsonl"))
    finally:
        stop_server(server)
