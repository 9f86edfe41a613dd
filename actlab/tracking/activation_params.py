"""Learned parameters of trainable activations: summaries, (a, b) scatter, curves and raw arrays.

What is a trainable activation and how its parameters read as ``(k, *site)`` tensors is decided
once, in :mod:`actlab.activations.parameters` (actlab's (a, b) families and ``prelu``, torch's and
timm's ``nn.PReLU`` with ``weight`` read as ``a``, and any module with tensors ``a`` and ``b``).
This covers the CPAF family of 004 (Fig. 14: learned ``a_i, b_i``), the agile/PA activations of
002 (Fig. 14: learned curves) and PReLU (He et al. 2015), which has ``a`` only.
"""

from __future__ import annotations

import copy
import io
import math
from collections.abc import Mapping

import numpy as np
import torch
from torch import nn

from actlab.activations.parameters import activation_parameters
from actlab.activations.parameters import is_trainable_activation as is_trainable_activation
from actlab.activations.parameters import trainable_activations as trainable_activations
from actlab.tracking.plots import figure_to_array, new_figure

#: Inputs at which learned curves are drawn.
CURVE_RANGE = (-4.0, 4.0)
CURVE_POINTS = 201
#: Individual sites drawn thinly beside the site average.
CURVE_SITES = 3


def _params(module: nn.Module) -> dict[str, torch.Tensor]:
    """``{"a": ..., "b": ...}`` (``b`` absent for PReLU), ``(k, *site)``, float32 copies on CPU."""
    return {n: p.detach().float().cpu() for n, p in activation_parameters(module).items()}


def _ab(module: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    """``a`` and ``b`` for the scatter; ``b = 0`` where there is none (PReLU's fixed kink)."""
    params = _params(module)
    return params["a"], params.get("b", torch.zeros_like(params["a"]))


def summary_metrics(activations: Mapping[str, nn.Module]) -> dict[str, float]:
    """``act/<layer>/{a,b}_{mean,std,min,max}`` over all terms and sites of each layer (``a``
    only for PReLU)."""
    metrics: dict[str, float] = {}
    for name, module in activations.items():
        for param, values in _params(module).items():
            flat = values.flatten()
            metrics[f"act/{name}/{param}_mean"] = flat.mean().item()
            metrics[f"act/{name}/{param}_std"] = flat.std().item() if flat.numel() > 1 else 0.0
            metrics[f"act/{name}/{param}_min"] = flat.min().item()
            metrics[f"act/{name}/{param}_max"] = flat.max().item()
    return metrics


def params_npz(activations: Mapping[str, nn.Module]) -> bytes:
    """The raw parameters as an ``.npz`` archive: arrays ``<layer>.a`` and ``<layer>.b``
    (``(k, *site)``; no ``.b`` for PReLU)."""
    arrays = {}
    for name, module in activations.items():
        for param, values in _params(module).items():
            arrays[f"{name}.{param}"] = values.numpy()
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
    """One panel per layer: ``(a_i, b_i)`` of every site, one colour per term ``i`` (PReLU,
    which has no ``b``, at ``b = 0``: its kink is fixed at 0)."""
    is_ab = {name: "b" in activation_parameters(m) for name, m in activations.items()}
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
        ax.set_title(name if is_ab[name] else f"{name} (no b: kink fixed at 0)", fontsize=9)
        ax.legend(fontsize=7)
    fig.suptitle(title)
    return figure_to_array(fig)


@torch.no_grad()
def curve(module: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``module`` evaluated at the 1-D inputs ``x`` at every site: shape ``(len(x), sites)``."""
    a = activation_parameters(module)["a"]
    site = tuple(a.shape[1:])
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
