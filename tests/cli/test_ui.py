"""`actlab ui`: the real MLflow UI serving the store on localhost."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import mlflow
import pytest
from mlflow.tracking import MlflowClient

from tests.helpers import (
    ONE_EPOCH,
    free_port,
    process_group,
    run_actlab,
)

#: Seconds ``mlflow ui`` may take to answer /health (about 10 on an idle 2-core machine).
UI_START_SECONDS = 240


@pytest.mark.slow
@pytest.mark.server
def test_ui_serves_the_store_on_localhost(mlruns: Path) -> None:
    assert run_actlab(ONE_EPOCH) == 0
    port = free_port()
    log = mlruns.parent / "ui.log"
    with (
        log.open("w") as out,
        process_group([sys.executable, "-m", "actlab", "ui", "--port", str(port)],
                      stdout=out, stderr=subprocess.STDOUT) as proc,
    ):  # fmt: skip
        deadline = time.monotonic() + UI_START_SECONDS
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as resp:
                    assert resp.status == 200
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"mlflow ui did not come up: {log.read_text()[-3000:]}")
                time.sleep(0.5)
        client = MlflowClient(f"http://127.0.0.1:{port}")
        exp = client.get_experiment_by_name("quickstart")
        assert len(client.search_runs([exp.experiment_id])) == 1
    mlflow.set_tracking_uri(None)
