"""End-to-end tests of the ``actlab`` command through the real LightningCLI and MLflow store."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import mlflow
import pytest
import yaml
from mlflow.tracking import MlflowClient

import actlab
from tests.helpers import (
    CONFIGS,
    REPO,
    actlab_subprocess,
    all_runs,
    free_port,
    process_group,
    run_actlab,
    tracking_uri,
)

QUICKSTART = str(CONFIGS / "quickstart.yaml")
FAST = ["--trainer.max_epochs", "3", "--trainer.enable_progress_bar", "false"]
ONE_EPOCH = ["fit", "--config", QUICKSTART, "--trainer.max_epochs", "1",
             "--trainer.enable_progress_bar", "false"]  # fmt: skip


def only_run(uri: str, experiment: str = "quickstart"):
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name(experiment)
    assert exp is not None, f"experiment {experiment!r} missing in {uri}"
    runs = client.search_runs([exp.experiment_id])
    assert len(runs) == 1
    return client, runs[0]


def test_fit_wdbc_logs_run_metrics_params_tags_and_config(mlruns: Path) -> None:
    assert run_actlab(["fit", "--config", QUICKSTART, *FAST]) == 0
    client, run = only_run(tracking_uri(mlruns))

    assert run.info.status == "FINISHED"
    assert run.info.run_name == "mlp-relu-wdbc"
    tags = run.data.tags
    assert (tags["backbone"], tags["activation"], tags["dataset"]) == ("mlp", "relu", "wdbc")
    params = run.data.params
    assert params["model.backbone"] == "mlp"
    assert params["data.batch_size"] == "32"
    assert params["trainer.max_epochs"] == "3"
    assert params["model.optimizer.lr"] == "0.001"

    for key in (
        "train/loss",
        "train/acc",
        "val/loss",
        "val/acc",
        "val/f1",
        "val/precision",
        "val/recall",
    ):
        history = client.get_metric_history(run.info.run_id, key)
        assert [m.step for m in history] == [0, 1, 2], key
    assert client.get_metric_history(run.info.run_id, "train/loss_step")
    metrics = run.data.metrics
    for key in ("test/acc", "test/loss", "test/f1", "test/precision", "test/recall"):
        assert key in metrics
    assert metrics["test/acc"] > 0.8

    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert "config.yaml" in artifacts
    local = client.download_artifacts(run.info.run_id, "config.yaml", str(mlruns.parent))
    config = yaml.safe_load(Path(local).read_text())
    assert config["model"]["init_args"]["backbone"] == "mlp"
    assert config["data"]["class_path"] == "actlab.data.WDBCDataModule"
    assert config["trainer"]["max_epochs"] == 3
    # No config.yaml written into the experiment root (LightningCLI's default clash with MLflow).
    assert not list(mlruns.glob("*/config.yaml")) and not (mlruns / "config.yaml").exists()


def test_fit_digits_small_cnn(mlruns: Path) -> None:
    args = [
        "fit",
        "--config", QUICKSTART,
        "--data", "actlab.data.DigitsDataModule",
        "--data.batch_size", "128",
        "--model.backbone", "small_cnn",
        "--model.backbone_kwargs", "{channels: [8, 16]}",
        "--trainer.max_epochs", "2",
        "--trainer.enable_progress_bar", "false",
    ]  # fmt: skip
    assert run_actlab(args) == 0
    client, run = only_run(tracking_uri(mlruns))
    assert run.info.run_name == "small_cnn-relu-digits"
    assert run.data.params["model.backbone_kwargs.channels"] == "[8, 16]"
    assert [m.step for m in client.get_metric_history(run.info.run_id, "val/acc")] == [0, 1]
    assert "test/acc" in run.data.metrics


def test_mlflow_tracking_uri_env_wins(mlruns: Path, tmp_path: Path, monkeypatch) -> None:
    other = f"sqlite:///{tmp_path / 'elsewhere.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", other)
    assert run_actlab(ONE_EPOCH) == 0
    only_run(other)
    assert not (mlruns / "mlflow.db").exists()


def test_several_configs_last_wins(mlruns: Path, tmp_path: Path) -> None:
    override = tmp_path / "override.yaml"
    override.write_text("trainer:\n  max_epochs: 2\nmodel:\n  init_args:\n    head: relu\n")
    args = [
        "fit",
        "--config",
        QUICKSTART,
        "--config",
        str(override),
        "--trainer.enable_progress_bar",
        "false",
    ]
    assert run_actlab(args) == 0
    client, run = only_run(tracking_uri(mlruns), "override")  # named after the last config
    assert run.data.params["trainer.max_epochs"] == "2"
    assert run.data.params["model.head"] == "relu"


def test_print_config_round_trips(mlruns: Path, tmp_path: Path, capsys) -> None:
    assert run_actlab(["fit", "--config", QUICKSTART, "--print_config"]) == 0
    printed = capsys.readouterr().out
    dumped = tmp_path / "dumped.yaml"
    dumped.write_text(printed)
    config = yaml.safe_load(printed)
    assert config["model"]["init_args"]["backbone"] == "mlp"
    assert "num_classes" not in config["model"]["init_args"]  # linked from the data module
    assert run_actlab(["fit", "--config", str(dumped), "--print_config"]) == 0
    assert yaml.safe_load(capsys.readouterr().out) == config
    assert run_actlab(["fit", "--config", str(dumped), "--trainer.fast_dev_run", "1"]) == 0


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["fit", "--config", "missing.yaml"], "missing.yaml"),
        (
            ["fit", "--config", QUICKSTART, "--model.init_args.backbon", "mlp"],
            "did you mean 'backbone'",
        ),
        (["fit", "--config", QUICKSTART, "--trainer.max_epochs", "many"], "expected int"),
        (["fit", "--config", QUICKSTART, "--model.head", "sigmoid"], "'softmax', 'relu'"),
        (
            ["fit", "--config", QUICKSTART, "--model.backbone", "resnet1800"],
            "did you mean 'resnet18'",
        ),
        (["fit", "--config", QUICKSTART, "--data", "NoSuchData"], "actlab.data.WDBCDataModule"),
        (["fitt"], "did you mean 'fit'? valid: activations, configs, fit, predict"),
    ],
    ids=[
        "missing-config",
        "unknown-key",
        "wrong-type",
        "bad-literal",
        "unknown-model",
        "unknown-data",
        "unknown-command",
    ],
)
def test_bad_input_is_one_line_without_traceback(args, expected, mlruns: Path, capsys) -> None:
    assert run_actlab(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    errors = [line for line in err if line.startswith("actlab: error:")]
    assert len(errors) == 1, err
    assert expected in errors[0]
    assert not any("Traceback" in line for line in err), err


def test_unknown_key_in_yaml_file(mlruns: Path, tmp_path: Path, capsys) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("data:\n  init_args:\n    batchsize: 3\n")
    assert run_actlab(["fit", "--config", QUICKSTART, "--config", str(bad)]) == 2
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert "unknown option of data (WDBCDataModule) 'batchsize'" in line
    assert "did you mean 'batch_size'" in line


def test_console_script_errors_in_subprocess(tmp_path: Path) -> None:
    result = actlab_subprocess(["fit", "--config", str(tmp_path / "nope.yaml")])
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "nope.yaml" in result.stderr.strip().splitlines()[-1]


@pytest.mark.parametrize("command", [["actlab"], [sys.executable, "-m", "actlab"]])
def test_help_and_version(command: list[str]) -> None:
    exe = command if command[0] != "actlab" else [str(Path(sys.executable).with_name("actlab"))]
    if not Path(exe[0]).exists():
        pytest.skip("console script not installed next to this interpreter")
    help_ = subprocess.run([*exe, "--help"], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert help_.returncode == 0
    for word in ("fit", "validate", "test", "predict", "ui"):
        assert word in help_.stdout
    version = subprocess.run([*exe, "--version"], capture_output=True, text=True, timeout=120)
    assert version.stdout.strip() == f"actlab {actlab.__version__}"


def test_fit_help_lists_lightning_options() -> None:
    result = actlab_subprocess(["fit", "--help"])
    assert result.returncode == 0
    assert "--trainer.max_epochs" in result.stdout and "--print_config" in result.stdout


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


def error_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("actlab: error:")]


# -- 17.1: --ckpt_path last resumes only this configuration and never changes a finished run ----


def test_ckpt_last_never_touches_another_config_or_a_finished_run(mlruns: Path, capsys) -> None:
    uri = tracking_uri(mlruns)
    assert run_actlab(ONE_EPOCH) == 0
    (finished,) = all_runs(uri)
    run_id = finished.info.run_id
    digits = [*ONE_EPOCH, "--data", "actlab.data.DigitsDataModule", "--ckpt_path", "last"]
    capsys.readouterr()
    assert run_actlab(digits) == 2  # the WDBC checkpoint is not this config's
    assert "no last.ckpt of this configuration" in error_lines(capsys.readouterr().err)[0]

    assert run_actlab([*ONE_EPOCH, "--trainer.max_epochs", "2", "--ckpt_path", "last"]) == 0
    note = capsys.readouterr().err
    assert f"run {run_id} (mlp-relu-wdbc) is FINISHED and a finished run is never changed" in note
    runs = {r.info.run_id: r for r in all_runs(uri)}
    assert len(runs) == 2
    old = runs[run_id]
    assert old.info.status == "FINISHED" and old.info.end_time == finished.info.end_time
    assert old.data.tags == finished.data.tags and old.data.metrics == finished.data.metrics
    (new,) = (r for r in runs.values() if r.info.run_id != run_id)
    assert new.info.status == "FINISHED" and new.data.tags["continued_from"] == run_id
    client = MlflowClient(uri)
    assert [m.step for m in client.get_metric_history(new.info.run_id, "val/acc")] == [1]


def test_ckpt_last_resumes_the_failed_run_and_names_it(mlruns: Path, capsys) -> None:
    crash = ["--trainer.callbacks+=tests.tracking.helpers.FailAfterSteps"]
    # WDBC: 12 training batches an epoch, so this fails in epoch 1, after epoch 0's last.ckpt
    assert run_actlab([*ONE_EPOCH, "--trainer.max_epochs", "2", *crash,
                       "--trainer.callbacks.init_args.steps", "14"]) == 70  # a bug's status  # fmt: skip
    (failed,) = all_runs(tracking_uri(mlruns))
    assert failed.info.status == "FAILED"
    assert failed.data.tags["error"] == "RuntimeError: boom: test-only crash"
    capsys.readouterr()
    assert run_actlab([*ONE_EPOCH, "--trainer.max_epochs", "2", "--ckpt_path", "last"]) == 0
    captured = capsys.readouterr()
    assert (
        f"actlab: resuming run {failed.info.run_id} (mlp-relu-wdbc), FAILED, from" in captured.err
    )
    assert f"{failed.info.run_id}  (mlp-relu-wdbc)" in captured.out  # the summary: no "(None)"
    (resumed,) = all_runs(tracking_uri(mlruns))
    assert resumed.info.run_id == failed.info.run_id and resumed.info.status == "FINISHED"


# -- 17.3: a non-finite loss stops the fit ------------------------------------------------------


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


def test_two_fits_at_once_on_a_fresh_store_both_finish(tmp_path: Path) -> None:
    from tests.helpers import process_group

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


def test_a_data_error_in_setup_leaves_its_reason_on_the_failed_run(mlruns: Path, capsys) -> None:
    missing = ["--data", "actlab.data.MNISTDataModule", "--data.root", str(mlruns.parent / "no")]
    assert run_actlab([*ONE_EPOCH, *missing]) == 2
    (line,) = error_lines(capsys.readouterr().err)
    (run,) = all_runs(tracking_uri(mlruns))
    assert run.info.status == "FAILED"
    assert run.data.tags["error"] == line.removeprefix("actlab: error: ")


# -- a truncated spool line ---------------------------------------------------------------


def test_sync_skips_a_truncated_spool_line_and_sends_the_rest(mlruns: Path, capsys) -> None:
    from actlab.tracking.resilience import Spool
    from actlab.tracking.store import ensure_store

    uri = ensure_store()
    client = MlflowClient(uri)
    run = client.create_run(client.create_experiment("spooled"))
    spool = Spool(run.info.run_id, uri, mlruns / "spool")
    spool.append("set_tag", (run.info.run_id, "a", "1"), {})
    spool.append("set_tag", (run.info.run_id, "b", "2"), {})
    with spool.path.open("a") as f:
        f.write('{"method": "set_tag", "tracking_uri": "sqli')  # killed mid-write
    assert run_actlab(["sync"]) == 0
    out = capsys.readouterr().out
    assert f"run {run.info.run_id}: skipped 1 damaged spool record(s) (line 3" in out
    assert f"run {run.info.run_id}: sent" in out
    tags = client.get_run(run.info.run_id).data.tags
    assert (tags["a"], tags["b"]) == ("1", "2")
    assert not spool.path.exists()


# -- the soak test: kill -9 at random points, resume, every epoch logged once ------------------


def wait_for_last_ckpt(
    mlruns: Path, after: float, proc: subprocess.Popen, timeout: float = 300
) -> float:
    """Wait until a ``last.ckpt`` under ``mlruns`` is written after ``after``; returns its mtime."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        times = [p.stat().st_mtime for p in mlruns.glob("*/*/checkpoints/last.ckpt")]
        if times and max(times) > after:
            return max(times)
        assert proc.poll() is None, f"the fit ended ({proc.returncode}) before a new last.ckpt"
        time.sleep(0.02)
    raise TimeoutError(f"no new last.ckpt under {mlruns}")


@pytest.mark.slow
def test_soak_kill_9_at_random_points_then_resume_logs_every_epoch_once(tmp_path: Path) -> None:
    import random

    from tests.helpers import process_group

    seed = int(os.environ.get("ACTLAB_SOAK_SEED") or random.SystemRandom().randrange(2**32))
    print(f"soak seed {seed}: replay with ACTLAB_SOAK_SEED={seed}")
    rng = random.Random(seed)
    epochs = 8
    mlruns = tmp_path / "mlruns"
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "ACTLAB_MLRUNS": str(mlruns),
        "MLFLOW_TRACKING_URI": "",
    }
    args = [*ONE_EPOCH, "--trainer.max_epochs", str(epochs)]
    epoch_seconds = None
    for kill_round in range(3):
        resume = [] if kill_round == 0 else ["--ckpt_path", "last"]
        started = time.time()
        with process_group([sys.executable, "-m", "actlab", *args, *resume], env=env, cwd=tmp_path,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) as proc:  # fmt: skip
            written = wait_for_last_ckpt(mlruns, started, proc)
            if epoch_seconds is None:  # one epoch, from two consecutive last.ckpt writes
                epoch_seconds = wait_for_last_ckpt(mlruns, written, proc) - written
            delay = rng.uniform(0, 1.5 * epoch_seconds)
            print(f"round {kill_round}: kill -9 {delay:.2f} s after a last.ckpt write")
            time.sleep(delay)
            os.killpg(proc.pid, signal.SIGKILL)
            _, err = proc.communicate(timeout=60)
        assert proc.returncode == -signal.SIGKILL, (
            f"round {kill_round} ended by itself: {err[-2000:]}"
        )
        (run,) = all_runs(tracking_uri(mlruns))
        assert run.info.status == "RUNNING"  # killed: nobody could end it

    result = actlab_subprocess([*args, "--ckpt_path", "last"], env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"resuming run {run.info.run_id} (mlp-relu-wdbc), RUNNING" in result.stderr
    (final,) = all_runs(tracking_uri(mlruns))
    assert final.info.run_id == run.info.run_id and final.info.status == "FINISHED"
    client = MlflowClient(tracking_uri(mlruns))
    for key in (
        "train/loss",
        "train/acc",
        "val/loss",
        "val/acc",
        "val/best_acc",
        "time/epoch_seconds",
    ):
        steps = sorted(m.step for m in client.get_metric_history(run.info.run_id, key))
        assert steps == list(range(epochs)), (key, steps, f"seed {seed}")
    assert [m.step for m in client.get_metric_history(run.info.run_id, "test/acc")] == [epochs]


def test_lightning_console_log_follows_the_current_stderr(capsys) -> None:
    """``import lightning`` binds a handler to the stderr of that moment; in-process runs under
    pytest replace and close that stream, and the next record failed with ``I/O operation on
    closed file`` (the in-process CLI tests' flake)."""
    import io
    import logging

    from tests.console import route_lightning_console

    logger = logging.getLogger("lightning")
    before = list(logger.handlers)
    stale = io.StringIO()
    logger.addHandler(logging.StreamHandler(stale))
    stale.close()
    try:
        route_lightning_console()
        logging.getLogger("lightning.pytorch.test").warning("still printed")
    finally:
        logger.handlers[:] = before
    err = capsys.readouterr().err
    assert "still printed" in err and "Logging error" not in err


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
