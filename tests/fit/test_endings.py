"""How a fit ends: a non-finite loss, a signal, a data error, and FINISHED only after its tests."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from tests.helpers import (
    ONE_EPOCH,
    all_runs,
    error_lines,
    run_actlab,
    tracking_uri,
)


def test_nan_loss_stops_at_the_first_bad_step_and_fails_the_run(mlruns: Path, capsys) -> None:
    args = [*ONE_EPOCH, "--trainer.max_epochs", "3", "--model.optimizer", "torch.optim.SGD",
            "--model.optimizer.lr", "1e6"]  # fmt: skip
    assert run_actlab(args) == 1
    captured = capsys.readouterr()
    (line,) = error_lines(captured.err)
    assert "train/loss is nan at epoch 0, batch" in line
    assert "lower the learning rate (model.optimizer lr is 1e+06)" in line
    assert "Traceback" not in captured.err and "test accuracy" not in captured.out
    (run,) = all_runs(tracking_uri(mlruns))
    assert run.info.status == "FAILED"
    assert run.data.tags["error"].startswith("train/loss is nan at epoch 0")
    assert "test/acc" not in run.data.metrics


# -- 17.4: signals exit 128 + signal and fail the run -------------------------------------------


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_exits_128_plus_it_and_fails_the_run(signum, code, mlruns: Path, capsys) -> None:
    """The signal arrives as ``kill`` sends it, at the end of epoch 0 of a 3-epoch fit."""
    args = [*ONE_EPOCH, "--trainer.max_epochs", "3",
            "--trainer.callbacks+=tests.fit_helpers.SignalAtEpochEnd",
            "--trainer.callbacks.init_args.signum", str(int(signum))]  # fmt: skip
    assert run_actlab(args) == code
    (line,) = error_lines(capsys.readouterr().err)
    (run,) = all_runs(tracking_uri(mlruns))
    name = signal.Signals(signum).name
    assert (
        f"stopped by {name}: run {run.info.run_id} is FAILED; resume it with --ckpt_path last"
        in line
    )
    assert run.info.status == "FAILED" and run.data.tags["error"] == f"stopped by {name}"
    assert "test/acc" not in run.data.metrics


# -- 17.2: fits started together on a fresh store ------------------------------------------------


def test_a_data_error_in_setup_leaves_its_reason_on_the_failed_run(mlruns: Path, capsys) -> None:
    missing = ["--data", "actlab.data.MNISTDataModule", "--data.root", str(mlruns.parent / "no")]
    assert run_actlab([*ONE_EPOCH, *missing]) == 2
    (line,) = error_lines(capsys.readouterr().err)
    (run,) = all_runs(tracking_uri(mlruns))
    assert run.info.status == "FAILED"
    assert run.data.tags["error"] == line.removeprefix("actlab: error: ")


# -- a truncated spool line ---------------------------------------------------------------


def test_a_fit_is_finished_only_after_its_tests(mlruns: Path) -> None:
    """Lightning ends the run when trainer.fit returns; the tests after it must still find it
    RUNNING, so a fit killed while testing is never a FINISHED run without test metrics (which
    a sweep would skip as done). A failure in the tests ends the run FAILED."""
    from tests.fit_helpers import RecordRunStatusAtTest

    RecordRunStatusAtTest.statuses.clear()
    record = ["--trainer.callbacks+=tests.fit_helpers.RecordRunStatusAtTest"]
    assert run_actlab([*ONE_EPOCH, *record]) == 0
    assert RecordRunStatusAtTest.statuses == ["RUNNING", "RUNNING"]  # final and best weights
    (run,) = all_runs(tracking_uri(mlruns))
    assert run.info.status == "FINISHED" and "test/acc" in run.data.metrics

    fail = ["--trainer.callbacks+=tests.fit_helpers.FailAtTest", "--seed_everything", "7"]
    assert run_actlab([*ONE_EPOCH, *fail]) == 70  # a bug: its traceback, its own status
    failed = next(r for r in all_runs(tracking_uri(mlruns)) if r.info.run_id != run.info.run_id)
    assert failed.info.status == "FAILED" and "test/acc" not in failed.data.metrics
    assert "the test split broke" in failed.data.tags["error"]
