"""``actlab sync`` is at-least-once and says the truth: a write leaves the spool only once the
server acknowledged it, rejected writes are kept, a spool goes to the server it was written for
(or says why not), a moved spool still syncs, a refused login is reported as such."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import requests
from mlflow.tracking import MlflowClient

from actlab.tracking.resilience import ResilientClient
from tests.helpers import actlab_subprocess, free_port, kill_group, run_actlab
from tests.tracking.test_resilience import FlakyClient, assert_all_logged, log_everything


def spooled_run(tmp_path: Path, mlruns: Path, name: str = "a") -> tuple[str, MlflowClient, str]:
    """A run in a SQLite store ``<name>.db`` whose writes all went to the spool (server down)."""
    uri = f"sqlite:///{tmp_path / f'{name}.db'}"
    real = MlflowClient(uri)
    exp = real.create_experiment("x", artifact_location=(tmp_path / f"{name}-art").as_uri())
    run_id = real.create_run(exp).info.run_id
    flaky = FlakyClient(real)
    flaky.down = True
    client = ResilientClient(flaky, uri)  # spool: $ACTLAB_MLRUNS/spool
    log_everything(client, run_id, tmp_path, 0)
    client.set_terminated(run_id, "FINISHED")
    assert (mlruns / "spool" / f"{run_id}.jsonl").exists()
    return uri, real, run_id


def test_sync_to_another_server_is_refused_then_rejections_are_kept_not_dropped(
    tmp_path: Path, mlruns: Path, capsys: pytest.CaptureFixture
) -> None:
    uri, real, run_id = spooled_run(tmp_path, mlruns)
    spool = mlruns / "spool" / f"{run_id}.jsonl"
    written = spool.read_text()
    other = f"sqlite:///{tmp_path / 'other.db'}"
    MlflowClient(other).search_experiments()  # another store, without the run
    assert run_actlab(["sync", "--tracking-uri", other]) == 2
    (line,) = [x for x in capsys.readouterr().err.splitlines() if x.startswith("actlab:")]
    assert line.startswith("actlab: error: --tracking-uri ") and "--to-other-server" in line
    assert uri in line
    assert spool.read_text() == written  # nothing sent, nothing changed

    # Stated explicitly: sent there, every write rejected (no such run), none lost.
    assert run_actlab(["sync", "--tracking-uri", other, "--to-other-server"]) == 1
    out = capsys.readouterr().out
    dead = mlruns / "spool" / "rejected" / f"{run_id}.jsonl"
    assert f"run {run_id}: 7 writes rejected by the server, kept in {dead}" in out
    assert "RESOURCE_DOES_NOT_EXIST" in out or "not found" in out.lower()
    assert " sent" not in out
    assert not spool.exists() and len(dead.read_text().splitlines()) == 7
    assert run_actlab(["sync"]) == 1  # the rejected writes are still not delivered
    assert f"rejected writes kept in {dead}" in capsys.readouterr().out

    # Sent again to the right server: everything arrives.
    assert run_actlab(["sync", "--retry-rejected"]) == 0
    assert capsys.readouterr().out.strip() == f"run {run_id}: sent"
    assert not dead.exists() and not (mlruns / "spool" / run_id).exists()
    assert_all_logged(real, run_id, [0, 1])
    assert real.get_run(run_id).info.status == "FINISHED"


def test_a_deleted_store_keeps_its_writes_in_the_dead_letter_file(
    tmp_path: Path, mlruns: Path
) -> None:
    uri, real, run_id = spooled_run(tmp_path, mlruns)
    (tmp_path / "a.db").unlink()  # the store is deleted mid-run (sync finds a new, empty one)
    result = actlab_subprocess(["sync"], env={"ACTLAB_MLRUNS": str(mlruns)})  # a fresh engine
    assert result.returncode == 1, result.stderr[-2000:]
    out = result.stdout
    assert "7 writes rejected by the server" in out and " sent" not in out
    dead = mlruns / "spool" / "rejected" / f"{run_id}.jsonl"
    records = [json.loads(line) for line in dead.read_text().splitlines()]
    assert [r["method"] for r in records] == [
        *["log_batch", "log_batch", "log_text", "log_image", "log_artifact", "set_tag"],
        "set_terminated",
    ]
    assert all(r["error"] for r in records)
    (artifact,) = (r for r in records if r["method"] == "log_artifact")
    assert (mlruns / "spool" / artifact["kwargs"]["local_path"]).is_file()  # its file kept


def test_a_moved_spool_still_syncs(
    tmp_path: Path, mlruns: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    uri, real, run_id = spooled_run(tmp_path, mlruns)
    text = (mlruns / "spool" / f"{run_id}.jsonl").read_text()
    assert str(mlruns) not in text  # paths inside the spool are relative to it
    moved = tmp_path / "elsewhere" / "mlruns"
    moved.parent.mkdir()
    shutil.move(mlruns, moved)
    monkeypatch.setenv("ACTLAB_MLRUNS", str(moved))
    assert run_actlab(["sync"]) == 0
    assert capsys.readouterr().out.strip() == f"run {run_id}: sent"
    assert_all_logged(real, run_id, [0, 1])


AUTH_INI = """[mlflow]
default_permission = READ
database_uri = sqlite:///{db}
admin_username = admin
admin_password = {password}
authorization_function = mlflow.server.auth:authenticate_request_basic_auth
"""


@pytest.mark.slow
@pytest.mark.server
def test_a_refused_login_is_reported_as_such_and_the_writes_stay(
    tmp_path: Path, mlruns: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """A real ``mlflow server --app-name basic-auth``: without credentials sync says HTTP 401
    (not "unreachable") and keeps every write; with MLflow's username/password it sends them."""
    password = "s3cret-Pw-1234"
    ini = tmp_path / "auth.ini"
    ini.write_text(AUTH_INI.format(db=tmp_path / "auth.db", password=password))
    port = free_port()
    uri = f"http://127.0.0.1:{port}"
    env = {**os.environ, "MLFLOW_AUTH_CONFIG_PATH": str(ini),
           "MLFLOW_FLASK_SERVER_SECRET_KEY": "test-only-key"}  # fmt: skip
    cmd = [sys.executable, "-m", "mlflow", "server", "--app-name", "basic-auth",
           "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
           "--backend-store-uri", f"sqlite:///{tmp_path / 'server.db'}",
           "--artifacts-destination", str(tmp_path / "server-art")]  # fmt: skip
    log = (tmp_path / "server.log").open("w")
    server = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT,
                              start_new_session=True, cwd=tmp_path)  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(f"{uri}/health", timeout=2)
                break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline, (
                    tmp_path / "server.log"
                ).read_text()[-2000:]
                time.sleep(0.5)
        monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "admin")
        monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", password)
        real = MlflowClient(uri)
        exp = real.create_experiment("x")
        run_id = real.create_run(exp).info.run_id
        flaky = FlakyClient(real)
        flaky.down = True
        client = ResilientClient(flaky, uri)
        log_everything(client, run_id, tmp_path, 0)
        spool = mlruns / "spool" / f"{run_id}.jsonl"
        written = spool.read_text()
        monkeypatch.delenv("MLFLOW_TRACKING_USERNAME")
        monkeypatch.delenv("MLFLOW_TRACKING_PASSWORD")
        assert run_actlab(["sync"]) == 1
        out = capsys.readouterr().out
        assert (
            f"run {run_id}: 6 writes still in {mlruns / 'spool'}: server refused the login: " in out
        )
        assert "HTTP 401 Unauthorized" in out and "unreachable" not in out
        assert spool.read_text() == written
        monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "admin")
        monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", password)
        assert run_actlab(["sync"]) == 0
        assert capsys.readouterr().out.strip() == f"run {run_id}: sent"
        assert_all_logged(real, run_id, [0, 1])
    finally:
        kill_group(server, grace=5)
        log.close()


def test_unauthorized_and_forbidden_are_not_outages() -> None:
    from mlflow.exceptions import MlflowException
    from mlflow.protos.databricks_pb2 import PERMISSION_DENIED, UNAUTHENTICATED

    from actlab.tracking.resilience import is_outage, stop_reason

    text = "API request to endpoint /api/2.0/mlflow/runs/log-batch failed with error code 401"
    unauthorized = MlflowException(text, error_code=UNAUTHENTICATED)
    assert not is_outage(unauthorized)
    assert "HTTP 401 Unauthorized" in stop_reason(unauthorized)
    forbidden = MlflowException("forbidden", error_code=PERMISSION_DENIED)
    assert "HTTP 403 Forbidden" in stop_reason(forbidden)
    assert "unreachable" in stop_reason(requests.exceptions.ConnectionError("refused"))
