"""configs/recipes/: each recipe parses and trains one step on CPU with fake data of its format."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.data.conftest import load_generator
from tests.helpers import CONFIGS, all_runs, run_actlab, tracking_uri


@pytest.mark.slow
def test_cifar10_resnet18_gpu_recipe_runs_on_cpu(mlruns: Path, tmp_path: Path) -> None:
    """Everything but the GPU and torch.compile (tested on a small net in tests/tasks; inductor
    takes minutes on resnet18 on 2 cores)."""
    root = load_generator("cifar10").make(tmp_path / "cifar10")
    args = [
        "fit",
        "--config", str(CONFIGS / "recipes" / "cifar10_resnet18_gpu.yaml"),
        "--trainer.accelerator", "cpu",
        "--trainer.max_steps", "1",
        "--trainer.limit_val_batches", "1",
        "--trainer.limit_test_batches", "1",
        "--data.root", str(root),
        "--data.batch_size", "8",
        "--model.compile", "false",
    ]  # fmt: skip
    assert run_actlab(args) == 0
    runs = all_runs(tracking_uri(mlruns))
    assert len(runs) == 1
    params = runs[0].data.params
    assert params["model.backbone"] == "cifar_resnet18"
    assert params["model.channels_last"] == "True" and params["trainer.precision"] == "bf16-mixed"
    assert params["data.on_device"] == "True" and params["model.compile"] == "False"
