"""The real Fashion-MNIST, end to end (issue 12.6): IDX files -> data module -> actlab fit -> MLflow.

The data comes from the project's own script, ``scripts/get-data.sh fashion_mnist`` (the Debian
package dataset-fashion-mnist, offline). Where the package cannot be installed (no apt, not
root) the tests skip with the script's reason; under ``CI=true`` they fail instead, so CI always
runs the guard.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import torch
from mlflow.tracking import MlflowClient

from actlab.data import FashionMNISTDataModule
from tests.helpers import REPO, run_actlab, tracking_uri

GET_DATA = REPO / "scripts" / "get-data.sh"
#: The one-epoch fit below reached 0.817 on the real test set when written (1 thread); below
#: this, something between the IDX files and the MLflow metric is broken.
MIN_TEST_ACC = 0.80


@pytest.fixture(scope="module")
def fashion_root() -> Path:
    """The folder of the four real IDX files, installed through scripts/get-data.sh."""
    result = subprocess.run(
        ["bash", str(GET_DATA), "fashion_mnist"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if result.returncode != 0:
        reason = (result.stderr.strip().splitlines() or ["no output"])[-1]
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true and the real Fashion-MNIST cannot be installed: {reason}")
        pytest.skip(f"real Fashion-MNIST not available here: {reason}")
    return Path(result.stdout.strip().splitlines()[-1])


def test_get_data_is_idempotent_and_rejects_unknown_names(fashion_root: Path) -> None:
    again = subprocess.run(
        ["bash", str(GET_DATA), "fashion_mnist"], capture_output=True, text=True, check=False
    )
    assert again.returncode == 0 and again.stdout.strip() == str(fashion_root)
    assert again.stderr == ""  # nothing installed the second time
    bad = subprocess.run(["bash", str(GET_DATA), "cifar"], capture_output=True, text=True)
    assert bad.returncode == 2 and "unknown dataset 'cifar'; valid: fashion_mnist" in bad.stderr


def test_real_files_are_the_70000_images(fashion_root: Path) -> None:
    dm = FashionMNISTDataModule(root=fashion_root, val_on_test=True, normalize=False)
    dm.setup("fit")
    assert dm.data_dir() == fashion_root
    assert len(dm.train_set) == 60_000 and len(dm.test_set) == 10_000
    assert dm.train_set.targets.bincount().tolist() == [6_000] * 10
    assert dm.test_set.targets.bincount().tolist() == [1_000] * 10
    # the class constants normalise with the real training mean and std
    assert abs(float(dm.train_set.inputs.mean()) - FashionMNISTDataModule.mean[0]) < 5e-4
    assert abs(float(dm.train_set.inputs.std()) - FashionMNISTDataModule.std[0]) < 5e-4


@pytest.mark.slow
def test_one_short_fit_on_real_data_reaches_the_stated_accuracy(
    fashion_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """cpaf_fashion_cnn with element-wise cpaf_relu, 3,000 images per class, one epoch.

    One thread: on a loaded 2-core machine a second OpenMP thread mostly spins waiting for a core
    (measured here: 224 s CPU with two threads against 46 s with one, same accuracy).
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        _fit_and_check(fashion_root, tmp_path, monkeypatch)
    finally:
        torch.set_num_threads(threads)


def _fit_and_check(fashion_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mlruns = tmp_path / "mlruns"
    monkeypatch.setenv("ACTLAB_MLRUNS", str(mlruns))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.chdir(tmp_path)
    args = [
        "fit", "--config", str(REPO / "configs" / "papers" / "004_cpaf" / "fashion.yaml"),
        "--model.init_args.activation", "cpaf_relu(k=2, granularity=element)",
        "--data.init_args.root", str(fashion_root),
        "--data.init_args.samples_per_class", "3000",
        "--data.init_args.batch_size", "64",
        "--trainer.max_epochs", "1",
        "--trainer.accelerator", "cpu",
        "--trainer.logger.init_args.experiment_name", "real-fashion",
    ]  # fmt: skip
    assert run_actlab(args) == 0
    client = MlflowClient(tracking_uri(mlruns))
    exp = client.get_experiment_by_name("real-fashion")
    (run,) = client.search_runs([exp.experiment_id])
    assert run.info.status == "FINISHED"
    assert run.data.params["data.val_on_test"] == "True"
    acc = run.data.metrics["test/acc"]
    assert acc >= MIN_TEST_ACC, f"test/acc {acc:.4f} < {MIN_TEST_ACC} on the real test set"
