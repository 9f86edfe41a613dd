"""Tracking server outages (at run creation, mid-run): the run completes and nothing is lost."""

from __future__ import annotations

import json
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

from tests.helpers import CONFIGS, REPO
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


def wait_for(path: Path, fit: subprocess.Popen, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert fit.poll() is None, "fit ended early"
        assert time.monotonic() < deadline, f"fit never reached {path.name}"
        time.sleep(0.2)


@pytest.mark.slow
@pytest.mark.server
def test_server_down_at_start_and_mid_run_the_fit_sends_everything_itself(tmp_path: Path) -> None:
    """The server is down when the fit starts (a pending run), comes up at the end of epoch 1,
    is stopped at the end of epoch 2 and is back at the end of epoch 3: the fit creates its run
    and sends its spool itself at epoch ends (no `actlab sync`), and nothing is lost."""
    port = free_port()
    uri = f"http://127.0.0.1:{port}"
    mlruns, marks = tmp_path / "mlruns", tmp_path / "marks"
    marks.mkdir()
    env = {**os.environ, "PYTHONPATH": str(REPO), "ACTLAB_MLRUNS": str(mlruns),
           "MLFLOW_TRACKING_URI": uri}  # fmt: skip
    args = ["fit", "--config", QUICKSTART, "--trainer.max_epochs", "5",
            "--trainer.enable_progress_bar", "false",
            "--trainer.callbacks+=tests.tracking.helpers.PauseAtEpochEnd",
            "--trainer.callbacks.init_args.folder", str(marks),
            "--trainer.callbacks.init_args.epochs", "[1, 2, 3, 4]"]  # fmt: skip
    fit = subprocess.Popen(
        [sys.executable, "-m", "actlab", *args], env=env, cwd=tmp_path,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    server = None
    try:
        wait_for(marks / "reached-1", fit)  # epochs 0 and 1 spooled under a pending id
        (spool,) = (mlruns / "spool").glob("pending-*.jsonl")
        server = start_server(tmp_path, port)
        (marks / "go-1").touch()  # epoch 1's flush creates the run and sends the spool
        wait_for(marks / "reached-2", fit)
        client = MlflowClient(uri)
        (run,) = client.search_runs([client.get_experiment_by_name("quickstart").experiment_id])
        run_id = run.info.run_id
        # Metrics reach the server at epoch ends: epoch 2's validation (before this pause, which
        # comes before actlab's epoch-end flush) is still queued in the fit.
        assert metric_steps(client, run_id, "val/acc") == [0, 1]
        stop_server(server)
        (marks / "go-2").touch()  # epoch 2's metrics and epoch 3's validation are spooled
        wait_for(marks / "reached-3", fit)
        server = start_server(tmp_path, port)
        (marks / "go-3").touch()  # epoch 3's flush sends it
        wait_for(marks / "reached-4", fit)
        assert metric_steps(client, run_id, "train/loss") == [0, 1, 2, 3]  # before the run ends
        assert metric_steps(client, run_id, "val/acc") == [0, 1, 2, 3]  # epoch 4's: queued
        (marks / "go-4").touch()
        output, errors = fit.communicate(timeout=300)
        assert fit.returncode == 0, errors[-3000:]
        assert "unreachable: training on; run pending-" in errors  # created locally at first
        assert f"keeping run {run_id}'s writes" in errors  # the mid-run outage was spooled
        assert "PENDING" not in output and f"MLflow run {run_id}" in output
        assert not list((mlruns / "spool").glob("*.jsonl"))  # sent by the fit itself
        run = client.get_run(run_id)
        assert run.info.status == "FINISHED" and run.info.run_name == "mlp-relu-wdbc"
        assert run.data.params["trainer.max_epochs"] == "5"
        for key in ("val/acc", "train/loss", "train/acc", "time/epoch_seconds", "val/best_acc"):
            assert metric_steps(client, run_id, key) == list(range(5)), key
        assert "test/acc" in run.data.metrics and "test_best/acc" in run.data.metrics
        paths = {a.path for a in client.list_artifacts(run_id, "confusion")}
        assert "confusion/val_epoch004.csv" in paths  # every 5 epochs and the last
        assert "config.yaml" in {a.path for a in client.list_artifacts(run_id)}
        assert len(client.search_runs([run.info.experiment_id])) == 1
        assert json.loads((mlruns / "spool" / "run_ids.json").read_text()) == {spool.stem: run_id}
    finally:
        if fit.poll() is None:
            fit.kill()
        if server is not None:
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
        (run,) = client.search_runs([client.get_experiment_by_name("quickstart").experiment_id])
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
