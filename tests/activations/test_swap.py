"""swap_activations: gates found by what they do, reused modules, functional activations, the input
shape of the dry forward, and its cost (one forward). The broad timm sweep is test_swap_timm.py."""

from __future__ import annotations

import pytest
import timm
import torch
import torch.nn.functional as F
from torch import nn

import actlab.models  # noqa: F401  (registers small_cnn)
from actlab.activations import is_sigmoid_like, swap_activations
from actlab.errors import ActlabError


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
    report = swap_activations(model, "prelu", strict=True)
    assert report.dry_run and report.input_source == "pretrained_cfg['input_size'] (3, 224, 224)"
    with pytest.raises(ActlabError, match="example_input or input_shape"):
        swap_activations(Functional(), "prelu", strict=True)


def test_densenet_layers_are_swapped_not_taken_for_gates() -> None:
    """The old class-name rule matched ``SELayer`` inside ``DenseLayer`` and kept 116 of 121 sites."""
    model = timm.create_model("densenet121", num_classes=3, block_config=(2, 2, 2, 2))
    report = swap_activations(model, "cpaf_relu", input_shape=(3, 32, 32), strict=True)
    assert report.skipped == []
    assert len(report.replaced) == 1 + 2 * 8 + 3 + 1  # stem, 2 per dense layer, transitions, norm5
    assert all(
        s.parameters == {"a": [2, s.parameters["a"][1]], "b": s.parameters["a"]}
        for s in report.replaced
    )


def test_squeeze_excite_hidden_activation_is_swapped_and_gate_kept() -> None:
    model = timm.create_model("efficientnet_b0", num_classes=3)
    report = swap_activations(model, "prelu", input_shape=(3, 32, 32))
    replaced = {s.name for s in report.replaced}
    gates = {s.name for s in report.skipped if s.kind == "gate"}
    assert "blocks.1.0.se.act1" in replaced and "blocks.1.0.se.gate" in gates
    assert len(gates) == 16 and all(n.endswith(".se.gate") for n in gates)
    assert "its output multiplies the features in blocks.0.0.se" in report.skipped[0].reason
    assert isinstance(model.blocks[1][0].se.gate, nn.Sigmoid)


class Named(nn.Module):
    """Gates and non-gates whose class names say the opposite of what they do."""

    class SELayer(nn.Module):  # not a gate at all: conv + ReLU
        def __init__(self) -> None:
            super().__init__()
            self.conv, self.act = nn.Conv2d(4, 4, 1), nn.ReLU()

        def forward(self, x):
            return self.act(self.conv(x))

    class Plain(nn.Module):  # an ECA-style gate: sigmoid of pooled features, viewed, expanded
        def __init__(self) -> None:
            super().__init__()
            self.conv, self.squash = nn.Conv1d(1, 1, 3, padding=1), nn.Hardsigmoid()

        def forward(self, x):
            y = self.conv(x.mean((2, 3)).view(x.shape[0], 1, -1))
            return x * self.squash(y).view(x.shape[0], -1, 1, 1).expand_as(x)

    def __init__(self) -> None:
        super().__init__()
        self.stem, self.se, self.attn = nn.Conv2d(3, 4, 3), self.SELayer(), self.Plain()
        self.sig, self.swish_gate = nn.Sigmoid(), nn.Sigmoid()  # an activation; SiLU written out

    def forward(self, x):
        x = self.attn(self.se(self.sig(self.stem(x))))
        return (x * self.swish_gate(x)).mean((2, 3))


def test_gates_are_found_by_what_they_do_not_by_name() -> None:
    x = torch.randn(2, 3, 8, 8)
    model = Named()
    report = swap_activations(model, "prelu", example_input=x, strict=True)
    assert {s.name for s in report.replaced} == {"se.act", "sig", "swish_gate"}
    [gate] = report.skipped
    assert (gate.name, gate.kind, gate.old) == ("attn.squash", "gate", "Hardsigmoid")
    report = swap_activations(Named(), "prelu", example_input=x, gates=True)
    assert report.skipped == [] and len(report.replaced) == 4


def test_without_dry_forward_every_sigmoid_is_kept_as_a_gate_and_said_so() -> None:
    report = swap_activations(Named(), "relu")  # nothing to infer a shape from
    assert not report.dry_run
    assert {s.name for s in report.skipped} == {"attn.squash", "sig", "swish_gate"}
    assert all("no dry forward" in s.reason for s in report.skipped)
    assert [s.name for s in report.replaced] == ["se.act"]
    assert "no dry forward" in report.summary().splitlines()[0]


