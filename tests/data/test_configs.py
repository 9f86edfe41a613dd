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
