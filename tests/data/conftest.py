"""Fixtures for the data tests: each dataset's fake-file generator and a CLI runner."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

from tests.helpers import all_runs, run_actlab, tracking_uri

HERE = Path(__file__).resolve().parent


def load_generator(name: str) -> ModuleType:
    """The module ``tests/data/<name>/data.py`` (whose ``make(root, seed, ...)`` writes files)."""
    spec = importlib.util.spec_from_file_location(f"fake_{name}_data", HERE / name / "data.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def make_fake(tmp_path: Path) -> Callable[..., Path]:
    """``make_fake(name, **kwargs)`` writes dataset ``name`` under a fresh temp root."""
    count = iter(range(1000))

    def make(name: str, **kwargs) -> Path:
        return load_generator(name).make(tmp_path / f"{name}-{next(count)}", **kwargs)

    return make


@pytest.fixture
def fit_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """Run ``actlab fit`` for two batches on CPU; MLflow writes under ``tmp_path``; check the run
    (or, given ``code``, only that it exits with that status)."""
    monkeypatch.setenv("ACTLAB_MLRUNS", str(tmp_path / "mlruns"))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.chdir(tmp_path)

    def fit(data_class: str, root: Path, *args: str, code: int = 0) -> None:
        from actlab import data

        argv = [
            "fit",
            "--data", f"actlab.data.{data_class}",
            "--data.root", str(root),
            "--trainer.max_epochs", "1",  # not fast_dev_run: that disables the logger
            "--trainer.limit_train_batches", "2",
            "--trainer.limit_val_batches", "1",
            "--trainer.limit_test_batches", "1",
            "--trainer.accelerator", "cpu",
            *args,
        ]  # fmt: skip
        assert run_actlab(argv) == code
        if code != 0:
            return
        # what ran: one FINISHED run, of this data module and the backbone asked for
        (run,) = all_runs(tracking_uri(tmp_path / "mlruns"))
        assert run.info.status == "FINISHED"
        assert run.data.params["data.class_path"] == f"actlab.data.{data_class}"
        assert run.data.tags["dataset"] == getattr(data, data_class).name
        if "--model.backbone" in args:
            backbone = args[list(args).index("--model.backbone") + 1]
            assert run.data.tags["backbone"] == backbone

    return fit
