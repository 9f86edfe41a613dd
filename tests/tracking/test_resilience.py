"""The outage spool: writes kept on disk while the server is unreachable, replayed in order."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
import requests
from mlflow.entities import Metric, Param
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from actlab.tracking.resilience import ResilientClient, is_outage, is_pending_run_id, sync
from tests.helpers import CONFIGS, run_actlab


class FlakyClient:
    """Forwards to a real client, but raises connection errors while ``down`` is true."""

    def __init__(self, client: MlflowClient) -> None:
        self.client = client
        self.down = False
        self.down_for: set[str] = set()  # methods that fail even when the server is up
        self.calls = 0

    def __getattr__(self, name: str):
        attr = getattr(self.client, name)

        def call(*args, **kwargs):
            self.calls += 1
            if self.down or name in self.down_for:
                raise requests.exceptions.ConnectionError("connection refused")
            return attr(*args, **kwargs)

        return call


@pytest.fixture
def store(tmp_path: Path):
    uri = f"sqlite:///{tmp_path / 'store.db'}"
    client = MlflowClient(uri)
    exp = client.create_experiment("x", artifact_location=(tmp_path / "artifacts").as_uri())
    return uri, client, client.create_run(exp).info.run_id


def metric(key: str, value: float, step: int) -> Metric:
    return Metric(key, value, int(time.time() * 1000), step)


def log_everything(client, run_id: str, tmp_path: Path, start: int) -> None:
    client.log_batch(run_id, metrics=[metric("val/acc", 0.1 * s, s) for s in (start, start + 1)])
    client.log_batch(run_id=run_id, params=[Param(f"p{start}", str(start))])
    client.log_text(run_id, f"text {start}", f"notes/{start}.txt")
    image = np.full((8, 8, 3), 200, dtype=np.uint8)
    client.log_image(run_id, image, key="img", step=start)
    path = tmp_path / f"params{start}.npz"
    np.savez(path, a=np.arange(3))
    client.log_artifact(run_id, str(path), "activation_params")
    client.set_tag(run_id, f"tag{start}", "yes")


def assert_all_logged(client: MlflowClient, run_id: str, steps: list[int]) -> None:
    history = client.get_metric_history(run_id, "val/acc")
    assert sorted(m.step for m in history) == steps
    run = client.get_run(run_id)
    files = {a.path for a in client.list_artifacts(run_id, "notes")}
    files |= {a.path for a in client.list_artifacts(run_id, "activation_params")}
    images = [a.path for a in client.list_artifacts(run_id, "images") if a.path.endswith(".png")]
    for start in steps[::2]:
        assert run.data.params[f"p{start}"] == str(start)
        assert run.data.tags[f"tag{start}"] == "yes"
        assert f"notes/{start}.txt" in files
        assert any(f"img+step+{start}+" in name for name in images)
    assert f"activation_params/params{steps[0]}.npz" in files


def test_outage_is_spooled_in_order_and_flushed_when_back(store, tmp_path: Path) -> None:
    uri, real, run_id = store
    flaky = FlakyClient(real)
    client = ResilientClient(flaky, "http://127.0.0.1:1", spool_root=tmp_path / "spool")
    log_everything(client, run_id, tmp_path, 0)
    flaky.down = True
    log_everything(client, run_id, tmp_path, 2)  # every write fails: spooled, no exception
    assert client.offline
    calls = flaky.calls
    log_everything(client, run_id, tmp_path, 4)  # offline: straight to the spool
    assert flaky.calls == calls
    client.set_terminated(run_id, "FINISHED")
    assert client.unsent() == 13
    assert client.flush() == 13  # still down: nothing lost, nothing sent
    flaky.down = False
    assert client.flush() == 0
    assert not client.offline
    assert not (tmp_path / "spool" / f"{run_id}.jsonl").exists()
    assert_all_logged(real, run_id, [0, 1, 2, 3, 4, 5])
    assert real.get_run(run_id).info.status == "FINISHED"


def test_spool_left_after_the_process_is_sent_by_actlab_sync(
    store, tmp_path: Path, mlruns: Path
) -> None:
    uri, real, run_id = store
    flaky = FlakyClient(real)
    flaky.down = True
    client = ResilientClient(flaky, uri)  # default spool: $ACTLAB_MLRUNS/spool
    log_everything(client, run_id, tmp_path, 0)
    client.set_terminated(run_id, "FINISHED")
    spool = mlruns / "spool" / f"{run_id}.jsonl"
    records = [json.loads(line) for line in spool.read_text().splitlines()]
    assert [r["method"] for r in records][:2] == ["log_batch", "log_batch"]
    assert records[0]["tracking_uri"] == uri
    assert sync(tracking_uri="http://127.0.0.1:1")[run_id].left == len(records)  # unreachable
    assert run_actlab(["sync"]) == 0
    assert not spool.exists()
    assert_all_logged(real, run_id, [0, 1])
    assert real.get_run(run_id).info.status == "FINISHED"
    assert run_actlab(["sync"]) == 0  # nothing left


def test_pending_run_is_created_once_and_its_spool_sent_to_it(tmp_path: Path) -> None:
    real = MlflowClient(f"sqlite:///{tmp_path / 'store.db'}")
    flaky = FlakyClient(real)
    flaky.down = True
    root = tmp_path / "spool"
    client = ResilientClient(flaky, "http://127.0.0.1:1", spool_root=root)
    tags = {"mlflow.runName": "mlp-relu-wdbc", "model": "mlp"}
    started = int(time.time() * 1000)
    pending = client.create_pending_run("exp", (tmp_path / "artifacts").as_uri(), tags)
    assert is_pending_run_id(pending) and client.is_pending(pending)
    log_everything(client, pending, tmp_path, 0)
    assert client.flush() == 7  # server down: create_run + 6 writes kept
    flaky.down, flaky.down_for = False, {"log_text"}
    left = client.flush()  # run created, the first writes sent, then log_text fails
    run_id = client.resolve(pending)
    assert not is_pending_run_id(run_id) and 0 < left < 7
    flaky.down_for = set()
    assert client.flush() == 0  # the rest goes to the same run: no second run
    client.set_terminated(pending, "FINISHED")  # the pending id keeps working
    (run,) = real.search_runs([real.get_experiment_by_name("exp").experiment_id])
    assert run.info.run_id == run_id and run.info.run_name == "mlp-relu-wdbc"
    assert run.data.tags["model"] == "mlp" and run.info.start_time >= started
    assert run.info.status == "FINISHED"
    assert_all_logged(real, run_id, [0, 1])
    # Another process (a resumed fit, actlab sync) finds the run created for the pending id.
    assert ResilientClient(real, "http://127.0.0.1:1", spool_root=root).resolve(pending) == run_id
    assert sync(root=root) == {}


def test_rejections_are_not_outages() -> None:
    assert is_outage(requests.exceptions.ConnectionError("refused"))
    assert is_outage(MlflowException("API request to http://x/api failed with exception y"))
    assert not is_outage(MlflowException("INVALID_PARAMETER_VALUE: changing param values"))
    assert not is_outage(ValueError("bad"))


def test_fit_with_the_server_down_keeps_a_pending_run_that_sync_creates(
    mlruns: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    from actlab.tracking.resilience import HTTP_DEFAULTS

    for key, value in HTTP_DEFAULTS.items():  # restored after the test
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:1")  # nothing listens
    args = ["fit", "--config", str(CONFIGS / "quickstart.yaml"), "--trainer.max_epochs", "2",
            "--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false"]  # fmt: skip
    assert run_actlab(args) == 0
    summary = " ".join(capsys.readouterr().out.split())
    assert "MLflow run PENDING pending-" in summary and "run actlab sync" in summary
    (spool,) = (mlruns / "spool").glob("pending-*.jsonl")
    assert list(mlruns.glob(f"pending/{spool.stem}/checkpoints/last.ckpt"))
    store = f"sqlite:///{tmp_path / 'store.db'}"  # the server is back (here: a local store)
    assert run_actlab(["sync", "--tracking-uri", store]) == 2  # not the recorded server
    assert run_actlab(["sync", "--tracking-uri", store, "--to-other-server"]) == 0
    assert f"run {spool.stem} (created as run " in capsys.readouterr().out
    client = MlflowClient(store)
    (run,) = client.search_runs([client.get_experiment_by_name("quickstart").experiment_id])
    assert run.info.run_name == "mlp-relu-wdbc" and run.info.status == "FINISHED"
    assert run.data.params["trainer.max_epochs"] == "2"
    for key in ("train/loss", "train/acc", "val/acc", "time/epoch_seconds"):
        assert sorted(m.step for m in client.get_metric_history(run.info.run_id, key)) == [0, 1]
    assert "test/acc" in run.data.metrics
    assert (
        run_actlab(["sync", "--tracking-uri", store, "--to-other-server"]) == 0
    )  # none left: no second run
    assert len(client.search_runs([run.info.experiment_id])) == 1


def test_an_unwritable_artifact_folder_skips_the_artifacts_and_training_goes_on(
    mlruns: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The artifact folder cannot be created (under a file: what a read-only or vanished mount
    gives even to root), the tracking store is fine: the fit trains, tests and FINISHES, its
    metrics intact; the run's ``artifacts_skipped`` tag says what is missing and why."""
    from tests.helpers import all_runs, tracking_uri

    (tmp_path / "a-file").write_text("")
    location = (tmp_path / "a-file" / "artifacts").as_uri()
    args = ["fit", "--config", str(CONFIGS / "quickstart.yaml"), "--trainer.max_epochs", "1",
            "--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false",
            "--trainer.logger.init_args.artifact_location", location]  # fmt: skip
    assert run_actlab(args) == 0
    (run,) = all_runs(tracking_uri(mlruns))
    assert run.info.status == "FINISHED"
    assert {"val/acc", "test/acc", "test_best/acc"} <= set(run.data.metrics)
    skipped = run.data.tags["artifacts_skipped"]
    assert "artifact(s) not written: NotADirectoryError" in skipped
    assert int(skipped.split()[0]) >= 3  # config.yaml, confusion CSVs and images
    assert caplog.text.count("cannot write artifact") == 1  # one warning, not one per artifact
    assert "skipped, training goes on" in caplog.text
    assert list(mlruns.rglob("last.ckpt"))
