"""The store module: where runs go, found with the standard library only."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from actlab.tracking import store
from tests.helpers import REPO


def test_defaults_follow_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACTLAB_MLRUNS", str(tmp_path / "runs"))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert store.mlruns_dir() == tmp_path / "runs" and (tmp_path / "runs").is_dir()
    uri = store.default_tracking_uri()
    assert uri == f"sqlite:///{tmp_path / 'runs' / 'mlflow.db'}"
    assert store.sqlite_path(uri) == tmp_path / "runs" / "mlflow.db"
    assert store.spool_dir() == tmp_path / "runs" / "spool"
    location = store.default_artifact_location(uri, "my exp/1")
    assert location == (tmp_path / "runs" / "artifacts" / "my_exp_1").as_uri()
    assert store.default_artifact_location("http://127.0.0.1:5000", "x") is None
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
    assert store.default_tracking_uri() == "http://127.0.0.1:5000"


def test_old_names_stay_importable_and_are_the_same() -> None:
    from actlab.sweep import runner
    from actlab.tracking import mlflow, resilience

    assert mlflow.mlruns_dir is store.mlruns_dir
    assert mlflow.default_tracking_uri is store.default_tracking_uri
    assert mlflow.default_artifact_location is store.default_artifact_location
    assert mlflow.DEFAULT_EXPERIMENT == store.DEFAULT_EXPERIMENT
    assert resilience.spool_dir is store.spool_dir
    assert runner.default_tracking_uri is store.default_tracking_uri


def test_store_module_imports_only_the_standard_library() -> None:
    code = (
        "import sys; before = set(sys.modules); import actlab.tracking.store; "
        "new = {m.split('.')[0] for m in set(sys.modules) - before}; "
        "print(sorted(new - set(sys.stdlib_module_names) - {'actlab'}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_sqlite_reader_returns_what_mlflow_returns(tmp_path: Path) -> None:
    import math

    from mlflow.tracking import MlflowClient

    uri = store.ensure_store(f"sqlite:///{tmp_path / 'mlflow.db'}")
    client = MlflowClient(uri)
    exp = client.create_experiment("e")
    other = client.create_experiment("other")
    client.create_run(other, tags={"x": "1"})
    made = []
    for i in range(3):
        run = client.create_run(exp, tags={"activation": f"a{i}"}, start_time=1000 + i)
        client.log_param(run.info.run_id, "p", str(i))
        for step, value in ((0, 0.5), (2, 0.9), (1, 0.7)):
            client.log_metric(run.info.run_id, "val/acc", value + i / 100, step=step)
        client.log_metric(run.info.run_id, "loss", float("nan"))
        client.set_terminated(run.info.run_id, "FINISHED" if i else "FAILED")
        made.append(run.info.run_id)
    client.delete_run(made[1])

    stored = store.read_sqlite_runs(uri, "e")
    expected = client.search_runs([exp], order_by=["attributes.start_time ASC"])
    assert [r.run_id for r in stored] == [r.info.run_id for r in expected] == [made[0], made[2]]
    for ours, theirs in zip(stored, expected, strict=True):
        assert ours.status == theirs.info.status
        assert ours.tags == theirs.data.tags and ours.params == theirs.data.params
        assert ours.metrics.keys() == theirs.data.metrics.keys()
        assert ours.metrics["val/acc"] == theirs.data.metrics["val/acc"]
        assert math.isnan(ours.metrics["loss"]) and math.isnan(theirs.data.metrics["loss"])
    with pytest.raises(store.StoreError, match="unknown experiment .* 'ee'; did you mean 'e'"):
        store.read_sqlite_runs(uri, "ee")
    assert store.read_sqlite_runs("http://127.0.0.1:1", "e") is None


def test_report_on_a_locked_store_is_one_line_after_a_bounded_wait(
    mlruns: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    import contextlib
    import sqlite3
    import time

    from mlflow.tracking import MlflowClient

    from tests.helpers import run_actlab, tracking_uri

    client = MlflowClient(tracking_uri(mlruns))
    run = client.create_run(client.create_experiment("locked"))
    client.log_metric(run.info.run_id, "test/acc", 0.9)
    client.set_terminated(run.info.run_id)
    monkeypatch.setattr(store, "LOCK_WAIT", 1.0, raising=False)
    capsys.readouterr()
    with contextlib.closing(sqlite3.connect(mlruns / "mlflow.db", isolation_level=None)) as writer:
        writer.execute("BEGIN EXCLUSIVE")  # another process writing, as MLflow does
        started = time.monotonic()
        assert run_actlab(["report", "locked"]) == 2
        waited = time.monotonic() - started
        writer.execute("ROLLBACK")
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line == (
        f"actlab: error: the store {mlruns / 'mlflow.db'} is locked by another process "
        "(waited 1 s): try again when it is done"
    )
    assert 1.0 <= waited < 10
