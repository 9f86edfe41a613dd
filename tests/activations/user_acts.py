"""A user's activations, as a researcher would write them (no actlab import), for the tests of
specs that name them by import path (``tests.activations.user_acts:Snake``)."""

from __future__ import annotations

import torch
from torch import nn


def _per_channel(p: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return p.view(1, -1, *([1] * (x.dim() - 2)))


class Snake(nn.Module):
    """``x + sin(alpha x)^2 / alpha``, one alpha per channel (``channels``, like nn.PReLU)."""

    def __init__(self, channels: int = 1, alpha: float = 1.0) -> None:
        super().__init__()
        self.alpha = nn.Parameter(torch.full((channels,), float(alpha)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        alpha = _per_channel(self.alpha, x)
        return x + torch.sin(alpha * x) ** 2 / alpha


class LazySnake(nn.modules.lazy.LazyModuleMixin, nn.Module):
    """Snake with torch's lazy parameters: alpha is created from the first input's channels."""

    def __init__(self, alpha: float = 1.0) -> None:
        super().__init__()
        self.init = float(alpha)
        self.alpha = nn.UninitializedParameter()

    def initialize_parameters(self, x: torch.Tensor) -> None:
        if self.has_uninitialized_params():
            with torch.no_grad():
                self.alpha.materialize((x.shape[1],))
                self.alpha.fill_(self.init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        alpha = _per_channel(self.alpha, x)
        return x + torch.sin(alpha * x) ** 2 / alpha


class ScaledTanh(nn.Module):
    """``scale * tanh(x)`` with one learned scalar."""

    def __init__(self, scale: float = 1.0) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(float(scale)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.scale * torch.tanh(x)


class SquarePlus(nn.Module):
    """``(x + sqrt(x^2 + b)) / 2``: fixed."""

    def __init__(self, b: float = 4.0) -> None:
        super().__init__()
        self.b = b

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x + torch.sqrt(x * x + self.b)) / 2


class NeedsShift(nn.Module):
    """A required argument without default."""

    def __init__(self, shift: float) -> None:
        super().__init__()
        self.shift = shift

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x - self.shift)


class HalfPool(nn.Module):
    """Not an activation: halves the spatial size."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.max_pool2d(x, 2)


class NotAModule:
    """A class that is not an nn.Module."""


def make_snake(alpha: float = 0.5) -> nn.Module:
    """A factory of Snakes (one alpha per layer)."""
    return Snake(1, alpha)


def make_nothing() -> None:
    """A factory that forgot to return."""
