"""The papers' architectures: registered in timm, shaped as printed, and trainable with every activation."""

from __future__ import annotations

import pytest
import timm
import torch
from torch import nn

import actlab.models  # noqa: F401
from actlab.activations import Activation, list_activations
from actlab.models import ACTLAB_MODELS

# name -> (input shape, small kwargs for a quick step)
PAPER_MODELS = {
    "nin": ((3, 32, 32), {"width": 0.125}),
    "bn_inception": ((3, 32, 32), {"width": 0.125}),
    "wrn28_10": ((3, 16, 16), {"depth": 10, "widen_factor": 1}),
    "cifar_vgg16": ((3, 32, 32), {"width": 0.0625}),
    "cifar_resnet18": ((3, 16, 16), {"widths": (8, 8, 16, 16)}),
    "agile_cnn": ((1, 28, 28), {}),
    "agarap_ffnn": ((30,), {"hidden_sizes": (16, 8)}),
    "agarap_cnn": ((1, 16, 16), {}),
    "cpaf_feature_cnn": ((1, 28, 28), {}),
    "cpaf_fashion_cnn": ((1, 28, 28), {}),
    "cpaf_structure1": ((3, 32, 32), {}),
    "cpaf_structure2": ((3, 32, 32), {}),
    "cpaf_structure3": ((3, 32, 32), {}),
}


def test_every_paper_model_is_registered() -> None:
    assert set(PAPER_MODELS) <= ACTLAB_MODELS
    assert all(timm.is_model(n) for n in PAPER_MODELS)
    assert "densenet161" in timm.list_models()  # 000's DenseNet-161 comes from timm as it is


@pytest.mark.parametrize("name", sorted(PAPER_MODELS))
def test_trains_one_step_with_every_activation(name: str) -> None:
    shape, kwargs = PAPER_MODELS[name]
    x, y = torch.randn(2, *shape), torch.tensor([0, 1])
    for act in list_activations():
        torch.manual_seed(0)
        spec = f"{act}(granularity=element)" if act in ("cpaf_relu", "prelu") else act
        model = timm.create_model(
            name, num_classes=3, in_chans=shape[0], input_shape=shape, act_layer=spec, **kwargs
        )
        sites = [m for m in model.modules() if isinstance(m, Activation)]
        assert sites and len({id(m) for m in sites}) == len(sites)  # one module per site
        model(x)  # materialise lazy parameters before the optimizer sees them
        opt = torch.optim.SGD(model.parameters(), lr=0.01)
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        assert torch.isfinite(loss), (name, act)


def test_default_act_layer_is_torch_relu_and_swappable() -> None:
    from actlab.activations import swap_activations

    model = timm.create_model("cpaf_structure1", num_classes=10)
    assert sum(isinstance(m, nn.ReLU) for m in model.modules()) == 6
    report = swap_activations(model, "cpaf_relu", input_shape=(3, 32, 32), strict=True)
    assert len(report.replaced) == 6


