"""The one definition of a *trainable activation* and how its parameters are read.

A trainable activation is

- one of actlab's trainable activations (``prelu`` and the (a, b) families agile, PA, CPAF);
- torch's ``nn.PReLU`` (timm's ``PReLU`` is a subclass): its ``weight`` is read as ``a``;
- any other module with tensor attributes ``a`` and ``b`` shaped ``(k, *site)`` whose ``forward``
  takes an input shaped ``(N, *site)`` (third-party (a, b) activations).

Its parameters are read as ``{"a": ..., "b": ...}`` (``b`` absent for PReLU), each shaped
``(k, *site)``: ``k`` terms (1 for PReLU), ``site`` = ``()`` per layer, ``(C,)`` per channel,
``(C, H, W)`` or ``(F,)`` per element (the layout of 004's Fig. 14 (a_i, b_i) scatter). The
optimizer's activation group (:meth:`actlab.tasks.ClassificationModule.activation_parameters`),
the tracking callback (:mod:`actlab.tracking.activation_params`) and the swap report all use these
functions, so they always agree on what is trainable.
"""

from __future__ import annotations

import torch
from torch import nn

from actlab.activations.fixed import Activation
from actlab.activations.trainable import PReLU


def is_trainable_activation(module: nn.Module) -> bool:
    """Whether ``module`` is a trainable activation (see the module docstring)."""
    if isinstance(module, Activation):
        return bool(module.trainable)
    if isinstance(module, nn.PReLU):
        return True
    a, b = getattr(module, "a", None), getattr(module, "b", None)
    return isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor)


def activation_parameters(module: nn.Module) -> dict[str, torch.Tensor]:
    """The parameters of a trainable activation as ``(k, *site)`` views (not copies).

    ``{}`` for a module that is not a trainable activation, and for one whose channel- or
    element-wise parameters are not created yet (no input has reached it).
    """
    if not is_trainable_activation(module):
        return {}
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
