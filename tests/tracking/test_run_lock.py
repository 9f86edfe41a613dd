"""A fit holds the lock of the run it writes: a ``--ckpt_path last`` resume of that run while
it trains is refused in one line (before: both fits wrote into one run)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import CONFIGS, REPO, process_group, run_actlab

SLOW = json.dumps(
    [{"class_path": "tests.tracking.helpers.SlowEpochs", "init_args": {"seconds": 1.0}}]
)
FIT = ["fit", "--config", str(CONFIGS / "quickstart.yaml"), "--trainer.enable_progress_bar",
       "false", "--trainer.limit_train_batches", "2", "--trainer.max_epochs", "60"]  # fmt: skip


@pytest.mark.slow
def test_a_resume_of_a_run_being_written_is_refused(
    mlruns: Path, capsys: pytest.CaptureFixture
) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO), "ACTLAB_MLRUNS": str(mlruns)}
    cmd = [sys.executable, "-m", "actlab", *FIT, "--trainer.callbacks", SLOW]
    with process_group(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) as first:
        deadline = time.monotonic() + 240
        while not list(mlruns.glob("*/*/checkpoints/last.ckpt")):
            assert first.poll() is None, first.stderr.read().decode()[-2000:]
            assert time.monotonic() < deadline, "the first fit wrote no checkpoint"
            time.sleep(0.2)
        (locked,) = (mlruns / "locks").glob("*.lock")
        capsys.readouterr()
        assert run_actlab([*FIT, "--ckpt_path", "last"]) == 2
        errors = [ln for ln in capsys.readouterr().err.splitlines() if "error" in ln]
        assert len(errors) == 1 and first.poll() is None  # the first fit trains on
        assert errors[0].startswith(f"actlab: error: run {locked.stem} is being written by ")
