"""actlab's ``mlp`` and ``small_cnn`` build through ``timm.create_model``."""

from __future__ import annotations

import timm
import torch
from torch import nn

import actlab.models  # noqa: F401
from actlab.activations import ACTIVATIONS
from actlab.models import ACTLAB_MODELS


def test_mlp_from_timm_flattens_any_input_shape() -> None:
    model = timm.create_model(
        "mlp", num_classes=3, input_shape=(1, 8, 8), hidden_sizes=[16, 8], drop_rate=0.1
    )
    assert model(torch.randn(4, 1, 8, 8)).shape == (4, 3)
    acts = [m for m in model.modules() if isinstance(m, nn.ReLU)]
    assert len(acts) == 2 and acts[0] is not acts[1]  # one module per site
    assert "mlp" in ACTLAB_MODELS and "small_cnn" in ACTLAB_MODELS


def test_small_cnn_from_timm() -> None:
    model = timm.create_model(
        "small_cnn", num_classes=10, in_chans=3, channels=[4, 8], act_layer="gelu"
    )
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    assert sum(isinstance(m, ACTIVATIONS["gelu"]) for m in model.modules()) == 4  # actlab's gelu
