"""The task's speed options: ``compile``, ``channels_last``, and bf16 through the trainer."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from mlflow.tracking import MlflowClient

from actlab.errors import ActlabError
from actlab.tasks import ClassificationModule
from actlab.tasks.classification import compile_options
from tests.helpers import run_actlab, tracking_uri


def _module(**kwargs) -> ClassificationModule:
    defaults = dict(
        backbone="small_cnn",
        num_classes=3,
        input_shape=(3, 8, 8),
        backbone_kwargs={"channels": [4, 8]},
        activation="cpaf_relu(k=2)",
    )
    return ClassificationModule(**{**defaults, **kwargs})


def _synthetic_fit(*args: str) -> list[str]:
    """``actlab fit`` of a tiny small_cnn with cpaf_relu on synthetic data, plus ``args``."""
    return [
        "fit",
        "--model.class_path=actlab.tasks.ClassificationModule",
        "--model.init_args.backbone=small_cnn",
        "--model.init_args.backbone_kwargs={channels: [4, 8]}",
        "--model.init_args.activation=cpaf_relu(k=2)",
        "--data.class_path=actlab.data.SyntheticDataModule",
        "--trainer.enable_progress_bar=false",
        *args,
    ]


def test_compile_options_are_checked_before_training() -> None:
    assert compile_options(False) is None and compile_options(None) is None
    assert compile_options(True) == {}
    assert compile_options({"mode": "max-autotune", "fullgraph": True}) == {
        "mode": "max-autotune",
        "fullgraph": True,
    }
    with pytest.raises(
        ActlabError, match="compile.mode 'fastest'.*valid: default, reduce-overhead"
    ):
        compile_options({"mode": "fastest"})
    with pytest.raises(ActlabError, match=r"unknown torch.compile argument\(s\) \['modes'\]"):
        compile_options({"modes": "default"})
    with pytest.raises(ActlabError, match="compile must be true, false or a dict"):
        compile_options("yes")  # type: ignore[arg-type]


def test_channels_last_changes_layout_not_results() -> None:
    torch.manual_seed(0)
    plain = _module()
    fast = _module(channels_last=True)
    fast.load_state_dict(plain.state_dict())
    convs = [m for m in fast.backbone.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs and all(c.weight.is_contiguous(memory_format=torch.channels_last) for c in convs)
    plain_convs = [m for m in plain.backbone.modules() if isinstance(m, torch.nn.Conv2d)]
    assert not any(c.weight.is_contiguous(memory_format=torch.channels_last) for c in plain_convs)
    x = torch.randn(5, 3, 8, 8)
    torch.testing.assert_close(fast(x), plain(x), rtol=1e-5, atol=1e-5)
    # gradients match too (the activation's own parameters included)
    fast(x).square().sum().backward()
    plain(x).square().sum().backward()
    for (name, p), q in zip(plain.named_parameters(), fast.parameters(), strict=True):
        torch.testing.assert_close(q.grad, p.grad, rtol=1e-4, atol=1e-5, msg=name)


def test_fit_with_channels_last_and_bf16(mlruns: Path) -> None:
    args = _synthetic_fit(
        "--model.init_args.channels_last=true",
        "--data.init_args.input_shape=[3, 16, 16]",
        "--data.init_args.train_samples=256",
        "--data.init_args.test_samples=64",
        "--data.init_args.batch_size=64",
        "--trainer.precision=bf16-mixed",
        "--trainer.max_epochs=2",
    )
    assert run_actlab(args) == 0
    client = MlflowClient(tracking_uri(mlruns))
    [run] = client.search_runs([client.get_experiment_by_name("synthetic").experiment_id])
    assert run.info.status == "FINISHED"
    assert run.data.params["model.channels_last"] == "True"
    assert run.data.params["trainer.precision"] == "bf16-mixed"
    history = client.get_metric_history(run.info.run_id, "train/loss")
    assert [m.step for m in history] == [0, 1]
    assert all(torch.isfinite(torch.tensor(m.value)) for m in history)
    assert 0.0 <= run.data.metrics["test/acc"] <= 1.0


def test_bad_compile_mode_is_one_line_before_training(
    mlruns: Path, capsys: pytest.CaptureFixture
) -> None:
    args = [
        "fit",
        "--model.class_path=actlab.tasks.ClassificationModule",
        "--model.init_args.backbone=mlp",
        "--model.init_args.compile={mode: turbo}",
        "--data.class_path=actlab.data.WDBCDataModule",
    ]
    assert run_actlab(args) == 2
    err = capsys.readouterr().err
    assert "compile.mode 'turbo'" in err and "max-autotune" in err and "Traceback" not in err


@pytest.mark.slow
def test_fit_with_compiled_backbone(mlruns: Path, tmp_path: Path) -> None:
    """``compile: true`` trains through inductor (a C++ compiler on CPU) and checkpoints load
    into an uncompiled module (same state-dict keys)."""
    args = _synthetic_fit(
        "--model.init_args.compile=true",
        "--data.init_args.input_shape=[3, 8, 8]",
        "--data.init_args.train_samples=128",
        "--data.init_args.test_samples=32",
        "--data.init_args.batch_size=32",
        "--trainer.max_epochs=1",
        f"--trainer.default_root_dir={tmp_path}",
    )
    assert run_actlab(args) == 0
    client = MlflowClient(tracking_uri(mlruns))
    [run] = client.search_runs([client.get_experiment_by_name("synthetic").experiment_id])
    assert run.info.status == "FINISHED" and run.data.params["model.compile"] == "True"
    [ckpt] = sorted(tmp_path.rglob("last.ckpt"))
    state = torch.load(ckpt, weights_only=False)["state_dict"]
    assert not any("_orig_mod" in key for key in state)
    plain = _module(num_classes=10)
    plain.load_state_dict(state)


def test_configure_model_compiles_the_backbone_once() -> None:
    module = _module(compile={"mode": "default", "dynamic": False})
    assert module.backbone._compiled_call_impl is None
    module.configure_model()
    compiled = module.backbone._compiled_call_impl
    assert compiled is not None
    module.configure_model()  # fit then test: not wrapped twice
    assert module.backbone._compiled_call_impl is compiled
    assert _module().compile_options is None
