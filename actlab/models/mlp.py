"""A plain multilayer perceptron (003's FFNN), registered with timm as ``mlp``."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from actlab.activations import ActLayer, activation_layer
from actlab.models.registry import drop_timm_kwargs, register_actlab_model


class MLP(nn.Module):
    """Flatten, then ``Linear -> activation -> Dropout`` per hidden layer, then a linear classifier.

    Each hidden layer gets its own activation module, so activation swaps with per-feature
    parameters have one well-defined site per layer.

    Args:
        num_classes: outputs of the classifier (0 for none: ``forward`` returns features).
        in_chans: input features when ``input_shape`` is not given.
        input_shape: shape of one sample; its product is the number of input features.
        hidden_sizes: width of each hidden layer (003 uses 512-512-512).
        drop_rate: dropout after each hidden activation (003: 0.1).
        act_layer: activation class, factory, actlab spec (``"cpaf_relu(k=2)"``) or timm name,
            called as ``act_layer(inplace=True)`` (:func:`actlab.activations.activation_layer`).
    """

    def __init__(
        self,
        num_classes: int = 10,
        in_chans: int = 1,
        input_shape: Sequence[int] | None = None,
        hidden_sizes: Sequence[int] = (512, 512, 512),
        drop_rate: float = 0.0,
        act_layer: ActLayer = nn.ReLU,
    ) -> None:
        super().__init__()
        act = activation_layer(act_layer)
        self.input_shape = tuple(input_shape) if input_shape else (in_chans,)
        in_features = math.prod(self.input_shape)
        layers: list[nn.Module] = [nn.Flatten()]
        for width in hidden_sizes:
            layers += [nn.Linear(in_features, width), act(inplace=True)]
            if drop_rate > 0:
                layers.append(nn.Dropout(drop_rate))
            in_features = width
        self.features = nn.Sequential(*layers)
        self.num_features = in_features
        self.num_classes = num_classes
        self.classifier = nn.Linear(in_features, num_classes) if num_classes > 0 else nn.Identity()

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        return x if pre_logits else self.classifier(x)

    def get_classifier(self) -> nn.Module:
        return self.classifier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


@register_actlab_model
def mlp(pretrained: bool = False, **kwargs) -> MLP:
    """MLP with configurable ``hidden_sizes`` and ``drop_rate`` (no pretrained weights)."""
    return MLP(**drop_timm_kwargs(kwargs))
