"""Concurrent sweeps never run one run twice; a failure is recorded on its own job's run only;
every run config is checked with ``actlab fit``'s parser before any run starts."""

from __future__ import annotations

from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from actlab.sweep.runner import CLAIMED, SKIPPED, Claims, Outcome, SweepRunner, ensure_experiment
from actlab.sweep.spec import SweepSpec
from tests.helpers import run_actlab, tracking_uri
from tests.sweep.test_runner import write_sweep


def test_runs_another_sweep_holds_are_skipped_and_repeats_run_once(mlruns: Path) -> None:
    """Another sweep of the file holds the claims: this one starts nothing (before: every run
    twice); ``seeds: [0, 0]`` is one run, not two to average."""
    spec = SweepSpec.load(write_sweep(mlruns.parent, ["softmax"], [0, 0]))
    uri = tracking_uri(mlruns)
    runner = SweepRunner(spec, tracking_uri=uri, progress=False)
    other = Claims(runner.workdir / "claims")  # what the first sweep holds while it runs
    assert other.claim(runner.resolve()[0].identity)
    try:
        results = runner.execute()
    finally:
        other.release()
    assert [(r.status, r.error) for r in results] == [
        (SKIPPED, CLAIMED),
        (SKIPPED, "the same run is earlier in this sweep"),
    ]
    client = MlflowClient(uri)
    assert client.search_runs([client.get_experiment_by_name("wdbc-sweep").experiment_id]) == []
    mine = Claims(runner.workdir / "claims")  # released with the sweep
    assert mine.claim(runner.resolve()[0].identity)
    mine.release()


def test_a_failure_is_recorded_on_its_own_run_only(mlruns: Path) -> None:
    """Another sweep's FINISHED run of the same config, started after the failing job, was
    marked FAILED with this job's error."""
    spec = SweepSpec.load(write_sweep(mlruns.parent, ["softmax"], [0]))
    uri = tracking_uri(mlruns)
    runner = SweepRunner(spec, tracking_uri=uri, progress=False)
    (run,) = runner.runs
    config_hash = runner.resolve()[0].config_hash
    mlruns.mkdir(parents=True, exist_ok=True)
    client = MlflowClient(uri)
    experiment_id = ensure_experiment(client, runner.experiment, uri)
    runner.workdir.mkdir(parents=True, exist_ok=True)
    job = runner._job(run, config_hash)
    other = client.create_run(experiment_id, tags={"config_hash": config_hash, "sweep": "x"})
    client.set_terminated(other.info.run_id, "FINISHED")
    result = runner._result(client, experiment_id, job, Outcome(1, 0.5, error="boom"))
    assert result.error == "boom"
    kept = client.get_run(other.info.run_id)
    assert kept.info.status == "FINISHED" and "sweep.error" not in kept.data.tags
    (failed,) = client.search_runs([experiment_id], "attributes.status = 'FAILED'")
    assert failed.data.tags["sweep.job"] == job.job_id
    assert failed.data.tags["config_hash"] == config_hash


def test_every_run_config_is_checked_before_any_run(
    mlruns: Path, capsys: pytest.CaptureFixture
) -> None:
    """A grid value the CLI rejects: the dry run is one error line (before: it listed the runs,
    then every such run failed after launch)."""
    path = write_sweep(mlruns.parent, ["softmax", "bogus"], [0])
    capsys.readouterr()
    assert run_actlab(["sweep", str(path), "--dry-run"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert err.startswith("actlab: error: run 'bogus seed0': invalid config:")
    assert "model.head" in err and "'bogus'" in err
    assert run_actlab(["sweep", str(path), "--no-progress"]) == 2
    assert not (mlruns / "mlflow.db").exists()  # nothing started, nothing written
