"""Matplotlib helpers shared by the tracking callbacks: headless figures rendered to RGB arrays.

Matplotlib is imported when the first figure is drawn, not when a fit starts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from matplotlib.figure import Figure


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
