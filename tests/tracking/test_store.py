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
