"""Shared fixtures: an isolated MLflow store per test and helpers to drive the real CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

# Fused activations run their CPU kernels eagerly in tests: compiling them costs seconds per new
# kind of call; tests/activations/test_fused.py turns compilation on where it checks it.
os.environ.setdefault("ACTLAB_CPU_COMPILE", "0")

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "configs"


@pytest.fixture
def mlruns(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh ``mlruns/`` for the test: ``ACTLAB_MLRUNS`` set, ``MLFLOW_TRACKING_URI`` unset."""
    path = tmp_path / "mlruns"
    monkeypatch.setenv("ACTLAB_MLRUNS", str(path))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.chdir(tmp_path)
    return path


def tracking_uri(mlruns: Path) -> str:
    """The SQLite URI actlab uses for ``mlruns``."""
    return f"sqlite:///{mlruns / 'mlflow.db'}"


def run_actlab(args: Sequence[str]) -> int:
    """Run ``actlab ARGS`` in-process; returns the exit code (0 when it returns normally)."""
    from actlab.cli import main

    try:
        main(list(args))
    except SystemExit as exit_:
        return int(exit_.code or 0)
    return 0


def actlab_subprocess(
    args: Sequence[str], env: dict[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess:
    """Run ``python -m actlab ARGS`` in a subprocess with this interpreter."""
    full_env = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "actlab", *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
    )
