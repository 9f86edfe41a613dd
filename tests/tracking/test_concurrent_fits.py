"""Two fits at once on a fresh store: both create it and both finish."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path

from tests.helpers import (
    ONE_EPOCH,
    REPO,
    all_runs,
    process_group,
    tracking_uri,
)


def test_two_fits_at_once_on_a_fresh_store_both_finish(tmp_path: Path) -> None:

    mlruns = tmp_path / "mlruns"
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "ACTLAB_MLRUNS": str(mlruns),
        "MLFLOW_TRACKING_URI": "",
    }
    with contextlib.ExitStack() as stack:
        procs = [
            stack.enter_context(
                process_group(
                    [
                        sys.executable,
                        "-m",
                        "actlab",
                        *ONE_EPOCH,
                        "--data.init_args.seed",
                        str(seed),
                    ],
                    env=env,
                    cwd=tmp_path,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                    text=True,
                )
            )  # fmt: skip
            for seed in (1, 2)
        ]
        errors = [proc.communicate(timeout=300)[1] for proc in procs]
    assert [p.returncode for p in procs] == [0, 0], [e[-2000:] for e in errors]
    runs = all_runs(tracking_uri(mlruns))
    assert sorted(r.data.params["data.seed"] for r in runs) == ["1", "2"]
    assert {r.info.status for r in runs} == {"FINISHED"}


# -- 17.9: no failed run without its reason; a truncated spool line ------------------------------
