"""Learned parameters of trainable activations: summaries, (a, b) scatter, shapes and raw arrays.

What is a trainable activation and how its parameters read is decided once, in
:mod:`actlab.activations.parameters`: actlab's (a, b) families and ``prelu``, torch's and timm's
activations with parameters (``nn.PReLU``'s ``weight`` read as ``a``), a user's activation with
whatever parameters it has, and any module with tensors ``a`` and ``b``. Every one gets per-layer
statistics of each parameter, ``.npz`` arrays and the learned-shape image, drawn by evaluating
the module itself on a grid of inputs (the median over its channels or elements and their
range, the initial shape beside it: 002 Fig. 14). The (a, b) kind also gets the ``(a_i, b_i)``
scatter of 004 Fig. 14; PReLU (He et al. 2015) has ``a`` only.
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

from actlab.activations.parameters import activation_parameters, is_ab_activation
from actlab.activations.parameters import is_trainable_activation as is_trainable_activation
from actlab.activations.parameters import trainable_activations as trainable_activations
from actlab.tracking.plots import CURVES_ARTIFACT as CURVES_ARTIFACT
from actlab.tracking.plots import MAX_PANELS as MAX_PANELS
from actlab.tracking.plots import figure_to_array, new_figure, shown_layers

if TYPE_CHECKING:
    from matplotlib.figure import Figure

#: Inputs at which learned curves are drawn.
CURVE_RANGE = (-4.0, 4.0)
CURVE_POINTS = 201
#: Prefix of the per-layer metrics: sorts after ``test/``, ``time/``, ``train/`` and ``val/``,
#: so MLflow's metric lists and chart view open with the headline metrics.
METRIC_PREFIX = "z_act"
#: Statistics of ``a`` and ``b`` per layer: the default, and all of them.
DEFAULT_STATS = ("mean",)
ALL_STATS = ("mean", "std", "min", "max")


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
    """``z_act/<index>.<layer>/<param>_<stat>`` over all terms and sites of each layer: ``a`` and
    ``b`` for the (a, b) kind (``a`` only for PReLU), else each named parameter (``alpha``).

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
    """The raw parameters as an ``.npz`` archive: arrays ``<layer>.<param>`` (``<layer>.a`` and
    ``<layer>.b`` shaped ``(k, *site)`` for the (a, b) kind, no ``.b`` for PReLU)."""
    arrays = {}
    for name, module in activations.items():
        for param, values in _params(module).items():
            arrays[f"{name}.{param}"] = values.numpy()
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


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


def ab_activations(activations: Mapping[str, nn.Module]) -> dict[str, nn.Module]:
    """The (a, b) kind among ``activations`` (the ones :func:`scatter_image` draws)."""
    return {name: m for name, m in activations.items() if is_ab_activation(m)}


def scatter_image(
    activations: Mapping[str, nn.Module],
    initial: Mapping[str, nn.Module] | None,
    title: str,
) -> np.ndarray:
    """One panel per layer (at most :data:`MAX_PANELS`): ``(a_i, b_i)`` of every site, one colour
    per term ``i``, the initial values in grey (004 Fig. 14). PReLU, which has no ``b``, is drawn
    at ``b = 0``: its kink is fixed at 0. Only for the (a, b) kind (:func:`ab_activations`)."""
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


def sample_shapes(module: nn.Module) -> list[tuple[int, ...]]:
    """Shapes of one sample to evaluate ``module`` on, most likely first: the (a, b) kind's
    ``site``; else from its largest parameter: its shape, then its channel count followed by
    0-2 singleton dims (per-channel parameters broadcast over them), then a scalar sample."""
    params = activation_parameters(module)
    if is_ab_activation(module):
        return [tuple(params["a"].shape[1:])]
    largest = max(params.values(), key=lambda p: p.numel(), default=None)
    shapes: list[tuple[int, ...]] = []
    if largest is not None and largest.numel() > 1:
        full = list(largest.shape)
        while full and full[0] == 1:
            full.pop(0)
        squeezed = [s for s in full if s != 1]
        shapes += [tuple(full), *((squeezed[0], *([1] * k)) for k in range(3))]
    shapes += [(), (1,), (1, 1, 1)]
    return list(dict.fromkeys(shapes))


