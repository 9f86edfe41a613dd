"""swap_activations on a spread of timm families, reused modules and functional activations."""

from __future__ import annotations

import pytest
import timm
import torch
import torch.nn.functional as F
from torch import nn

from actlab.activations import Activation, is_activation_module, swap_activations
from actlab.errors import ActlabError

TIMM = [
    ("resnet18", {}, 32),
    ("densenet121", {}, 32),
    ("vgg11", {"mlp_ratio": 0.0625}, 32),
    ("efficientnet_b0", {}, 32),
    ("mobilenetv3_small_050", {}, 32),
    ("convnext_atto", {}, 32),
    ("vit_tiny_patch16_224", {"img_size": 32, "depth": 2}, 32),
]


def _targets_left(model: nn.Module, report) -> list[str]:
    kept = {s.name for s in report.skipped}
    return [
        n for n, m in model.named_modules()
        if is_activation_module(m) and not isinstance(m, Activation) and n not in kept
    ]  # fmt: skip


@pytest.mark.parametrize(("name", "kwargs", "size"), TIMM, ids=[t[0] for t in TIMM])
def test_swap_timm_families(name: str, kwargs: dict, size: int) -> None:
    torch.manual_seed(0)
    model = timm.create_model(name, num_classes=3, **kwargs)
    x = torch.randn(2, 3, size, size)
    report = swap_activations(model, "cpaf_relu(k=2)", example_input=x, strict=True)
    assert report.replaced and report.dry_run
    assert _targets_left(model, report) == []
    assert all(s.kind == "gate" for s in report.skipped)  # only SE gates kept
    swapped = [n for n, m in model.named_modules() if isinstance(m, Activation)]
    assert sorted(swapped) == sorted(s.name for s in report.replaced)
    assert all(m.materialized for m in model.modules() if isinstance(m, Activation) and m.trainable)
    model.train()
    out = model(x)
    out.sum().backward()
    assert out.shape == (2, 3)
    assert all(
        p.grad is not None
        for m in model.modules()
        if isinstance(m, Activation)
        for p in m.parameters()
    )


def test_mobilenet_keeps_se_gates_unless_asked() -> None:
    model = timm.create_model("mobilenetv3_small_050", num_classes=3)
    x = torch.randn(1, 3, 32, 32)
    report = swap_activations(model, "relu", example_input=x)
    gates = [s for s in report.skipped if s.kind == "gate"]
    assert gates and all("se." in s.name for s in gates)
    assert any(s.name.endswith("bn1.act") for s in report.replaced)  # inside BatchNormAct2d
    model = timm.create_model("mobilenetv3_small_050", num_classes=3)
    report = swap_activations(model, "relu", example_input=x, gates=True)
    assert not [s for s in report.skipped if s.kind == "gate"]


def test_swap_relu_for_relu_keeps_outputs() -> None:
    torch.manual_seed(0)
    model = timm.create_model("resnet18", num_classes=5).eval()
    x = torch.randn(2, 3, 32, 32)
    before = model(x)
    report = swap_activations(model, "relu", example_input=x)
    assert len(report.replaced) == 17
    assert torch.equal(model(x), before)


class Reused(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.conv2 = nn.Conv2d(3, 4, 3), nn.Conv2d(4, 4, 3)
        self.act = nn.ReLU()
        self.head = nn.Linear(4, 2)

    def forward(self, x):
        x = self.act(self.conv1(x))
        x = self.act(self.conv2(x))
        return self.head(x.mean((2, 3)))


class Functional(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(4, 8), nn.Linear(8, 2)
        self.act = nn.GELU()

    def forward(self, x):
        return self.fc2(F.relu(self.act(self.fc1(x))))


def test_reused_module_reported_and_strict_raises() -> None:
    model = Reused()
    x = torch.randn(2, 3, 8, 8)
    report = swap_activations(model, "cpaf_relu", example_input=x)
    assert report.replaced == []
    [site] = report.skipped
    assert (site.name, site.kind) == ("act", "reused") and "2 call sites" in site.reason
    with pytest.raises(ActlabError, match="reused|call sites"):
        swap_activations(Reused(), "prelu", example_input=x, strict=True)
    # a fixed or layer-wise activation can be shared
    report = swap_activations(model, "cpaf_relu(granularity=layer)", example_input=x, strict=True)
    assert report.replaced[0].shared_by == 2
    model(x).sum().backward()


def test_functional_activation_reported_and_strict_raises() -> None:
    model = Functional()
    x = torch.randn(3, 4)
    report = swap_activations(model, "elu", example_input=x)
    assert [s.name for s in report.replaced] == ["act"]
    [site] = report.skipped
    assert site.kind == "functional" and site.old == "relu" and site.name == "<root>"
    with pytest.raises(ActlabError, match="functional relu"):
        swap_activations(Functional(), "elu", example_input=x, strict=True)


def test_include_exclude_and_report_dict() -> None:
    model = timm.create_model("resnet18", num_classes=3)
    x = torch.randn(1, 3, 32, 32)
    report = swap_activations(model, "prelu", example_input=x, exclude=["layer4.*"])
    assert all(not s.name.startswith("layer4") for s in report.replaced)
    assert {s.name for s in report.skipped} == {
        "layer4.0.act1",
        "layer4.0.act2",
        "layer4.1.act1",
        "layer4.1.act2",
    }
    d = report.to_dict()
    assert d["spec"] == "prelu" and len(d["replaced"]) == 13 and "replaced" in report.summary()
    report = swap_activations(timm.create_model("resnet18"), "elu", include="act1", example_input=x)
    assert [s.name for s in report.replaced] == ["act1"]


def test_strict_without_input_uses_timm_input_size_or_raises() -> None:
    model = timm.create_model("resnet18", num_classes=3)
    assert swap_activations(model, "prelu", strict=True).dry_run  # pretrained_cfg input_size
    with pytest.raises(ActlabError, match="example_input or input_shape"):
        swap_activations(Functional(), "prelu", strict=True)
