"""What an activation site is: the module types the swap replaces, the sigmoid-like ones that may
be gates, and the functional activations a dry forward reports.

Everything here is decided by type (torch's, timm's and actlab's activation classes, and the
types built from a user's activation spec), never by a class *name*, so no user module can match
by accident.
"""

from __future__ import annotations

import inspect

import torch
import torch.nn.functional as F
from torch import nn

from actlab.activations.fixed import Activation, Sigmoid

_TORCH_ACTIVATIONS: tuple[type[nn.Module], ...] = (
    nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU, nn.RReLU, nn.ELU, nn.SELU, nn.CELU, nn.GELU,
    nn.SiLU, nn.Mish, nn.Sigmoid, nn.Tanh, nn.Hardswish, nn.Hardsigmoid, nn.Hardtanh, nn.Softplus,
)  # fmt: skip


def _timm_activation_classes() -> dict[str, type[nn.Module]]:
    """timm's activation modules (``timm.layers.activations`` and ``activations_me``) by name."""
    try:
        from timm.layers import activations, activations_me
    except ImportError:  # pragma: no cover - timm is a dependency, but keep swap usable without
        return {}
    found = {}
    for mod in (activations, activations_me):
        for name, obj in vars(mod).items():
            if (
                inspect.isclass(obj)
                and issubclass(obj, nn.Module)
                and obj.__module__ == mod.__name__
            ):
                found[name] = obj
    return found


_TIMM = _timm_activation_classes()

#: Module types treated as activation sites.
ACTIVATION_TYPES: tuple[type[nn.Module], ...] = (*_TORCH_ACTIVATIONS, *_TIMM.values(), Activation)

#: Sigmoid-like activation types: the only ones that can be gates. timm's ``create_act_layer``
#: builds one of these for every ``gate_layer`` name its models use (``sigmoid``,
#: ``hard_sigmoid``).
SIGMOID_LIKE: tuple[type[nn.Module], ...] = (
    nn.Sigmoid,
    nn.Hardsigmoid,
    Sigmoid,
    *(_TIMM[n] for n in ("Sigmoid", "HardSigmoid", "HardSigmoidMe") if n in _TIMM),
)

#: Functional activations reported when called outside an activation module.
FUNCTIONAL_ACTIVATIONS = {
    F.relu: "relu", F.relu_: "relu_", torch.relu: "relu", torch.relu_: "relu_",
    torch.Tensor.relu: "Tensor.relu", torch.Tensor.relu_: "Tensor.relu_", F.relu6: "relu6",
    F.leaky_relu: "leaky_relu", F.elu: "elu", F.selu: "selu", F.celu: "celu", F.gelu: "gelu",
    F.silu: "silu", F.mish: "mish", F.hardswish: "hardswish", F.rrelu: "rrelu", F.prelu: "prelu",
    F.hardtanh: "hardtanh", F.softplus: "softplus",
}  # fmt: skip

#: Functional sigmoid-likes: a gate where their output multiplies other features, else an
#: activation called functionally (``x * x.sigmoid()`` is SiLU written out).
FUNCTIONAL_SIGMOIDS = {
    torch.sigmoid: "sigmoid", torch.Tensor.sigmoid: "Tensor.sigmoid",
    torch.Tensor.sigmoid_: "Tensor.sigmoid_", F.sigmoid: "sigmoid", F.hardsigmoid: "hardsigmoid",
}  # fmt: skip


#: Types built from users' activation specs (import paths, classes, factories, plugins): sites too.
_EXTERNAL_TYPES: set[type[nn.Module]] = set()


def register_activation_type(cls: type[nn.Module]) -> None:
    """Count ``cls`` as an activation site type from now on (done for every type built from a
    user's activation spec). torch's own module types (containers, layers) are never added."""
    if not issubclass(cls, ACTIVATION_TYPES) and not cls.__module__.startswith("torch."):
        _EXTERNAL_TYPES.add(cls)


def is_activation_module(module: nn.Module) -> bool:
    """Whether ``module`` is an activation site actlab swaps (torch, timm or actlab activation, or
    a type built from a user's spec)."""
    return isinstance(module, ACTIVATION_TYPES) or type(module) in _EXTERNAL_TYPES


def is_sigmoid_like(module: nn.Module) -> bool:
    """Whether ``module`` is a sigmoid-like activation, the only kind that can be a gate."""
    return isinstance(module, SIGMOID_LIKE)
