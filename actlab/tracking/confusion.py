"""Confusion matrices: an annotated heat map and the raw counts as CSV, with class names on the axes."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch

from actlab.tracking.plots import figure_to_array, new_figure

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def class_labels(class_names: Sequence[str], num_classes: int) -> list[str]:
    """``class_names`` when they fit ``num_classes``, else ``0..n-1``."""
    names = [str(n) for n in class_names]
    return names if len(names) == num_classes else [str(i) for i in range(num_classes)]


def confusion_csv(counts: torch.Tensor | np.ndarray, class_names: Sequence[str]) -> str:
    """Counts as CSV: header ``true\\predicted,<classes>``, one row per true class."""
    counts = np.asarray(counts, dtype=np.int64)
    labels = class_labels(class_names, counts.shape[0])
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["true\\predicted", *labels])
    for label, row in zip(labels, counts, strict=True):
        writer.writerow([label, *row.tolist()])
    return out.getvalue()


def accuracy(counts: torch.Tensor | np.ndarray) -> float:
    """Share of the counted samples on the diagonal (``nan`` for an empty matrix)."""
    counts = np.asarray(counts, dtype=np.int64)
    total = counts.sum()
    return float(np.trace(counts) / total) if total else float("nan")


def confusion_title(split: str, counts: torch.Tensor | np.ndarray, epoch: int | None) -> str:
    """``validation, epoch 4: accuracy 96.3 % (n = 40)``."""
    counts = np.asarray(counts)
    at = f", epoch {epoch}" if epoch is not None else ""
    return f"{split}{at}: accuracy {100 * accuracy(counts):.1f} % (n = {int(counts.sum())})"


#: Matrices up to this many classes get their counts written in the cells.
MAX_ANNOTATED = 30


def confusion_image(
    counts: torch.Tensor | np.ndarray, class_names: Sequence[str], title: str
) -> np.ndarray:
    """:func:`confusion_figure` rendered to an RGB array."""
    return figure_to_array(confusion_figure(counts, class_names, title))


def confusion_figure(
    counts: torch.Tensor | np.ndarray, class_names: Sequence[str], title: str
) -> Figure:
    """Heat map of ``counts`` (rows true, columns predicted), readable as a thumbnail.

    Cells carry their counts (up to :data:`MAX_ANNOTATED` classes, font scaled to the cell);
    zeros are left blank so that the errors stand out. ``title`` is usually
    :func:`confusion_title` (split, epoch, accuracy) plus the run's name.
    """
    counts = np.asarray(counts, dtype=np.int64)
    n = counts.shape[0]
    labels = class_labels(class_names, n)
    size = min(4.6 + 0.3 * n, 16)
    fig = new_figure(size + 0.8, size)
    ax = fig.add_subplot()
    image = ax.imshow(counts, cmap="Blues")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    ticks = range(n) if n <= 40 else range(0, n, max(1, n // 20))
    long_names = max((len(label) for label in labels), default=0) > 3
    rotate = 90 if n > 10 or (long_names and n > 4) else 0
    ax.set_xticks(list(ticks), [labels[i] for i in ticks], rotation=rotate)
    ax.set_yticks(list(ticks), [labels[i] for i in ticks])
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title, fontsize=10)
    if n <= MAX_ANNOTATED:
        threshold = counts.max() / 2 if counts.size else 0
        fontsize = max(6.0, min(16.0, 130.0 / n))
        for i in range(n):
            for j in range(n):
                if counts[i, j] == 0:
                    continue
                color = "white" if counts[i, j] > threshold else "black"
                ax.text(
                    j, i, str(counts[i, j]), ha="center", va="center", color=color,
                    fontsize=fontsize,
                )  # fmt: skip
    return fig
