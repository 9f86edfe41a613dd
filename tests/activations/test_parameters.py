"""One notion of a trainable activation (13.4): what is trainable and how its parameters read,
and that the optimizer groups, the tracking callback's arrays and the swap report agree."""

from __future__ import annotations

import io

import numpy as np
import pytest
import timm
import torch
from torch import nn

from actlab.activations import (
    activation_parameters,
    create_activation,
    is_trainable_activation,
    trainable_activations,
)
from actlab.tasks import ClassificationModule
from actlab.tracking import activation_params as ap


class ThirdPartyAB(nn.Module):
    """Someone else's (a, b) activation: tensors ``a``, ``b`` shaped ``(k, C)``."""

    def __init__(self) -> None:
        super().__init__()
        self.a, self.b = nn.Parameter(torch.ones(2, 4)), nn.Parameter(torch.zeros(2, 4))

    def forward(self, x):
        return (self.a[:, None] * torch.relu(x - self.b[:, None])).sum(0)


class OnlyA(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Parameter(torch.ones(4))


def _materialised(spec: str, shape: tuple[int, ...]) -> nn.Module:
    module = create_activation(spec)
    module(torch.randn(2, *shape))
    return module


@pytest.mark.parametrize(
    ("module", "shapes"),
    [
        (nn.PReLU(), {"a": (1,)}),
        (nn.PReLU(6), {"a": (1, 6)}),
        (timm.layers.activations.PReLU(6), {"a": (1, 6)}),
        (_materialised("prelu(granularity=layer)", (6, 3, 3)), {"a": (1,)}),
        (_materialised("prelu", (6, 3, 3)), {"a": (1, 6)}),
        (_materialised("prelu(granularity=element)", (6, 3, 3)), {"a": (1, 6, 3, 3)}),
        (_materialised("cpaf_relu(k=3)", (6, 3, 3)), {"a": (3, 6), "b": (3, 6)}),
        (_materialised("agile_sigmoid(granularity=element)", (5,)), {"a": (1, 5), "b": (1, 5)}),
        (_materialised("pa_relu(granularity=layer)", (5,)), {"a": (1,), "b": (1,)}),
        (ThirdPartyAB(), {"a": (2, 4), "b": (2, 4)}),
    ],
    ids=["PReLU()", "PReLU(6)", "timm PReLU", "prelu layer", "prelu channel", "prelu element",
         "cpaf k=3", "agile features", "pa layer", "third-party"],
)  # fmt: skip
def test_trainable_activations_read_as_k_site(module: nn.Module, shapes: dict) -> None:
    assert is_trainable_activation(module)
    params = activation_parameters(module)
    assert {n: tuple(p.shape) for n, p in params.items()} == shapes
    own = {id(p) for p in module.parameters()}
    assert all(p._base is None and id(p) in own or id(p._base) in own for p in params.values())


def test_what_is_not_trainable() -> None:
    for module in (nn.ReLU(), create_activation("relu"), create_activation("elu"), OnlyA()):
        assert not is_trainable_activation(module) and activation_parameters(module) == {}
    lazy = create_activation("cpaf_relu")
    assert is_trainable_activation(lazy) and activation_parameters(lazy) == {}
    assert trainable_activations(nn.Sequential(nn.Linear(2, 2), lazy)) == {}


def test_optimizer_groups_tracking_and_swap_report_agree() -> None:
    """Swapped-in (a, b) sites, and a backbone's own nn.PReLU without a swap: every consumer sees
    the same trainable activations and parameters."""
    module = ClassificationModule(
        backbone="small_cnn", num_classes=3, input_shape=(1, 8, 8),
        backbone_kwargs={"channels": [4, 8], "act_layer": timm.layers.activations.PReLU}, activation="cpaf_relu",
    )  # fmt: skip
    report = module.swap_report
    found = trainable_activations(module.backbone)
    assert sorted(found) == sorted(s.name for s in report.trainable) == [
        "features.12", "features.2", "features.5", "features.9",
    ]  # fmt: skip
    groups = module.parameter_groups()
    group = {id(p) for p in groups[1]["params"]}
    assert group == {id(p) for m in found.values() for p in m.parameters()}
    for site in report.trainable:
        got = activation_parameters(found[site.name])
        assert {n: list(p.shape) for n, p in got.items()} == site.parameters

    native = ClassificationModule(
        backbone="small_cnn", num_classes=3, input_shape=(1, 8, 8),
        backbone_kwargs={"channels": [4, 8], "act_layer": timm.layers.activations.PReLU}, activation=None,
    )  # fmt: skip
    prelus = trainable_activations(native.backbone)
    assert len(prelus) == 4 and all(isinstance(m, nn.PReLU) for m in prelus.values())
    assert {id(p) for p in native.parameter_groups()[1]["params"]} == {
        id(m.weight) for m in prelus.values()
    }


def test_prelu_gets_the_tracking_of_the_ab_families() -> None:
    model = nn.Sequential(nn.Conv2d(1, 4, 3), create_activation("prelu"), nn.PReLU(4), nn.PReLU())
    model(torch.randn(2, 1, 6, 6))
    acts = ap.trainable_activations(model)
    assert list(acts) == ["1", "2", "3"]
    metrics = ap.summary_metrics(acts, stats=ap.ALL_STATS)
    assert sorted(k for k in metrics if k.startswith("z_act/01.2/")) == [
        "z_act/01.2/a_max", "z_act/01.2/a_mean", "z_act/01.2/a_min", "z_act/01.2/a_std",
    ]  # fmt: skip
    assert metrics["z_act/00.1/a_mean"] == pytest.approx(0.25)
    assert metrics["z_act/02.3/a_std"] == 0.0
    arrays = np.load(io.BytesIO(ap.params_npz(acts)))
    assert sorted(arrays) == ["1.a", "2.a", "3.a"]
    assert arrays["2.a"].shape == (1, 4) and arrays["3.a"].shape == (1,)
    x = torch.linspace(-2, 2, 9)
    for name, module in acts.items():
        y = ap.curve(module, x)
        want = torch.where(x > 0, x, 0.25 * x)
        torch.testing.assert_close(y, want[:, None].expand_as(y), msg=name)
    initial = ap.snapshot(acts)
    for image in (ap.scatter_image(acts, initial, "t"), ap.curves_image(acts, initial, "t")):
        assert image.dtype == np.uint8 and image.shape[2] == 3
