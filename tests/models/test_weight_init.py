"""``weight_init``: each framework's default initialisation against its definition, on a conv and
a linear layer; the same seed gives the same weights; timm backbones and actlab's nets alike; norm
layers and activation parameters untouched."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from actlab.errors import ActlabError
from actlab.models.weight_init import WEIGHT_INITS, fans, init_weights
from actlab.tasks import ClassificationModule

# Big enough that the sample std is within 3 % of the population std (n > 100,000).
LINEAR = (512, 256)  # fan_in 512, fan_out 256
CONV = (64, 128, 5)  # fan_in 64 * 25 = 1600, fan_out 128 * 25 = 3200


def layers() -> list[nn.Module]:
    torch.manual_seed(0)
    return [nn.Linear(*LINEAR), nn.Conv2d(*CONV)]


def test_fans_count_channels_times_receptive_field() -> None:
    linear, conv = layers()
    assert fans(linear.weight) == (512, 256)
    assert fans(conv.weight) == (64 * 25, 128 * 25)


@pytest.mark.parametrize(
    ("scheme", "bound"),
    [
        # Glorot & Bengio 2010 eq. 16 (Keras' glorot_uniform): sqrt(6 / (fan_in + fan_out)).
        ("keras", lambda fan_in, fan_out: math.sqrt(6 / (fan_in + fan_out))),
        # Caffe's XavierFiller, variance_norm FAN_IN: sqrt(3 / fan_in).
        ("caffe_xavier", lambda fan_in, fan_out: math.sqrt(3 / fan_in)),
    ],
)
def test_uniform_schemes_fill_their_bounds_with_zero_biases(scheme, bound) -> None:
    for layer in layers():
        init_weights(layer, scheme)
        fan_in, fan_out = fans(layer.weight)
        b = bound(fan_in, fan_out)
        w = layer.weight.detach()
        assert w.abs().max().item() <= b
        assert w.abs().max().item() > 0.99 * b  # the whole interval is used
        assert w.std().item() == pytest.approx(b / math.sqrt(3), rel=0.03)  # U(-b, b)
        assert abs(w.mean().item()) < 0.02 * b
        assert torch.count_nonzero(layer.bias) == 0


def test_caffe_msra_is_normal_with_he_std_and_zero_biases() -> None:
    for layer in layers():
        init_weights(layer, "caffe_msra")
        fan_in, _ = fans(layer.weight)
        w = layer.weight.detach()
        std = math.sqrt(2 / fan_in)  # He et al. 2015, eq. 10
        assert w.std().item() == pytest.approx(std, rel=0.03)
        assert abs(w.mean().item()) < 0.02 * std
        assert w.abs().max().item() > 3 * std  # normal tails, not a uniform's bound at 1.73 std
        assert torch.count_nonzero(layer.bias) == 0


def test_torch_leaves_the_layers_as_built() -> None:
    built = [layer.state_dict() for layer in layers()]
    again = layers()
    for layer in again:
        init_weights(layer, "torch")
    for before, layer in zip(built, again, strict=True):
        for key, value in layer.state_dict().items():
            assert torch.equal(value, before[key])
    assert torch.count_nonzero(again[0].bias) > 0  # torch's biases are uniform, not zero


@pytest.mark.parametrize("scheme", WEIGHT_INITS)
def test_same_seed_same_weights_other_seed_other_weights(scheme) -> None:
    def build(seed: int) -> dict[str, torch.Tensor]:
        torch.manual_seed(seed)
        model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.Flatten(), nn.LazyLinear(4))
        model(torch.zeros(1, 3, 6, 6))
        init_weights(model, scheme)
        return model.state_dict()

    first, second, other = build(1), build(1), build(2)
    for key in first:
        assert torch.equal(first[key], second[key])
    assert not torch.equal(first["0.weight"], other["0.weight"])


def test_unknown_scheme_names_the_valid_ones() -> None:
    with pytest.raises(ActlabError, match="unknown weight_init 'glorot'; valid: torch, keras"):
        init_weights(nn.Linear(2, 2), "glorot")


def _task(backbone: str, weight_init: str, **kwargs) -> ClassificationModule:
    torch.manual_seed(0)
    return ClassificationModule(backbone=backbone, weight_init=weight_init, **kwargs)


@pytest.mark.parametrize(
    ("backbone", "input_shape", "backbone_kwargs", "activation"),
    [
        ("resnet10t", (3, 32, 32), {}, "prelu"),  # timm: convs, BN, a linear classifier
        ("cpaf_fashion_cnn", (1, 28, 28), {}, "cpaf_relu(k=2, granularity=element)"),
        ("mlp", (30,), {"hidden_sizes": [16, 8]}, "cpaf_sigmoid(k=2)"),
    ],
)
def test_task_applies_it_to_every_conv_and_linear_but_not_to_norms_or_activations(
    backbone, input_shape, backbone_kwargs, activation
) -> None:
    kwargs = dict(
        num_classes=10,
        input_shape=input_shape,
        backbone_kwargs=backbone_kwargs,
        activation=activation,
    )
    keras = _task(backbone, "keras", **kwargs)
    torch_init = _task(backbone, "torch", **kwargs)
    assert keras.hparams.weight_init == "keras"
    touched = 0
    for (name, module), (_, reference) in zip(
        keras.backbone.named_modules(), torch_init.backbone.named_modules(), strict=True
    ):
        if isinstance(module, (nn.Linear, nn.Conv2d)):
            fan_in, fan_out = fans(module.weight)
            assert module.weight.abs().max() <= math.sqrt(6 / (fan_in + fan_out)), name
            assert module.bias is None or torch.count_nonzero(module.bias) == 0, name
            touched += 1
        elif isinstance(module, nn.BatchNorm2d):
            assert torch.equal(module.weight, reference.weight), name
    assert touched >= 3
    # Activation parameters keep their own initial values (PReLU 0.25, CPAF's Table 1).
    act_keras, act_torch = keras.activation_parameters(), torch_init.activation_parameters()
    assert act_keras and len(act_keras) == len(act_torch)
    for mine, theirs in zip(act_keras, act_torch, strict=True):
        assert torch.equal(mine, theirs)


class Gated(nn.Module):
    """An activation with a layer of its own (x * sigmoid(conv(x))): not the net's to re-initialise."""

    def __init__(self, channels: int = 4) -> None:
        super().__init__()
        self.gate = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(self.gate(x))


def test_layers_inside_an_activation_are_skipped() -> None:
    from actlab.activations import is_activation_module
    from actlab.activations.sites import register_activation_type

    register_activation_type(Gated)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), Gated(4), nn.Conv2d(4, 4, 3))
    gate = model[1].gate.weight.detach().clone()
    assert init_weights(model, "keras", skip=is_activation_module) == 2
    assert torch.equal(model[1].gate.weight, gate)
    assert torch.count_nonzero(model[0].bias) == 0 and torch.count_nonzero(model[1].gate.bias) > 0
