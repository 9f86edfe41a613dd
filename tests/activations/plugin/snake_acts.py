"""A tiny plugin package: one activation and one net, declared by entry points in
``snake_acts-0.1.0.dist-info/entry_points.txt`` (the test puts this folder on sys.path)."""

from __future__ import annotations

import torch
from torch import nn


class PluginSnake(nn.Module):
    """``x + sin(alpha x)^2 / alpha`` with one alpha per channel."""

    def __init__(self, num_parameters: int = 1, alpha: float = 1.0) -> None:
        super().__init__()
        self.alpha = nn.Parameter(torch.full((num_parameters,), float(alpha)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        alpha = self.alpha.view(1, -1, *([1] * (x.dim() - 2)))
        return x + torch.sin(alpha * x) ** 2 / alpha


def snake_mlp(pretrained: bool = False, num_classes: int = 10, in_chans: int = 1, **kwargs):
    """A timm-style entry point of a tiny MLP (for flat inputs of ``in_chans`` features)."""
    act_layer = kwargs.get("act_layer", nn.ReLU)
    return nn.Sequential(nn.Linear(in_chans, 8), act_layer(), nn.Linear(8, num_classes))
