"""Feature scatter (004 Fig. 11): test points in a 2-D feature space, coloured by class.

Backbones exposing timm's ``forward_features``/``forward_head(pre_logits=True)`` give their
pre-logits features; a 2-D feature space (004 §4.1's 16-8-4-2 net) is drawn as is, wider ones are
projected to 2-D with PCA (``torch.pca_lowrank``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from actlab.tracking.confusion import class_labels
from actlab.tracking.plots import figure_to_array, new_figure


def has_features(backbone: nn.Module) -> bool:
    """Whether ``backbone`` exposes timm's feature API."""
    return hasattr(backbone, "forward_features") and hasattr(backbone, "forward_head")


@torch.no_grad()
def pre_logits(backbone: nn.Module, inputs: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
    """Pre-logits features of ``inputs`` (eval mode, restored afterwards), shape ``(N, D)``."""
    was_training = backbone.training
    backbone.eval()
    device = next(backbone.parameters()).device
    out = []
    try:
        for start in range(0, len(inputs), batch_size):
            x = inputs[start : start + batch_size].to(device)
            features = backbone.forward_head(backbone.forward_features(x), pre_logits=True)
            out.append(features.flatten(1).float().cpu())
    finally:
        backbone.train(was_training)
    return torch.cat(out)


def project_2d(features: torch.Tensor) -> tuple[torch.Tensor, bool]:
    """``features`` as is when 2-D, else their first two principal components; (points, projected)."""
    if features.shape[1] == 2:
        return features, False
    centered = features - features.mean(0, keepdim=True)
    if features.shape[1] == 1:
        return torch.cat([centered, torch.zeros_like(centered)], 1), True
    _, _, v = torch.pca_lowrank(centered, q=2, center=False)
    return centered @ v[:, :2], True


def feature_scatter_image(
    points: torch.Tensor, targets: torch.Tensor, class_names: Sequence[str], title: str
) -> np.ndarray:
    """Scatter of 2-D ``points`` coloured by class, with a legend of class names."""
    from matplotlib import colormaps

    num_classes = int(targets.max().item()) + 1 if len(targets) else 0
    labels = class_labels(class_names, max(num_classes, len(class_names)))
    fig = new_figure(6.5, 5.5)
    ax = fig.add_subplot()
    cmap = colormaps["tab10" if len(labels) <= 10 else "tab20"]
    for cls in torch.unique(targets).tolist():
        mask = targets == cls
        label = labels[cls] if cls < len(labels) else str(cls)
        ax.scatter(
            points[mask, 0], points[mask, 1], s=6, alpha=0.7, label=label, color=cmap(cls % 20)
        )
    if len(labels) <= 20:
        ax.legend(fontsize=7, markerscale=2, loc="best")
    ax.set_xlabel("feature 1")
    ax.set_ylabel("feature 2")
    ax.set_title(title, fontsize=10)
    return figure_to_array(fig)
