"""Learned parameters of trainable activations: summaries, (a, b) scatter, curves and raw arrays.

The protocol is duck-typed: a *trainable activation* is any module with tensor attributes ``a``
and ``b`` shaped ``(k, *site)`` (``k`` terms, ``site`` = ``()`` per layer, ``(C,)`` per channel,
``(C, H, W)`` per element) whose ``forward`` accepts an input shaped ``(N, *site)``. This covers
the CPAF family of 004 (Fig. 14: learned ``a_i, b_i``) and the agile/PA activations of 002
(Fig. 14: learned curves).
"""

from __future__ import annotations

import copy
import io
import math
from collections.abc import Mapping

import numpy as np
import torch
from torch import nn

from actlab.tracking.plots import figure_to_array, new_figure

#: Inputs at which learned curves are drawn.
CURVE_RANGE = (-4.0, 4.0)
CURVE_POINTS = 201
#: Individual sites drawn thinly beside the site average.
CURVE_SITES = 3


def is_trainable_activation(module: nn.Module) -> bool:
    """Whether ``module`` follows the protocol (tensor attributes ``a`` and ``b``)."""
    a, b = getattr(module, "a", None), getattr(module, "b", None)
    return isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor)


def trainable_activations(model: nn.Module) -> dict[str, nn.Module]:
    """Every trainable activation in ``model`` by qualified module name (``""`` becomes ``root``)."""
    return {
        name or "root": module
        for name, module in model.named_modules()
        if is_trainable_activation(module)
    }


def _ab(module: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    a = module.a.detach().float().cpu()
    b = module.b.detach().float().cpu()
    return (a.unsqueeze(0), b.unsqueeze(0)) if a.dim() == 0 else (a, b)


def summary_metrics(activations: Mapping[str, nn.Module]) -> dict[str, float]:
    """``act/<layer>/{a,b}_{mean,std,min,max}`` over all terms and sites of each layer."""
    metrics: dict[str, float] = {}
    for name, module in activations.items():
        for param, values in zip("ab", _ab(module), strict=True):
            flat = values.flatten()
            metrics[f"act/{name}/{param}_mean"] = flat.mean().item()
            metrics[f"act/{name}/{param}_std"] = flat.std().item() if flat.numel() > 1 else 0.0
            metrics[f"act/{name}/{param}_min"] = flat.min().item()
            metrics[f"act/{name}/{param}_max"] = flat.max().item()
    return metrics


def params_npz(activations: Mapping[str, nn.Module]) -> bytes:
    """The raw parameters as an ``.npz`` archive: arrays ``<layer>.a`` and ``<layer>.b``."""
    arrays = {}
    for name, module in activations.items():
        a, b = _ab(module)
        arrays[f"{name}.a"], arrays[f"{name}.b"] = a.numpy(), b.numpy()
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def _grid(n: int) -> tuple[int, int]:
    cols = min(n, 4)
    return math.ceil(n / cols), cols


def scatter_image(
    activations: Mapping[str, nn.Module],
    initial: Mapping[str, nn.Module] | None,
    title: str,
) -> np.ndarray:
    """One panel per layer: ``(a_i, b_i)`` of every site, one colour per term ``i``."""
    rows, cols = _grid(len(activations))
    fig = new_figure(4 * cols, 3.6 * rows)
    for index, (name, module) in enumerate(activations.items(), start=1):
        ax = fig.add_subplot(rows, cols, index)
        if initial is not None and name in initial:
            a0, b0 = _ab(initial[name])
            ax.scatter(a0.flatten(), b0.flatten(), s=8, c="lightgrey", label="initial")
        a, b = _ab(module)
        for i in range(a.shape[0]):
            ax.scatter(a[i].flatten(), b[i].flatten(), s=8, alpha=0.7, label=f"$(a_{i}, b_{i})$")
        ax.set_xlabel("a")
        ax.set_ylabel("b")
        ax.set_title(name, fontsize=9)
        ax.legend(fontsize=7)
    fig.suptitle(title)
    return figure_to_array(fig)


@torch.no_grad()
def curve(module: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``module`` evaluated at the 1-D inputs ``x`` at every site: shape ``(len(x), sites)``."""
    a = module.a
    site = tuple(a.shape[1:]) if a.dim() > 0 else ()
    inputs = x.to(a.device, a.dtype).view(-1, *([1] * len(site))).expand(len(x), *site)
    out = module(inputs.clone())
    return out.detach().float().cpu().reshape(len(x), -1)


def curves_image(
    activations: Mapping[str, nn.Module],
    initial: Mapping[str, nn.Module] | None,
    title: str,
) -> np.ndarray:
    """One panel per layer: the learned curve (site mean and a few sites) over the initial one."""
    x = torch.linspace(*CURVE_RANGE, CURVE_POINTS)
    rows, cols = _grid(len(activations))
    fig = new_figure(4 * cols, 3.4 * rows)
    for index, (name, module) in enumerate(activations.items(), start=1):
        ax = fig.add_subplot(rows, cols, index)
        if initial is not None and name in initial:
            y0 = curve(initial[name], x)
            ax.plot(x, y0.mean(1), "k--", lw=1.2, label="initial")
        y = curve(module, x)
        for site in range(min(CURVE_SITES, y.shape[1]) if y.shape[1] > 1 else 0):
            ax.plot(x, y[:, site], lw=0.6, alpha=0.6)
        ax.plot(x, y.mean(1), "C3", lw=1.8, label="learned (site mean)")
        ax.axhline(0, color="grey", lw=0.4)
        ax.axvline(0, color="grey", lw=0.4)
        ax.set_title(name, fontsize=9)
        ax.legend(fontsize=7)
    fig.suptitle(title)
    return figure_to_array(fig)


def snapshot(activations: Mapping[str, nn.Module]) -> dict[str, nn.Module]:
    """Deep copies of the activations (on CPU), e.g. the initial curves taken at fit start."""
    return {name: copy.deepcopy(module).cpu() for name, module in activations.items()}