def test_a_sigmoid_network_swaps_its_activations_and_keeps_its_se_gates() -> None:
    model = timm.create_model("efficientnet_b0", num_classes=3, act_layer="sigmoid")
    sigmoids = sum(is_sigmoid_like(m) for m in model.modules())  # timm's Sigmoid and nn.Sigmoid
    report = swap_activations(model, "relu", input_shape=(3, 32, 32))
    gates = [s for s in report.skipped if s.kind == "gate"]
    assert len(gates) == 16 and all(s.name.endswith("se.gate") for s in gates)
    assert len(report.replaced) == sigmoids - 16 == 49


class FunctionalSigmoids(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        gate = self.fc(x).sigmoid()  # a functional gate: kept
        h = x * gate
        return torch.sigmoid(h) + h * torch.sigmoid(h)  # an activation and SiLU, written out


def test_functional_sigmoids_gate_or_activate() -> None:
    x = torch.randn(3, 4)
    report = swap_activations(FunctionalSigmoids(), "relu", example_input=x)
    by_kind = {(s.kind, s.old, s.reason.split(" called ")[1][:2]) for s in report.skipped}
    assert by_kind == {("gate", "Tensor.sigmoid", "1x"), ("functional", "sigmoid", "2x")}
    with pytest.raises(
        ActlabError, match=r"cannot reach 1 site\(s\): <root> \(functional\): functional sigmoid"
    ):
        swap_activations(FunctionalSigmoids(), "relu", example_input=x, strict=True)
    report = swap_activations(FunctionalSigmoids(), "relu", example_input=x, gates=True)
    assert {s.kind for s in report.skipped} == {"functional"}  # a gate surgery cannot reach


def test_strict_failure_leaves_the_model_as_it_was() -> None:
    model = Reused()
    with pytest.raises(ActlabError):
        swap_activations(model, "prelu", example_input=torch.randn(2, 3, 8, 8), strict=True)
    assert isinstance(model.act, nn.ReLU)


def test_input_shape_is_inferred_from_a_model_built_for_another_size() -> None:
    model = timm.create_model("vit_tiny_patch16_224", num_classes=3, img_size=32, depth=2)
    report = swap_activations(model, "gelu", strict=True)
    assert report.input_source == "patch_embed.img_size (3, 32, 32)"
    assert len(report.replaced) == 2
    model = timm.create_model("small_cnn", num_classes=3, input_shape=(1, 8, 8), channels=[4])
    assert swap_activations(model, "prelu").input_source == "the model's input_shape (1, 8, 8)"
    assert model.features[2].a.shape == (4,)


def test_a_wrong_inferred_size_is_one_line_saying_to_pass_input_shape() -> None:
    model = timm.create_model("levit_128s", num_classes=3, img_size=64)  # cfg says 224
    with pytest.raises(ActlabError) as err:
        swap_activations(model, "relu")
    message = str(err.value)
    assert "\n" not in message and "pass input_shape=" in message
    assert message.startswith("swap_activations: the dry forward of LevitDistilled on a zero batch")
    assert "pretrained_cfg['input_size'] (3, 224, 224)" in message


def test_swap_costs_one_forward_and_creates_parameters() -> None:
    """16.2: the dry forward both traces and sizes the new channel/element parameters."""
    model = timm.create_model("resnet18", num_classes=3)
    calls = []
    model.register_forward_pre_hook(lambda m, args: calls.append(args[0].shape))
    report = swap_activations(model, "cpaf_relu(granularity=element)", input_shape=(3, 32, 32))
    assert calls == [torch.Size([2, 3, 32, 32])]
    assert report.replaced[0].parameters == {"a": [2, 64, 16, 16], "b": [2, 64, 16, 16]}
    assert model.act1.a.shape == (2, 64, 16, 16)


def test_gather_excite_gate_is_found() -> None:
    """timm's GatherExcite (its gated MLP variant does not build in timm 1.0.31: ``*dd`` bug)."""
    from timm.layers import GatherExcite

    model = nn.Sequential(nn.Conv2d(3, 16, 3), nn.ReLU(), GatherExcite(16, extent=2, use_mlp=False))
    report = swap_activations(model, "prelu", example_input=torch.randn(2, 3, 16, 16), strict=True)
    assert [s.name for s in report.replaced] == ["1"]
    assert [(s.name, s.kind) for s in report.skipped] == [("2.gate", "gate")]
