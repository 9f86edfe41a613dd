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
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

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


def layer_keys(activations: Mapping[str, nn.Module]) -> dict[str, str]:
    """Metric key of each layer: ``<index>.<layer>``, the index zero-padded in network order,
    so that string order is network order (``02.backbone.features.2`` before ``12...``)."""
    width = max(2, len(str(len(activations) - 1)))
    return {name: f"{i:0{width}d}.{name}" for i, name in enumerate(activations)}


def summary_metrics(
    activations: Mapping[str, nn.Module], stats: Sequence[str] = DEFAULT_STATS
) -> dict[str, float]:
    """``z_act/<index>.<layer>/{a,b}_<stat>`` over all terms and sites of each layer.

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
        for param, values in zip("ab", _ab(module), strict=True):
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
    """The raw parameters as an ``.npz`` archive: arrays ``<layer>.a`` and ``<layer>.b``."""
    arrays = {}
    for name, module in activations.items():
        a, b = _ab(module)
        arrays[f"{name}.a"], arrays[f"{name}.b"] = a.numpy(), b.numpy()
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
    per term ``i``, the initial values in grey (004 Fig. 14)."""
    fig, axes = _panels(activations, title)
    for name, ax in axes:
        if initial is not None and name in initial:
            a0, b0 = _ab(initial[name])
            ax.scatter(a0.flatten(), b0.flatten(), s=10, c="lightgrey", label="initial")
        a, b = _ab(activations[name])
        for i in range(a.shape[0]):
            ax.scatter(a[i].flatten(), b[i].flatten(), s=10, alpha=0.7, label=f"learned $i={i}$")
        ax.set_xlabel("$a_i$")
        ax.set_ylabel("$b_i$")
        ax.legend(fontsize=7)
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
