"""End to end through the CLI: every tracked metric, image, CSV and .npz, at the right steps."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from actlab.data import DigitsDataModule
from tests.helpers import CONFIGS, run_actlab, tracking_uri
from tests.tracking.helpers import all_artifacts, image_steps, metric_steps

QUICKSTART = str(CONFIGS / "quickstart.yaml")
QUIET = ["--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false"]
LAYERS = ("backbone.features.2", "backbone.features.4")  # the two swapped activations
KEYS = ("z_act/00.backbone.features.2", "z_act/01.backbone.features.4")  # their metric keys


def only_run(uri: str):
    client = MlflowClient(uri)
    runs = client.search_runs([client.get_experiment_by_name("quickstart").experiment_id])
    assert len(runs) == 1
    return client, runs[0]


def read_csv(client: MlflowClient, run_id: str, path: str, dst: Path) -> list[list[str]]:
    local = client.download_artifacts(run_id, path, str(dst))
    return list(csv.reader(io.StringIO(Path(local).read_text())))


def test_fit_digits_with_trainable_activation_logs_everything(mlruns: Path, tmp_path: Path):
    args = [
        "fit", "--config", QUICKSTART, *QUIET,
        "--data", "actlab.data.DigitsDataModule",
        "--data.batch_size", "128",
        "--model.backbone_kwargs", "{hidden_sizes: [32, 16], drop_rate: 0.0}",
        "--model.optimizer.lr", "0.01",
        "--trainer.max_epochs", "2",
        "--trainer.callbacks+=tests.tracking.helpers.ShiftedReLUSwap",
        "--tracking.thresholds", "[0.3, 0.9999]",
        "--tracking.params_every_n_epochs", "1",  # the .npz every epoch, images only when due
        "--tracking.activation_images_every_n_epochs", "5",
        "--tracking.feature_scatter", "always",
        "--tracking.activation_stats", "all",
    ]  # fmt: skip
    assert run_actlab(args) == 0
    client, run = only_run(tracking_uri(mlruns))
    run_id = run.info.run_id
    assert run.info.status == "FINISHED"

    per_epoch = [
        "train/loss", "train/acc", "train/lr", "val/loss", "val/acc", "val/precision",
        "val/recall", "val/f1", "val/best_acc", "val/best_epoch", "time/epoch_seconds",
        "time/samples_per_sec",
    ]  # fmt: skip
    per_epoch += [f"{key}/{p}_{s}" for key in KEYS for p in "ab" for s in ("mean", "std", "min", "max")]  # fmt: skip
    for key in per_epoch:
        assert metric_steps(client, run_id, key) == [0, 1], key
    assert len(metric_steps(client, run_id, "train/loss_step")) >= 2
    metrics = run.data.metrics
    assert metrics["train/lr"] == pytest.approx(0.01)
    assert metrics["time/epoch_seconds"] > 0 and metrics["time/samples_per_sec"] > 0
    # 10 classes: no top-5 accuracy.
    assert "val/acc_top5" not in metrics
    # Time to accuracy: reached once for 0.3, never for 0.9999.
    assert metric_steps(client, run_id, "time/epochs_to_val_acc_0.30") in ([0], [1])
    assert len(metric_steps(client, run_id, "time/seconds_to_val_acc_0.30")) == 1
    assert "time/epochs_to_val_acc_1.00" not in metrics
    assert not any(k.endswith("_0.9999") or k.endswith("_1.00") for k in metrics)
    best_epoch = int(metrics["val/best_epoch"])
    val_acc = {m.step: m.value for m in client.get_metric_history(run_id, "val/acc")}
    assert metrics["val/best_acc"] == pytest.approx(max(val_acc.values()))
    assert val_acc[best_epoch] == pytest.approx(max(val_acc.values()))
    # Test metrics of the final weights and of the best checkpoint, at step = max_epochs.
    for prefix in ("test", "test_best"):
        for name in ("acc", "loss", "precision", "recall", "f1"):
            assert metric_steps(client, run_id, f"{prefix}/{name}") == [2], (prefix, name)
    # The (a, b) of the swapped activations moved away from their initial (1, 0).
    assert metrics[f"{KEYS[0]}/b_std"] > 0

    files = all_artifacts(client, run_id)
    assert image_steps(files, "confusion_val") == [1]  # every 5 epochs and the last one
    assert image_steps(files, "act_ab_scatter") == [1]  # every 5 epochs and the last one
    assert image_steps(files, "act_curves") == [1]
    for key in ("confusion_test", "confusion_test_best", "features_test", "features_test_best"):
        assert image_steps(files, key) == [2], key
    rows = read_csv(client, run_id, "confusion/val_epoch001.csv", tmp_path)
    assert rows[0] == ["true\\predicted", *[str(d) for d in range(10)]]
    assert [r[0] for r in rows[1:]] == [str(d) for d in range(10)]
    data = DigitsDataModule(test_fraction=0.3)  # as in the quickstart config
    data.setup()
    assert sum(int(v) for r in rows[1:] for v in r[1:]) == len(data.val_set)
    assert "confusion/val_epoch000.csv" not in files
    for name in ("confusion/test.csv", "confusion/test_best.csv"):
        assert name in files
    test_rows = read_csv(client, run_id, "confusion/test.csv", tmp_path)
    assert sum(int(v) for r in test_rows[1:] for v in r[1:]) == len(data.test_set)
    for name in ("epoch000", "epoch001", "final"):
        local = client.download_artifacts(run_id, f"activation_params/{name}.npz", str(tmp_path))
        arrays = np.load(local)
        assert sorted(arrays) == sorted(f"{layer}.{p}" for layer in LAYERS for p in "ab")
        assert arrays[f"{LAYERS[0]}.a"].shape == (1, 32)
        assert arrays[f"{LAYERS[1]}.b"].shape == (1, 16)
    final = np.load(client.download_artifacts(run_id, "activation_params/final.npz", str(tmp_path)))
    assert final[f"{LAYERS[0]}.a"].mean() == pytest.approx(metrics[f"{KEYS[0]}/a_mean"], abs=1e-5)


def test_wdbc_confusion_has_class_names_and_no_activation_artifacts(mlruns: Path, tmp_path):
    args = ["fit", "--config", QUICKSTART, *QUIET, "--trainer.max_epochs", "1",
            "--tracking.confusion_every_n_epochs", "0"]  # fmt: skip
    assert run_actlab(args) == 0
    client, run = only_run(tracking_uri(mlruns))
    files = all_artifacts(client, run.info.run_id)
    assert image_steps(files, "confusion_val") == []
    assert not any(f.startswith("activation_params/") for f in files)
    assert not any(k.startswith("z_act/") for k in run.data.metrics)
    # 128-64-32 MLP: pre-logits are 32-D, so `auto` draws no feature scatter.
    assert image_steps(files, "features_test") == []
    rows = read_csv(client, run.info.run_id, "confusion/test.csv", tmp_path)
    assert rows[0] == ["true\\predicted", "malignant", "benign"]
    assert [r[0] for r in rows[1:]] == ["malignant", "benign"]


def test_crashing_fit_marks_the_run_failed(mlruns: Path):
    args = ["fit", "--config", QUICKSTART, *QUIET, "--trainer.max_epochs", "1",
            "--trainer.callbacks+=tests.tracking.helpers.FailAfterSteps"]  # fmt: skip
    assert run_actlab(args) == 70  # a bug: its traceback and its own exit status
    _, run = only_run(tracking_uri(mlruns))
    assert run.info.status == "FAILED"
