"""Framework default initialisations (``model.init_args.weight_init``): torch, Keras, Caffe.

The papers trained in other frameworks (003 in Keras, 000 in Caffe; ``shared/PAPERS.md``,
"Frameworks the papers name"), whose default weight initialisation differs from PyTorch's. With
``weight_init`` a net's convolutions and linear layers start as that framework would start them:

- ``torch``: PyTorch's own (``reset_parameters``: Kaiming-uniform with a = sqrt(5), i.e.
  U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for the weights, and biases uniform in the same bound). Left
  untouched, so it is exactly today's behaviour.
- ``keras``: Keras' ``Dense``/``Conv2D`` defaults, ``kernel_initializer='glorot_uniform'``
  (Glorot & Bengio 2010, eq. 16: U(-l, l) with l = sqrt(6 / (fan_in + fan_out))) and
  ``bias_initializer='zeros'``. Keras computes the fans of a conv kernel as torch does:
  receptive field size x input (fan_in) or output (fan_out) channels.
- ``caffe_xavier``: Caffe's ``XavierFiller`` with its default ``variance_norm: FAN_IN``:
  U(-s, s) with s = sqrt(3 / fan_in) (``filler.hpp``; variance 1 / fan_in), bias ``constant`` 0
  (the default ``bias_filler``).
- ``caffe_msra``: Caffe's ``MSRAFiller`` with its default ``variance_norm: FAN_IN``:
  N(0, sqrt(2 / fan_in)) (He et al. 2015, eq. 10), bias 0.

Only ``nn.Linear`` and ``nn.Conv{1,2,3}d`` weights and biases are touched (the classifier included):
norm layers and activation parameters (PReLU's 0.25, CPAF's Table 1 values) keep their own
initial values. The draws come from torch's global generator, which ``seed_everything`` seeds
before the model is built, so one seed gives the same weights every time.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Literal, get_args

import torch
from torch import nn

from actlab.errors import ActlabError

WeightInit = Literal["torch", "keras", "caffe_xavier", "caffe_msra"]

#: The schemes ``weight_init`` accepts, in the order the docs list them.
WEIGHT_INITS: tuple[str, ...] = get_args(WeightInit)

#: Layers whose weights and biases a scheme re-initialises.
INITIALISED_LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)


def fans(weight: torch.Tensor) -> tuple[int, int]:
    """``(fan_in, fan_out)`` of a linear or conv weight, as torch, Keras and Caffe count them:
    input (output) channels per group times the kernel's receptive field size."""
    receptive_field = math.prod(weight.shape[2:])
    return weight.shape[1] * receptive_field, weight.shape[0] * receptive_field


@torch.no_grad()
def init_layer(layer: nn.Module, scheme: WeightInit) -> None:
    """Re-initialise one linear or conv ``layer`` by ``scheme`` (see the module docstring)."""
    if scheme == "torch":
        layer.reset_parameters()
        return
    weight = layer.weight
    fan_in, _ = fans(weight)
    if scheme == "keras":
        nn.init.xavier_uniform_(weight)  # sqrt(6 / (fan_in + fan_out)) bound
    elif scheme == "caffe_xavier":
        bound = math.sqrt(3.0 / fan_in)
        nn.init.uniform_(weight, -bound, bound)
    elif scheme == "caffe_msra":
        nn.init.normal_(weight, 0.0, math.sqrt(2.0 / fan_in))
    else:
        raise ActlabError(unknown_scheme_message(scheme))
    if layer.bias is not None:
        nn.init.zeros_(layer.bias)


def unknown_scheme_message(scheme: object) -> str:
    return f"unknown weight_init {scheme!r}; valid: {', '.join(WEIGHT_INITS)}"


def _layers(module: nn.Module, skip: Callable[[nn.Module], bool]) -> Iterator[nn.Module]:
    """``module`` and the layers under it that are linear or conv, not descending into the
    modules ``skip`` takes."""
    if isinstance(module, INITIALISED_LAYERS):
        yield module
    for child in module.children():
        if not skip(child):
            yield from _layers(child, skip)


def init_weights(
    model: nn.Module,
    scheme: WeightInit,
    skip: Callable[[nn.Module], bool] | None = None,
) -> int:
    """Re-initialise every linear and conv layer of ``model`` by ``scheme``; return how many.

    ``skip`` names modules to leave alone with everything inside them: the task passes
    :func:`actlab.activations.is_activation_module`, so an activation that holds a layer of its
    own (a user's, or a gated one) keeps its initial values. ``torch`` leaves the model as built
    (its layers were initialised by torch on creation), so runs without the option draw exactly
    the weights they drew before it existed.
    """
    if scheme not in WEIGHT_INITS:
        raise ActlabError(unknown_scheme_message(scheme))
    layers = list(_layers(model, skip or (lambda module: False)))
    if scheme == "torch":
        return len(layers)
    for layer in layers:
        init_layer(layer, scheme)
    return len(layers)
