"""A plain multilayer perceptron (003's FFNN), registered with timm as ``mlp``."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from timm.layers import get_act_layer
from torch import nn

from actlab.models.registry import drop_timm_kwargs, register_actlab_model


class MLP(nn.Module):
    """Flatten, then ``Linear -> activation -> Dropout`` per hidden layer, then a linear head.

    Each hidden layer gets its own activation module, so activation swaps with per-feature
    parameters have one well-defined site per layer.

    Args:
        num_classes: outputs of the head (0 for no head: ``forward`` returns features).
        in_chans: input features when ``input_size`` is not given.
        input_size: shape of one sample; its product is the number of input features.
        hidden_sizes: width of each hidden layer (003 uses 512-512-512).
        drop_rate: dropout after each hidden activation (003: 0.1).
        act_layer: activation class or timm name, called as ``act_layer(inplace=True)``.
    """

    def __init__(
        self,
        num_classes: int = 10,
        in_chans: int = 1,
        input_size: Sequence[int] | None = None,
        hidden_sizes: Sequence[int] = (512, 512, 512),
        drop_rate: float = 0.0,
        act_layer: type[nn.Module] | str = nn.ReLU,
    ) -> None:
        super().__init__()
        act = get_act_layer(act_layer)
        in_features = math.prod(input_size) if input_size else in_chans
        layers: list[nn.Module] = [nn.Flatten()]
        for width in hidden_sizes:
            layers += [nn.Linear(in_features, width), act(inplace=True)]
            if drop_rate > 0:
                layers.append(nn.Dropout(drop_rate))
            in_features = width
        self.features = nn.Sequential(*layers)
        self.num_features = in_features
        self.num_classes = num_classes
        self.head = nn.Linear(in_features, num_classes) if num_classes > 0 else nn.Identity()

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        return x if pre_logits else self.head(x)

    def get_classifier(self) -> nn.Module:
        return self.head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


@register_actlab_model
def mlp(pretrained: bool = False, **kwargs) -> MLP:
    """MLP with configurable ``hidden_sizes`` and ``drop_rate`` (no pretrained weights)."""
    return MLP(**drop_timm_kwargs(kwargs))
