"""No secret in any output or artifact: credentials in a tracking URI (``MLFLOW_TRACKING_URI``
or the config's) never reach the summary, checkpoints, params, tags, spool or ``config.yaml``."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from actlab.tracking.store import adopt_credentials, redact_credentials
from tests.helpers import CONFIGS, free_port, run_actlab
from tests.tracking.test_server_outage import start_server, stop_server

PASSWORD = "Pw-7f3c9e-do-not-leak"


def files_holding(folder: Path, secret: str) -> list[str]:
    """Every file under ``folder`` whose bytes contain ``secret`` (checkpoints are zip files
    stored without compression, so their pickled strings are found too)."""
    return [str(p) for p in folder.rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]


@pytest.mark.slow
@pytest.mark.server
def test_a_credentialed_uri_leaves_no_password_anywhere(
    tmp_path: Path, mlruns: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """A real ``mlflow server`` (auth off: it ignores the basic-auth header) and two fits: the
    credentials in ``MLFLOW_TRACKING_URI``, then in the config. Every file the fits wrote
    (checkpoints, spool) and every file the server holds (artifacts incl. ``config.yaml``,
    params and tags in its database) is searched for the password."""
    server_dir = tmp_path / "server"
    server_dir.mkdir()
    port = free_port()
    server = start_server(server_dir, port)
    try:
        for key in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"):
            monkeypatch.setenv(key, "placeholder")  # restored after the test: the fit sets them
        uri = f"http://alice:{PASSWORD}@127.0.0.1:{port}"
        monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
        fit = ["fit", "--config", str(CONFIGS / "quickstart.yaml"), "--trainer.max_epochs", "1",
               "--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false"]  # fmt: skip
        assert run_actlab(fit) == 0
        in_config = tmp_path / "tracking.yaml"
        in_config.write_text(
            "trainer:\n  logger:\n    class_path: actlab.tracking.ActlabMLFlowLogger\n"
            f"    init_args:\n      experiment_name: secrets\n      tracking_uri: {uri}\n"
        )
        monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{port}")
        monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "wrong")  # the config's must win
        assert run_actlab([*fit, "--config", str(in_config)]) == 0
        out, err = capsys.readouterr()
        assert f"127.0.0.1:{port}" in out and PASSWORD not in out + err
        client = MlflowClient(f"http://127.0.0.1:{port}")
        runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
        assert len(runs) == 2 and {r.info.status for r in runs} == {"FINISHED"}
        for run in runs:
            values = [*run.data.params.values(), *run.data.tags.values()]
            assert not [v for v in values if PASSWORD in v]
            assert "config.yaml" in {a.path for a in client.list_artifacts(run.info.run_id)}
        assert len(list(mlruns.rglob("*.ckpt"))) >= 4
        assert files_holding(mlruns, PASSWORD) == []
        assert files_holding(server_dir, PASSWORD) == []
        assert os.environ["MLFLOW_TRACKING_PASSWORD"] == PASSWORD  # MLflow's own way
    finally:
        stop_server(server)


def test_http_credentials_move_to_mlflows_settings_and_database_ones_are_masked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for key in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"):
        monkeypatch.setenv(key, "placeholder")
    assert adopt_credentials("https://bob:p%40ss@host:5000/x") == "https://host:5000/x"
    assert os.environ["MLFLOW_TRACKING_USERNAME"] == "bob"
    assert os.environ["MLFLOW_TRACKING_PASSWORD"] == "p@ss"
    assert adopt_credentials("sqlite:///tmp/a@b.db") == "sqlite:///tmp/a@b.db"
    text = "store postgresql://mlflow:hunter2@db:5432/mlflow"
    assert redact_credentials(text) == "store postgresql://mlflow:***@db:5432/mlflow"
