"""``--tracking.system_metrics true`` logs MLflow's system metrics into the run (rank 0)."""

from __future__ import annotations

from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from tests.helpers import CONFIGS, run_actlab, tracking_uri


@pytest.mark.slow
def test_system_metrics_are_logged(mlruns: Path) -> None:
    args = [
        "fit", "--config", str(CONFIGS / "quickstart.yaml"),
        "--trainer.max_epochs", "15", "--trainer.enable_progress_bar", "false",
        "--tracking.system_metrics", "true", "--tracking.system_metrics_interval", "0.5",
    ]  # fmt: skip
    assert run_actlab(args) == 0
    client = MlflowClient(tracking_uri(mlruns))
    run = client.search_runs([client.get_experiment_by_name("quickstart").experiment_id])[0]
    assert run.info.status == "FINISHED"
    assert "system/cpu_utilization_percentage" in run.data.metrics
    assert "system/system_memory_usage_megabytes" in run.data.metrics