def test_shapes_the_papers_print() -> None:
    s1 = timm.create_model("cpaf_structure1", num_classes=10)
    assert s1.num_features == 2048  # 004 §4.3: flatten (2048)
    s2 = timm.create_model("cpaf_structure2", num_classes=100)
    assert s2.fc[0].in_features == 1024  # flatten (1024) before FC512
    assert not any(isinstance(m, nn.BatchNorm2d) for m in s2.modules())
    assert (
        sum(isinstance(m, nn.BatchNorm2d) for m in timm.create_model("cpaf_structure3").modules())
        == 6
    )
    f = timm.create_model("cpaf_feature_cnn", num_classes=10, input_shape=(1, 28, 28))
    z = f.forward_head(f.forward_features(torch.randn(4, 1, 28, 28)), pre_logits=True)
    assert z.shape == (4, 2)  # 004 §4.1: the 2-D feature [z1, z2]
    convs = [
        m.out_channels for m in timm.create_model("agile_cnn").modules() if isinstance(m, nn.Conv2d)
    ]
    assert convs == [16, 8, 4]  # 002
    fashion = timm.create_model("cpaf_fashion_cnn")
    assert [m.out_channels for m in fashion.modules() if isinstance(m, nn.Conv2d)] == [16, 32, 4]
    assert fashion.num_features == 30
    vgg = timm.create_model("cifar_vgg16", num_classes=10)
    assert sum(isinstance(m, nn.Conv2d) for m in vgg.modules()) == 13
    res = timm.create_model("cifar_resnet18", num_classes=10)
    assert sum(isinstance(m, nn.Conv2d) and m.kernel_size == (3, 3) for m in res.modules()) == 17
    assert not any(isinstance(m, nn.Dropout) for m in res.modules())
    ffnn = timm.create_model("agarap_ffnn", input_shape=(784,))
    assert [m.out_features for m in ffnn.modules() if isinstance(m, nn.Linear)] == [
        512,
        512,
        512,
        10,
    ]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "shape", "params"),
    [
        ("wrn28_10", (3, 32, 32), 36.5e6),
        ("bn_inception", (3, 224, 224), 10.3e6),
        ("nin", (3, 256, 256), None),
    ],
)
def test_full_size_nets_build_and_step(name: str, shape, params) -> None:
    model = timm.create_model(
        name, num_classes=27, in_chans=3, input_shape=shape, act_layer="prelu"
    )
    if params:
        assert abs(sum(p.numel() for p in model.parameters()) - params) / params < 0.02
    out = model(torch.randn(2, *shape))
    out.sum().backward()
    assert out.shape == (2, 27)


def test_agile_cnn_takes_separate_conv_and_fc_activations() -> None:
    """002 varies the conv-layer and FC-layer activations independently."""
    model = timm.create_model(
        "agile_cnn", num_classes=10, input_shape=(1, 28, 28),
        conv_act_layer="agile_relu(granularity=element)", fc_act_layer="agile_sigmoid(granularity=element)",
    )  # fmt: skip
    model(torch.randn(2, 1, 28, 28))
    names = [m.spec for m in model.modules() if isinstance(m, Activation)]
    assert names == ["agile_relu(granularity=element)"] * 3 + ["agile_sigmoid(granularity=element)"]
    assert model.fc[1].a.shape == (1, 30)  # one (a, b) per FC node


#: 000's four nets, built small where width does not change the number of activation sites, and
#: that number counted from the architecture (not from the swap).
NETS_000 = [
    # ImageNet NIN: mlpconv blocks of 3, 3, 3 and 2 activated convs (the last 1x1 conv, to the
    # classes, has none)
    ("nin", {"width": 0.125}, (3, 64, 64), 3 + 3 + 3 + 2),
    # BN-Inception (Fig. 5): 3 stem convs; per Inception module the 1x1 branch (if any), the 3x3
    # branch (2), the double-3x3 branch (3) and the pool projection (if any): 7, but 5 in 3c, 4e
    ("bn_inception", {"width": 0.125}, (3, 32, 32), 3 + 8 * 7 + 2 * 5),
    # WRN-28-10: 3 groups of (28 - 4) / 6 = 4 pre-activation blocks, 2 BN-act each, + final BN-act
    ("wrn28_10", {"widen_factor": 1}, (3, 16, 16), 3 * 4 * 2 + 1),
    # DenseNet-161 (timm's): stem BN-act, 2 per dense layer (6 + 12 + 36 + 24), 3 transitions, norm5
    ("densenet161", {"growth_rate": 4}, (3, 32, 32), 1 + 2 * (6 + 12 + 36 + 24) + 3 + 1),
]


@pytest.mark.parametrize(
    ("name", "kwargs", "shape", "sites"), NETS_000, ids=[n[0] for n in NETS_000]
)
def test_000_nets_swap_every_site(name: str, kwargs: dict, shape: tuple, sites: int) -> None:
    from actlab.activations import swap_activations

    model = timm.create_model(name, num_classes=27, in_chans=3, **kwargs)
    report = swap_activations(model, "prelu", input_shape=shape, strict=True)
    assert len(report.replaced) == sites and report.skipped == []
    assert len({id(m) for m in model.modules() if isinstance(m, Activation)}) == sites
