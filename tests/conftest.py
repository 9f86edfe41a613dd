"""Shared fixtures: an isolated MLflow store per test (helpers to drive the CLI: tests/helpers.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Fused activations run their CPU kernels eagerly in tests: compiling them costs seconds per new
# kind of call; tests/activations/test_fused.py turns compilation on where it checks it.
os.environ.setdefault("ACTLAB_CPU_COMPILE", "0")


def pytest_configure(config: pytest.Config) -> None:
    """Lightning's console log follows the stderr pytest captures (tests/console.py)."""
    import lightning  # noqa: F401  (binds its console handlers, which are then rerouted)

    from tests.console import route_lightning_console

    route_lightning_console()


@pytest.fixture
def mlruns(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh ``mlruns/`` for the test: ``ACTLAB_MLRUNS`` set, ``MLFLOW_TRACKING_URI`` unset."""
    path = tmp_path / "mlruns"
    monkeypatch.setenv("ACTLAB_MLRUNS", str(path))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.chdir(tmp_path)
    return path
