"""The light commands (help, report, sync, ui, sweep --dry-run) never import torch, Lightning or timm."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from tests.helpers import (
    CONFIGS,
    REPO,
    free_port,
    tracking_uri,
)

#: Runs ``actlab ARGS`` and reports on stderr which heavy modules it loaded; ``ui`` stops where
#: ``mlflow ui`` would replace the process, and sweep runs are no-op processes (the driver's own
#: imports are what is checked).
IMPORT_PROBE = """
import atexit, os, sys
heavy = ("torch", "lightning", "timm")
atexit.register(lambda: print("HEAVY=" + ",".join(m for m in heavy if m in sys.modules), file=sys.stderr))
os.execvpe = lambda *args: sys.exit(0)
import actlab.sweep.runner as runner
runner.SweepRunner.command = lambda self, config_file: [sys.executable, "-c", "pass"]
from actlab.cli import main
main(sys.argv[1:])
"""


@pytest.fixture(scope="module")
def light_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store with two runs of experiment ``light`` and one spooled tag waiting for ``sync``."""
    from actlab.tracking.resilience import Spool
    from actlab.tracking.store import ensure_store

    mlruns = tmp_path_factory.mktemp("light") / "mlruns"
    uri = ensure_store(tracking_uri(mlruns))
    client = MlflowClient(uri)
    experiment = client.create_experiment("light")
    for acc, activation in ((0.9, "relu"), (0.8, "prelu")):
        run = client.create_run(experiment, tags={"activation": activation, "dataset": "wdbc"})
        client.log_metric(run.info.run_id, "test/acc", acc)
        client.set_terminated(run.info.run_id, "FINISHED")
    Spool(run.info.run_id, uri, mlruns / "spool").append("set_tag", (run.info.run_id, "k", "v"), {})
    return mlruns


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["activations", "--help"],
        ["configs"],
        ["report", "light", "--rows", "activation", "--columns", "dataset"],
        ["sync"],
        ["ui", "--port", str(free_port())],
        ["sweep", str(CONFIGS / "showcase" / "wdbc_heads.yaml"), "--dry-run"],
        [
            "sweep",
            str(CONFIGS / "showcase" / "wdbc_heads.yaml"),
            "--smoke",
            "--gpus",
            "",
            "--no-progress",
        ],
    ],
    ids=[
        "help",
        "activations-help",
        "configs",
        "report",
        "sync",
        "ui",
        "sweep-dry-run",
        "sweep-driver",
    ],
)
def test_light_commands_never_import_torch_lightning_timm(args, light_store: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", IMPORT_PROBE, *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=light_store.parent,
        env={
            **os.environ,
            "PYTHONPATH": str(REPO),
            "ACTLAB_MLRUNS": str(light_store),
            "MLFLOW_TRACKING_URI": "",
        },  # fmt: skip
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "HEAVY=\n" in result.stderr or result.stderr.endswith("HEAVY="), result.stderr[-2000:]
