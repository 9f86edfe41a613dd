"""Fine-tuning controls of ClassificationModule: frozen parameters, the activation learning rate,
unfreezing, the step-0 evaluation, and a pretrained actlab checkpoint end to end."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import torch
from lightning import Trainer
from mlflow.tracking import MlflowClient

from actlab.data import SyntheticDataModule
from actlab.errors import ActlabError
from actlab.tasks import ClassificationModule
from tests.helpers import CONFIGS, all_runs, run_actlab, tracking_uri


def _module(**kwargs) -> ClassificationModule:
    defaults = dict(
        backbone="small_cnn",
        num_classes=3,
        input_shape=(1, 8, 8),
        backbone_kwargs={"channels": [4, 8]},
        activation="cpaf_relu",
        optimizer=lambda p: torch.optim.SGD(p, lr=0.1),
    )
    return ClassificationModule(**{**defaults, **kwargs})


def _fit(module: ClassificationModule, tmp_path: Path, **trainer) -> Trainer:
    torch.manual_seed(0)
    data = SyntheticDataModule(
        input_shape=(1, 8, 8), num_classes=3, train_samples=48, test_samples=16, batch_size=16
    )
    options = dict(
        max_epochs=1, logger=False, enable_checkpointing=False, enable_progress_bar=False,
        default_root_dir=tmp_path, limit_val_batches=1, enable_model_summary=False,
    )  # fmt: skip
    fitter = Trainer(**{**options, **trainer})
    fitter.fit(module, datamodule=data)
    return fitter


def _state(module: ClassificationModule) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.backbone.state_dict().items()}


def test_trainable_activations_freezes_the_rest_batch_norm_statistics_included(tmp_path) -> None:
    module = _module(trainable="activations")
    before = _state(module)
    _fit(module, tmp_path, max_steps=3)
    after = _state(module)
    act_keys = {k for k in before if k.endswith((".a", ".b"))}
    assert act_keys and any(not torch.equal(before[k], after[k]) for k in act_keys)
    for key in set(before) - act_keys:  # weights, biases, running means and variances
        assert torch.equal(before[key], after[key]), key

    classifier = _module(trainable="activations_and_classifier")
    before = _state(classifier)
    _fit(classifier, tmp_path, max_steps=3)
    changed = {k for k, v in _state(classifier).items() if not torch.equal(v, before[k])}
    assert {"classifier.weight", "classifier.bias"} <= changed
    assert not any(k.startswith("features.0.") for k in changed)


def test_activation_lr_reaches_the_optimizer_group() -> None:
    module = _module(activation_lr=0.005)
    optimizer = module.configure_optimizers()
    assert [g["lr"] for g in optimizer.param_groups] == [0.1, 0.005]
    assert optimizer.param_groups[1]["name"] == "activations"
    assert "lr" not in _module().parameter_groups()[1]


def test_unfreeze_at_epoch_trains_everything_from_that_epoch(tmp_path) -> None:
    module = _module(trainable="activations", unfreeze_at_epoch=1, activation_lr=0.01)
    before = _state(module)
    fitter = _fit(module, tmp_path, max_epochs=2)
    after = _state(module)
    assert not torch.equal(before["features.0.weight"], after["features.0.weight"])
    groups = fitter.optimizers[0].param_groups
    assert len(groups) == 3 and groups[2]["lr"] == 0.1  # the unfrozen rest, at the base lr
    assert all(p.requires_grad for p in module.parameters())


def test_bad_fine_tuning_options_are_one_line() -> None:
    cases = {
        "activations (relu) have none": dict(activation=None, trainable="activations"),
        "needs trainable: activations": dict(unfreeze_at_epoch=2),
        "no activation is given": dict(activation=None, activation_init="fit"),
        "activation_lr must be > 0": dict(activation_lr=0.0),
        "activation_fit_batches must be an integer >= 1": dict(activation_fit_batches=0),
    }
    for expected, kwargs in cases.items():
        with pytest.raises(ActlabError, match=expected.replace("(", r"\(").replace(")", r"\)")):
            _module(**kwargs)


def test_pretrained_actlab_checkpoint_fit_and_step0_evaluation_end_to_end(mlruns: Path) -> None:
    """Pretrain with actlab (WDBC, one epoch), then fine-tune from its ``last.ckpt`` with PReLU
    fitted to the ReLU it replaces: the step-0 evaluation equals the pretrained net's validation
    accuracy exactly, and the run records the file, its hash and the fit."""
    fit = ["fit", "--config", str(CONFIGS / "quickstart.yaml"), "--trainer.max_epochs", "1",
           "--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false"]  # fmt: skip
    assert run_actlab(fit) == 0
    [pretrained] = all_runs(tracking_uri(mlruns))
    [ckpt] = mlruns.rglob(f"{pretrained.info.run_id}/checkpoints/last.ckpt")
    args = [*fit, "--model.weights", str(ckpt), "--model.activation", "prelu",
            "--model.activation_init", "fit", "--model.activation_fit_batches", "2"]  # fmt: skip
    assert run_actlab(args) == 0
    [run] = [r for r in all_runs(tracking_uri(mlruns)) if r.info.run_id != pretrained.info.run_id]
    params, metrics = run.data.params, run.data.metrics
    assert params["model.weights_sha256"] == hashlib.sha256(ckpt.read_bytes()).hexdigest()
    assert params["model.weights_from"] == f"file:{ckpt.resolve()}"
    assert (
        params["model.activation_init"] == "fit" and params["model.activation_fit_batches"] == "2"
    )
    assert params["model.activation_fit_poor_sites"] == "0"
    assert metrics["val_start/acc"] == pytest.approx(pretrained.data.metrics["val/acc"], abs=1e-6)
    assert "test_start/acc" in metrics
    client = MlflowClient(tracking_uri(mlruns))
    [start] = client.get_metric_history(run.info.run_id, "val_start/acc")
    assert start.step == 0
    local = client.download_artifacts(
        run.info.run_id, "activations/swap_report.json", str(mlruns.parent)
    )
    report = json.loads(Path(local).read_text())
    assert report["activation_init"] == "fit" and report["fit"]["batches"] == 2
    assert all(site["fit_error"] == 0.0 for site in report["replaced"])
