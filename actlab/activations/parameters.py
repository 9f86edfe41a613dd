"""The one definition of a *trainable activation* and how its parameters are read.

A trainable activation is an activation module with parameters that require gradients:

- one of actlab's trainable activations (``prelu`` and the (a, b) families agile, PA, CPAF);
- torch's and timm's activations with parameters (``nn.PReLU``: its ``weight`` is read as ``a``);
- a user's activation (an import path, class, factory or plugin used as a spec, whose type is
  an activation site type from then on), whatever its parameters are called;
- any other module with tensor attributes ``a`` and ``b`` shaped ``(k, *site)`` whose ``forward``
  takes an input shaped ``(N, *site)`` (third-party (a, b) activations).

The (a, b) kind (:func:`is_ab_activation`: actlab's families, PReLU and third-party (a, b)
modules) is read as ``{"a": ..., "b": ...}`` (``b`` absent for PReLU), each shaped ``(k, *site)``:
``k`` terms (1 for PReLU), ``site`` = ``()`` per layer, ``(C,)`` per channel, ``(C, H, W)`` or
``(F,)`` per element (the layout of 004's Fig. 14 (a_i, b_i) scatter). Any other trainable
activation is read as its own named parameters, as they are shaped. The optimizer's activation
group (:meth:`actlab.tasks.ClassificationModule.activation_parameters`), the tracking callback
(:mod:`actlab.tracking.activation_params`), the swap report and the ``activation_trainable`` tag
that ``actlab report --html`` reads all use these functions, so they always agree on what is
trainable.
"""

from __future__ import annotations

import torch
from torch import nn

from actlab.activations.fixed import Activation
from actlab.activations.sites import is_activation_module
from actlab.activations.trainable import PReLU


def _has_ab(module: nn.Module) -> bool:
    a, b = getattr(module, "a", None), getattr(module, "b", None)
    return isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor)


def is_trainable_activation(module: nn.Module) -> bool:
    """Whether ``module`` is a trainable activation (see the module docstring)."""
    if isinstance(module, Activation):
        return bool(module.trainable)
    if isinstance(module, nn.PReLU) or _has_ab(module):
        return True
    return is_activation_module(module) and any(p.requires_grad for p in module.parameters())


def is_ab_activation(module: nn.Module) -> bool:
    """Whether ``module``'s parameters read as ``(a, b)`` shaped ``(k, *site)`` (actlab's
    trainable activations, PReLU, third-party (a, b) modules): the ones with a scatter."""
    if isinstance(module, Activation):
        return bool(module.trainable)
    return isinstance(module, nn.PReLU) or _has_ab(module)


def activation_parameters(module: nn.Module) -> dict[str, torch.Tensor]:
    """The parameters of a trainable activation: ``(k, *site)`` views (not copies) of ``a`` and
    ``b`` for the (a, b) kind, else its named parameters as they are.

    ``{}`` for a module that is not a trainable activation, and for one whose channel- or
    element-wise parameters are not created yet (no input has reached it).
    """
    if not is_trainable_activation(module):
        return {}
    if not is_ab_activation(module):
        named = dict(module.named_parameters())
        if any(isinstance(p, nn.parameter.UninitializedParameter) for p in named.values()):
            return {}
        return {name: p for name, p in named.items() if p.requires_grad}
    if isinstance(module, nn.PReLU):
        weight = module.weight
        # num_parameters=1 is one slope for the layer (site ()), else one per channel (C,)
        return {"a": weight.reshape(1) if weight.numel() == 1 else weight.unsqueeze(0)}
    if isinstance(module, PReLU):
        return {} if module.a is None else {"a": module.a.unsqueeze(0)}
    params = {name: getattr(module, name, None) for name in ("a", "b")}
    if any(p is None for p in params.values()):
        return {}
    return {name: p if p.dim() > 0 else p.reshape(1) for name, p in params.items()}


def parameter_shapes(module: nn.Module) -> dict[str, list[int]]:
    """``{"a": [k, *site], ...}`` of :func:`activation_parameters` (for reports and logs)."""
    return {name: list(p.shape) for name, p in activation_parameters(module).items()}


def trainable_activations(model: nn.Module) -> dict[str, nn.Module]:
    """Every trainable activation of ``model`` whose parameters exist, by qualified name (the
    model itself is ``root``); each module once, under its first name."""
    found: dict[str, nn.Module] = {}
    for name, module in model.named_modules():
        if is_trainable_activation(module) and activation_parameters(module):
            found[name or "root"] = module
    return found
