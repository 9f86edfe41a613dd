"""The stackable configs/data/<name>.yaml snippets name real classes and valid arguments."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
import yaml

CONFIGS = Path(__file__).resolve().parents[2] / "configs" / "data"
NAMES = ["mnist", "fashion_mnist", "cifar10", "cifar100", "imagenet_insects"]


@pytest.mark.parametrize("name", NAMES)
def test_data_config_instantiates(name, tmp_path):
    spec = yaml.safe_load((CONFIGS / f"{name}.yaml").read_text())["data"]
    module, _, cls_name = spec["class_path"].rpartition(".")
    cls = getattr(importlib.import_module(module), cls_name)
    dm = cls(**{**spec["init_args"], "root": tmp_path})
    assert dm.name == name


DATA_CLASSES = [
    "MNISTDataModule", "FashionMNISTDataModule", "CIFAR10DataModule", "CIFAR100DataModule",
    "ImageNetInsectsDataModule", "DigitsDataModule", "WDBCDataModule", "SyntheticDataModule",
]  # fmt: skip


@pytest.mark.parametrize("cls_name", DATA_CLASSES)
def test_cli_sees_every_base_option_through_kwargs(cls_name, capsys):
    """18.4: jsonargparse follows each module's **kwargs into the base's __init__."""
    from actlab.data import ActlabDataModule
    from tests.helpers import run_actlab

    assert run_actlab(["fit", "--data.help", f"actlab.data.{cls_name}"]) == 0
    listed = capsys.readouterr().out
    for option in ActlabDataModule.option_names():
        assert f"--data.{option} " in listed or f"--data.{option}\n" in listed, option


def test_cli_takes_a_base_option_and_names_a_misspelt_one(tmp_path, monkeypatch, capsys):
    from tests.helpers import run_actlab

    monkeypatch.setenv("ACTLAB_MLRUNS", str(tmp_path / "mlruns"))
    data = ["--data=actlab.data.FashionMNISTDataModule", "--data.init_args.root", str(tmp_path)]
    ok = ["fit", "--model.backbone", "small_cnn", *data, "--data.init_args.val_on_test", "true"]
    assert run_actlab([*ok, "--data.init_args.folds", "null", "--print_config"]) == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    assert printed["data"]["init_args"]["val_on_test"] is True
    assert (
        run_actlab(
            ["fit", "--model.backbone", "small_cnn", *data, "--data.init_args.val_on_tst", "true"]
        )
        == 2
    )
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert "unknown option of data (FashionMNISTDataModule) 'val_on_tst'" in line
    assert "did you mean 'val_on_test'" in line
    assert "root" in line and "batch_size" in line and "pca_components" in line
