"""`actlab fit` end to end through the real LightningCLI and MLflow store: what a run records,
config files, help, and bad input as one line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import actlab
from tests.helpers import (
    FAST,
    ONE_EPOCH,
    QUICKSTART,
    REPO,
    actlab_subprocess,
    only_run,
    run_actlab,
    tracking_uri,
)


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
