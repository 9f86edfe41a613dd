"""ClassificationModule with a swapped activation: optimizer groups, checkpoints, report, heads."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from lightning import Trainer
from mlflow.tracking import MlflowClient

from actlab.data import SyntheticDataModule
from actlab.tasks import ClassificationModule
from actlab.tasks.heads import head_loss, head_outputs
from tests.helpers import CONFIGS, run_actlab, tracking_uri


def _module(**kwargs) -> ClassificationModule:
    defaults = dict(
        backbone="small_cnn",
        num_classes=3,
        input_shape=(1, 8, 8),
        backbone_kwargs={"channels": [4, 8]},
        activation="cpaf_relu(k=2, granularity=element)",
    )
    return ClassificationModule(**{**defaults, **kwargs})


def test_activation_parameters_get_their_own_group() -> None:
    module = _module(
        activation_weight_decay=0.0,
        optimizer=lambda p: torch.optim.SGD(p, lr=0.1, weight_decay=5e-4),
    )
    assert module.activation_name == "cpaf_relu(granularity=element)"
    groups = module.parameter_groups()
    assert len(groups) == 2
    acts = groups[1]["params"]
    assert groups[1]["weight_decay"] == 0.0 and len(acts) == 2 * 4  # 4 sites, a and b each
    shapes = sorted(tuple(p.shape) for p in acts)
    assert (2, 4, 8, 8) in shapes and (
        2,
        8,
        4,
        4,
    ) in shapes  # element-wise, created by the dry forward
    opt = module.configure_optimizers()
    assert (
        opt.param_groups[0]["weight_decay"] == 5e-4 and opt.param_groups[1]["weight_decay"] == 0.0
    )
    n_all = sum(p.numel() for p in module.parameters())
    assert sum(p.numel() for g in groups for p in g["params"]) == n_all
    assert len(_module(activation=None).parameter_groups()) == 1
    assert (
        len(
            _module(activation="prelu", activation_weight_decay=1e-3).parameter_groups()[1][
                "params"
            ]
        )
        == 4
    )


def test_fit_checkpoint_reload_reproduces_outputs(tmp_path: Path) -> None:
    torch.manual_seed(0)
    data = SyntheticDataModule(
        input_shape=(1, 8, 8), num_classes=3, train_samples=64, test_samples=16, batch_size=16
    )
    module = _module(num_classes=data.num_classes, input_shape=data.input_shape)
    trainer = Trainer(
        max_steps=2, logger=False, enable_checkpointing=False, enable_progress_bar=False,
        default_root_dir=tmp_path, limit_val_batches=1, enable_model_summary=False,
    )  # fmt: skip
    before = [p.detach().clone() for p in module.activation_parameters()]
    trainer.fit(module, datamodule=data)
    after = module.activation_parameters()
    assert any(not torch.equal(a, b) for a, b in zip(before, after, strict=True))  # they train
    path = tmp_path / "model.ckpt"
    trainer.save_checkpoint(path)
    # the hyperparameters hold the optimizer class, which torch.load refuses under weights_only
    reloaded = ClassificationModule.load_from_checkpoint(path, weights_only=False)
    x = torch.randn(5, 1, 8, 8)
    module.eval()
    reloaded.eval()
    torch.testing.assert_close(reloaded(x), module(x))
    assert reloaded.activation_name == module.activation_name


def test_cli_fit_logs_swap_report_and_names_run_by_spec(mlruns: Path) -> None:
    args = [
        "fit", "--config", str(CONFIGS / "quickstart.yaml"),
        "--model.init_args.activation", "cpaf_relu(k=3, granularity=element)",
        "--trainer.max_epochs", "1", "--trainer.enable_progress_bar", "false",
    ]  # fmt: skip
    assert run_actlab(args) == 0
    client = MlflowClient(tracking_uri(mlruns))
    [run] = client.search_runs([client.get_experiment_by_name("quickstart").experiment_id])
    assert run.info.status == "FINISHED"
    assert run.info.run_name == "mlp-cpaf_relu(k=3, granularity=element)-wdbc"
    assert run.data.tags["activation"] == "cpaf_relu(k=3, granularity=element)"
    assert run.data.tags["activation_sites_replaced"] == "3"
    local = client.download_artifacts(
        run.info.run_id, "activations/swap_report.json", str(mlruns.parent)
    )
    report = json.loads(Path(local).read_text())
    assert report["spec"] == "cpaf_relu(k=3, granularity=element)" and len(report["replaced"]) == 3
    assert report["replaced"][0]["old"] == "ReLU" and report["dry_run"]


def test_cli_unknown_activation_is_one_line_error(mlruns: Path, capsys) -> None:
    args = [
        "fit",
        "--config",
        str(CONFIGS / "quickstart.yaml"),
        "--model.init_args.activation",
        "cpaf_rleu",
    ]
    assert run_actlab(args) == 2
    err = capsys.readouterr().err
    assert "cpaf_relu" in err and "Traceback" not in err


def _keras_categorical_crossentropy(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """Keras 2's backend.categorical_crossentropy(from_logits=False), in numpy."""
    eps = 1e-7
    y_pred = y_pred / y_pred.sum(axis=-1, keepdims=True)
    y_pred = np.clip(y_pred, eps, 1 - eps)
    return -(y_true * np.log(y_pred)).sum(axis=-1)


def test_dl_relu_loss_matches_keras() -> None:
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(64, 10)).astype(np.float64)
    logits[0] = -1.0  # all-negative row: relu gives zeros (Keras: 0/0 -> nan -> clip; here eps)
    target = rng.integers(0, 10, size=64)
    got = head_loss(torch.from_numpy(logits), torch.from_numpy(target), "relu")
    outputs = np.maximum(logits, 0)
    onehot = np.eye(10)[target]
    want = _keras_categorical_crossentropy(onehot[1:], outputs[1:])
    per_row = -np.log(np.clip(np.zeros(10) + 1e-7, 1e-7, 1 - 1e-7))[0]  # every class at eps
    assert got.item() == pytest.approx((want.sum() + per_row) / 64, rel=1e-9)
    scores = head_outputs(torch.from_numpy(logits), "relu")
    assert torch.equal(scores.argmax(1), torch.from_numpy(outputs).argmax(1))
    soft = head_loss(torch.from_numpy(logits), torch.from_numpy(target), "softmax")
    torch.testing.assert_close(
        soft, torch.nn.functional.cross_entropy(torch.from_numpy(logits), torch.from_numpy(target))
    )
