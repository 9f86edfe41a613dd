"""Matplotlib helpers shared by the tracking callbacks: headless figures rendered to RGB arrays.

Matplotlib is imported when the first figure is drawn, not when a fit starts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from matplotlib.figure import Figure


#: The learned shapes a fit logs at its end (``activation_params.curves_npz``): ``x`` and, per
#: layer key, ``<key>.median`` / ``.low`` / ``.high``; ``actlab report --html`` reads it without
#: torch (``actlab.report.shapes``).
CURVES_ARTIFACT = "activation_params/final_curves.npz"
#: Panels of a figure at most (2 x 2, readable as a thumbnail); deeper nets show evenly spaced
#: layers, first and last included.
MAX_PANELS = 4


def shown_layers(names: list[str] | tuple[str, ...], most: int = MAX_PANELS) -> list[str]:
    """At most ``most`` layer names, evenly spaced over the network, first and last included."""
    if len(names) <= most:
        return list(names)
    picks = sorted({round(i * (len(names) - 1) / (most - 1)) for i in range(most)})
    return [names[i] for i in picks]


def new_figure(width: float = 6.0, height: float = 5.0) -> Figure:
    """A figure on the Agg canvas (no display, no pyplot state)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def figure_to_array(fig: Figure) -> np.ndarray:
    """Render ``fig`` to an ``(H, W, 3)`` ``uint8`` array."""
    fig.tight_layout()
    fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()
