"""One activation factory (13.5): ``backbone_kwargs: {act_layer: ...}`` means the same for every
actlab net and for timm models, and a name or model that cannot take it fails with one line."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from actlab.activations import ACTIVATIONS, is_activation_module
from actlab.errors import ActlabError, UnknownNameError
from actlab.models import ACTLAB_MODELS
from actlab.tasks.classification import create_backbone
from tests.models.test_paper_models import PAPER_MODELS

#: name -> (input shape, small kwargs): the paper nets plus the two general-purpose ones.
NETS = {**PAPER_MODELS, "mlp": ((30,), {"hidden_sizes": (8, 4)}), "small_cnn": ((1, 8, 8), {})}


def test_every_actlab_net_is_listed() -> None:
    assert set(NETS) == ACTLAB_MODELS


@pytest.mark.parametrize("name", sorted(NETS))
def test_act_layer_spec_builds_that_activation_in_every_actlab_net(name: str) -> None:
    shape, kwargs = NETS[name]
    backbone = create_backbone(name, 3, shape, act_layer="cpaf_relu(k=3)", **kwargs)
    sites = [m for m in backbone.modules() if is_activation_module(m)]
    assert sites and all(getattr(m, "spec", None) == "cpaf_relu(k=3)" for m in sites), name
    assert len({id(m) for m in sites}) == len(sites)  # a fresh module per site
    assert backbone(torch.randn(2, *shape)).shape == (2, 3)


@pytest.mark.parametrize("name", ["mlp", "small_cnn"])  # KeyError before the factory
@pytest.mark.parametrize(
    ("act_layer", "cls", "spec"),
    [
        ({"name": "prelu", "init": 0.1}, ACTIVATIONS["prelu"], "prelu(init=0.1)"),
        ("hard_swish", nn.Hardswish, None),  # a timm name actlab does not register
        (nn.SiLU, nn.SiLU, None),  # classes pass through
    ],
    ids=["mapping", "timm name", "class"],
)
def test_act_layer_takes_mappings_timm_names_and_classes(name, act_layer, cls, spec) -> None:
    shape, kwargs = NETS[name]
    backbone = create_backbone(name, 3, shape, act_layer=act_layer, **kwargs)
    sites = [m for m in backbone.modules() if is_activation_module(m)]
    assert sites and all(isinstance(m, cls) and getattr(m, "spec", None) == spec for m in sites)


def test_timm_models_take_the_same_specs() -> None:
    backbone = create_backbone("resnet18", 3, (3, 32, 32), act_layer="cpaf_relu(k=3)")
    sites = [m for m in backbone.modules() if is_activation_module(m)]
    assert len(sites) == 17 and all(m.spec == "cpaf_relu(k=3)" for m in sites)
    assert backbone(torch.randn(2, 3, 32, 32)).shape == (2, 3)


def test_002_conv_and_fc_activations_through_backbone_kwargs() -> None:
    backbone = create_backbone(
        "agile_cnn", 10, (1, 28, 28),
        conv_act_layer="agile_relu(granularity=element)", fc_act_layer="agile_sigmoid",
    )  # fmt: skip
    specs = [m.spec for m in backbone.modules() if is_activation_module(m)]
    assert specs == ["agile_relu(granularity=element)"] * 3 + ["agile_sigmoid"]


@pytest.mark.parametrize(
    ("name", "act_layer", "error", "message"),
    [
        ("mlp", "cpaf_rleu", UnknownNameError, "unknown activation 'cpaf_rleu'; did you mean 'cpaf_relu'"),
        ("small_cnn", "cpaf_relu(kk=2)", ActlabError, "activation 'cpaf_relu' has no argument(s) kk"),
        # a timm model without act_layer: the valid keywords are named (17.7)
        ("legacy_seresnet18", "prelu", ActlabError,
         "unknown argument of model 'legacy_seresnet18' (backbone_kwargs) 'act_layer'; "
         "did you mean 'layers'? valid: block,"),
    ],
)  # fmt: skip
def test_what_cannot_be_built_is_one_line(name, act_layer, error, message) -> None:
    with pytest.raises(error) as err:
        create_backbone(name, 3, (3, 32, 32), act_layer=act_layer)
    assert str(err.value).startswith(message) and "\n" not in str(err.value)
