"""Every way a fit ends is recorded truthfully: repeated signals, Lightning's own SIGTERM
handling, a bug (its own exit status, not 1 "diverged"), Ctrl-C outside a fit."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from tests.helpers import CONFIGS, all_runs, run_actlab, tracking_uri

ONE_EPOCH = ["fit", "--config", str(CONFIGS / "quickstart.yaml"), "--trainer.max_epochs", "1",
             "--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false"]  # fmt: skip


def actlab_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("actlab: ")]


def test_a_second_sigterm_while_the_first_is_handled_leaves_the_run_failed(
    mlruns: Path, capsys: pytest.CaptureFixture
) -> None:
    args = [*ONE_EPOCH, "--trainer.callbacks+=tests.fit_helpers.SignalTwice"]
    assert run_actlab(args) == 143
    (run,) = all_runs(tracking_uri(mlruns))
    assert run.info.status == "FAILED" and run.data.tags["error"] == "stopped by SIGTERM"
    (line,) = actlab_lines(capsys.readouterr().err)
    assert f"stopped by SIGTERM: run {run.info.run_id} is FAILED" in line


def test_lightnings_sigterm_exception_never_exits_0(
    mlruns: Path, capsys: pytest.CaptureFixture
) -> None:
    args = [*ONE_EPOCH, "--trainer.callbacks+=tests.fit_helpers.LightningStopsOnSigterm"]
    assert run_actlab(args) == 143
    (run,) = all_runs(tracking_uri(mlruns))
    assert run.info.status == "FAILED" and run.data.tags["error"] == "stopped by SIGTERM"
    (line,) = actlab_lines(capsys.readouterr().err)
    assert f"stopped by SIGTERM: run {run.info.run_id} is FAILED" in line


def test_a_bug_has_an_exit_status_of_its_own(mlruns: Path, capsys: pytest.CaptureFixture) -> None:
    args = [*ONE_EPOCH, "--trainer.callbacks+=tests.fit_helpers.Bug"]
    assert run_actlab(args) == 70  # not 1: that is "training diverged"
    err = capsys.readouterr().err
    assert "Traceback" in err and "ZeroDivisionError: a bug in a callback" in err
    assert err.strip().splitlines()[-1] == (
        "actlab: bug: ZeroDivisionError: a bug in a callback (exit status 70: please report it "
        "with the traceback above)"
    )
    (run,) = all_runs(tracking_uri(mlruns))
    assert run.info.status == "FAILED" and "a bug in a callback" in run.data.tags["error"]


def test_ctrl_c_outside_a_fit_is_one_line(
    mlruns: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    import actlab.cli.sync

    def interrupted(argv: list[str]) -> int:
        signal.raise_signal(signal.SIGINT)  # Python's default handler: KeyboardInterrupt
        return 0

    monkeypatch.setattr(actlab.cli.sync, "sync", interrupted)
    # as in a fresh `actlab` process, whatever handler an earlier test of this process left
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        assert run_actlab(["sync"]) == 130
    finally:
        signal.signal(signal.SIGINT, previous)
    assert capsys.readouterr().err.strip() == "actlab: error: interrupted by SIGINT (Ctrl-C)"