@torch.no_grad()
def curve(module: nn.Module, x: torch.Tensor) -> torch.Tensor | None:
    """``module`` evaluated at the 1-D inputs ``x`` (eval mode): shape ``(len(x), units)``, one
    column per channel or element its parameters have; None when no sample shape of
    :func:`sample_shapes` gives an output shaped like the input."""
    param = next(iter(activation_parameters(module).values()), None)
    device, dtype = (param.device, param.dtype) if param is not None else (None, None)
    training = module.training
    module.eval()
    try:
        for shape in sample_shapes(module):
            inputs = x.to(device, dtype).view(-1, *([1] * len(shape))).expand(len(x), *shape)
            try:
                out = module(inputs.clone())
            except Exception:  # noqa: BLE001 - the shape does not fit: try the next one
                continue
            if isinstance(out, torch.Tensor) and out.shape == inputs.shape:
                return out.detach().float().cpu().reshape(len(x), -1)
    finally:
        module.train(training)
    return None


def curves_image(
    activations: Mapping[str, nn.Module],
    initial: Mapping[str, nn.Module] | None,
    title: str,
) -> np.ndarray:
    """One panel per layer (at most :data:`MAX_PANELS`): the learned shape f(x), the median
    over the layer's channels or elements and their range (a band), over the initial median
    (002 Fig. 14). Each module is evaluated itself (:func:`curve`)."""
    x = torch.linspace(*CURVE_RANGE, CURVE_POINTS)
    fig, axes = _panels(activations, title)
    for name, ax in axes:
        if initial is not None and name in initial:
            y0 = curve(initial[name], x)
            if y0 is not None:
                ax.plot(x, y0.median(1).values, "k--", lw=1.2, label="initial (site median)")
        y = curve(activations[name], x)
        if y is None:
            ax.text(0.5, 0.5, "no input shape fits", ha="center", transform=ax.transAxes)
            continue
        if y.shape[1] > 1:
            low, high = y.min(1).values, y.max(1).values
            label = f"learned, range over {y.shape[1]} sites"
            ax.fill_between(x, low, high, color="C0", alpha=0.25, lw=0, label=label)
        ax.plot(x, y.median(1).values, "C3", lw=1.8, label="learned (site median)")
        ax.axhline(0, color="grey", lw=0.4)
        ax.axvline(0, color="grey", lw=0.4)
        ax.set_xlabel("x")
        ax.set_ylabel("f(x)")
        ax.legend(fontsize=7)
    return figure_to_array(fig)


def curves_npz(activations: Mapping[str, nn.Module]) -> bytes:
    """The learned shapes as an ``.npz`` archive: ``x`` (:data:`CURVE_RANGE`,
    :data:`CURVE_POINTS`), and per layer (its :func:`layer_keys` key) ``<key>.median``,
    ``<key>.low`` and ``<key>.high``: f(x) of each module evaluated itself (:func:`curve`), the
    median over its channels or elements and their range. Layers no input shape fits are left
    out."""
    x = torch.linspace(*CURVE_RANGE, CURVE_POINTS)
    arrays = {"x": x.numpy()}
    keys = layer_keys(activations)
    for name, module in activations.items():
        y = curve(module, x)
        if y is not None:
            arrays[f"{keys[name]}.median"] = y.median(1).values.numpy()
            arrays[f"{keys[name]}.low"] = y.min(1).values.numpy()
            arrays[f"{keys[name]}.high"] = y.max(1).values.numpy()
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def snapshot(activations: Mapping[str, nn.Module]) -> dict[str, nn.Module]:
    """Deep copies of the activations (on CPU), e.g. the initial curves taken at fit start."""
    return {name: copy.deepcopy(module).cpu() for name, module in activations.items()}
