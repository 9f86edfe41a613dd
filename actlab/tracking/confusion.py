"""Confusion matrices: an annotated heat map and the raw counts as CSV, with class names on the axes."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

import numpy as np
import torch

from actlab.tracking.plots import figure_to_array, new_figure


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


def confusion_image(
    counts: torch.Tensor | np.ndarray, class_names: Sequence[str], title: str
) -> np.ndarray:
    """Heat map of ``counts`` (rows true, columns predicted), counts written in small matrices."""
    counts = np.asarray(counts, dtype=np.int64)
    n = counts.shape[0]
    labels = class_labels(class_names, n)
    size = min(4 + 0.45 * n, 24)
    fig = new_figure(size + 1, size)
    ax = fig.add_subplot()
    image = ax.imshow(counts, cmap="Blues")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    ticks = range(n) if n <= 40 else range(0, n, max(1, n // 20))
    ax.set_xticks(list(ticks), [labels[i] for i in ticks], rotation=90 if n > 10 else 0)
    ax.set_yticks(list(ticks), [labels[i] for i in ticks])
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    if n <= 20:
        threshold = counts.max() / 2 if counts.size else 0
        for i in range(n):
            for j in range(n):
                color = "white" if counts[i, j] > threshold else "black"
                ax.text(j, i, str(counts[i, j]), ha="center", va="center", color=color, fontsize=8)
    return figure_to_array(fig)
