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
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from actlab.activations.parameters import activation_parameters
from actlab.activations.parameters import is_trainable_activation as is_trainable_activation
from actlab.activations.parameters import trainable_activations as trainable_activations
from actlab.tracking.plots import figure_to_array, new_figure

if TYPE_CHECKING:
    from matplotlib.figure import Figure

#: Inputs at which learned curves are drawn.
CURVE_RANGE = (-4.0, 4.0)
CURVE_POINTS = 201
#: Individual sites drawn thinly beside the site average.
CURVE_SITES = 3
#: Prefix of the per-layer metrics: sorts after ``test/``, ``time/``, ``train/`` and ``val/``,
#: so MLflow's metric lists and chart view open with the headline metrics.
METRIC_PREFIX = "z_act"
#: Statistics of ``a`` and ``b`` per layer: the default, and all of them.
DEFAULT_STATS = ("mean",)
ALL_STATS = ("mean", "std", "min", "max")
#: Panels of a figure at most (2 x 2, readable as a thumbnail); deeper nets show evenly spaced
#: layers, first and last included.
MAX_PANELS = 4


def _params(module: nn.Module) -> dict[str, torch.Tensor]:
    """``{"a": ..., "b": ...}`` (``b`` absent for PReLU), ``(k, *site)``, float32 copies on CPU."""
    return {n: p.detach().float().cpu() for n, p in activation_parameters(module).items()}


def _ab(module: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    """``a`` and ``b`` for the scatter; ``b = 0`` where there is none (PReLU's fixed kink)."""
    params = _params(module)
    return params["a"], params.get("b", torch.zeros_like(params["a"]))


def layer_keys(activations: Mapping[str, nn.Module]) -> dict[str, str]:
    """Metric key of each layer: ``<index>.<layer>``, the index zero-padded in network order,
    so that string order is network order (``02.backbone.features.2`` before ``12...``)."""
    width = max(2, len(str(len(activations) - 1)))
    return {name: f"{i:0{width}d}.{name}" for i, name in enumerate(activations)}


def summary_metrics(
    activations: Mapping[str, nn.Module], stats: Sequence[str] = DEFAULT_STATS
) -> dict[str, float]:
    """``z_act/<index>.<layer>/{a,b}_<stat>`` over all terms and sites of each layer (``a`` only
    for PReLU).

    Args:
        activations: trainable activations by module name, in network order.
        stats: any of ``mean``, ``std``, ``min``, ``max`` (default: the means only).
    """
    unknown = sorted(set(stats) - set(ALL_STATS))
    if unknown:
        raise ValueError(f"unknown statistics {unknown}; valid: {', '.join(ALL_STATS)}")
    metrics: dict[str, float] = {}
    keys = layer_keys(activations)
    for name, module in activations.items():
        for param, values in _params(module).items():
            flat = values.flatten()
            found = {
                "mean": flat.mean,
                "std": lambda f=flat: f.std() if f.numel() > 1 else f.new_zeros(()),
                "min": flat.min,
                "max": flat.max,
            }
            for stat in stats:
                metrics[f"{METRIC_PREFIX}/{keys[name]}/{param}_{stat}"] = found[stat]().item()
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


def shown_layers(names: Sequence[str], most: int = MAX_PANELS) -> list[str]:
    """At most ``most`` layer names, evenly spaced over the network, first and last included."""
    if len(names) <= most:
        return list(names)
    picks = sorted({round(i * (len(names) - 1) / (most - 1)) for i in range(most)})
    return [names[i] for i in picks]


def _grid(n: int) -> tuple[int, int]:
    """Rows and columns of ``n`` panels: at most two columns, so the figure stays near square."""
    cols = 1 if n == 1 else 2
    return math.ceil(n / cols), cols


def _panels(
    activations: Mapping[str, nn.Module], title: str
) -> tuple[Figure, list[tuple[str, Any]]]:
    """A square-ish figure with one axis per shown layer, titled ``title`` (+ layers shown)."""
    names = list(activations)
    shown = shown_layers(names)
    rows, cols = _grid(len(shown))
    width = 3.2 * cols + 0.4
    fig = new_figure(width, max(3.0 * rows + 0.6, 0.62 * width))
    keys = layer_keys(activations)
    axes = []
    for index, name in enumerate(shown, start=1):
        ax = fig.add_subplot(rows, cols, index)
        ax.set_title(keys[name], fontsize=9)
        axes.append((name, ax))
    note = f"\n{len(shown)} of {len(names)} layers" if len(shown) < len(names) else ""
    fig.suptitle(title + note, fontsize=10)
    return fig, axes


def scatter_image(
    activations: Mapping[str, nn.Module],
    initial: Mapping[str, nn.Module] | None,
    title: str,
) -> np.ndarray:
    """One panel per layer (at most :data:`MAX_PANELS`): ``(a_i, b_i)`` of every site, one colour
    per term ``i``, the initial values in grey (004 Fig. 14). PReLU, which has no ``b``, is drawn
    at ``b = 0``: its kink is fixed at 0."""
    is_ab = {name: "b" in activation_parameters(m) for name, m in activations.items()}
    fig, axes = _panels(activations, title)
    keys = layer_keys(activations)
    for name, ax in axes:
        if initial is not None and name in initial:
            a0, b0 = _ab(initial[name])
            ax.scatter(a0.flatten(), b0.flatten(), s=10, c="lightgrey", label="initial")
        a, b = _ab(activations[name])
        for i in range(a.shape[0]):
            ax.scatter(a[i].flatten(), b[i].flatten(), s=10, alpha=0.7, label=f"learned $i={i}$")
        ax.set_xlabel("$a_i$")
        ax.set_ylabel("$b_i$")
        if not is_ab[name]:
            ax.set_title(f"{keys[name]} (no b: kink fixed at 0)", fontsize=9)
        ax.legend(fontsize=7)
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
    """One panel per layer (at most :data:`MAX_PANELS`): the learned curve f(x), mean over the
    layer's sites and a few single sites, over the initial one (002 Fig. 14)."""
    x = torch.linspace(*CURVE_RANGE, CURVE_POINTS)
    fig, axes = _panels(activations, title)
    for name, ax in axes:
        if initial is not None and name in initial:
            y0 = curve(initial[name], x)
            ax.plot(x, y0.mean(1), "k--", lw=1.2, label="initial (site mean)")
        y = curve(activations[name], x)
        sites = min(CURVE_SITES, y.shape[1]) if y.shape[1] > 1 else 0
        for site in range(sites):
            label = f"learned, {sites} single sites" if site == 0 else None
            ax.plot(x, y[:, site], "C0", lw=0.6, alpha=0.6, label=label)
        ax.plot(x, y.mean(1), "C3", lw=1.8, label="learned (site mean)")
        ax.axhline(0, color="grey", lw=0.4)
        ax.axvline(0, color="grey", lw=0.4)
        ax.set_xlabel("x")
        ax.set_ylabel("f(x)")
        ax.legend(fontsize=7)
    return figure_to_array(fig)


def snapshot(activations: Mapping[str, nn.Module]) -> dict[str, nn.Module]:
    """Deep copies of the activations (on CPU), e.g. the initial curves taken at fit start."""
    return {name: copy.deepcopy(module).cpu() for name, module in activations.items()}
