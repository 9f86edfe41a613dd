"""A small convolutional network for 8x8 to 32x32 inputs, registered with timm as ``small_cnn``."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from actlab.activations import ActLayer, activation_layer
from actlab.models.registry import drop_timm_kwargs, register_actlab_model


class SmallCNN(nn.Module):
    """``[conv3x3 -> BN -> act] x2 -> max-pool`` per stage, global average pool, linear classifier.

    Args:
        num_classes: outputs of the classifier.
        in_chans: input channels when ``input_shape`` is not given.
        input_shape: one sample's shape ``(C, H, W)``; the network is size-agnostic, so only
            ``C`` matters (and the swap's dry forward reads it; default ``(in_chans, 32, 32)``).
        channels: output channels of each stage.
        batch_norm: BN after every convolution.
        drop_rate: dropout before the classifier.
        act_layer: activation class, factory, actlab spec (``"cpaf_relu(k=2)"``) or timm name,
            called as ``act_layer(inplace=True)`` (:func:`actlab.activations.activation_layer`).
    """

    def __init__(
        self,
        num_classes: int = 10,
        in_chans: int = 1,
        input_shape: Sequence[int] | None = None,
        channels: Sequence[int] = (16, 32),
        batch_norm: bool = True,
        drop_rate: float = 0.0,
        act_layer: ActLayer = nn.ReLU,
    ) -> None:
        super().__init__()
        act = activation_layer(act_layer)
        self.input_shape = tuple(input_shape) if input_shape else (in_chans, 32, 32)
        layers: list[nn.Module] = []
        in_ch = self.input_shape[0]
        for out_ch in channels:
            for _ in range(2):
                layers.append(nn.Conv2d(in_ch, out_ch, 3, padding=1, bias=not batch_norm))
                if batch_norm:
                    layers.append(nn.BatchNorm2d(out_ch))
                layers.append(act(inplace=True))
                in_ch = out_ch
            layers.append(nn.MaxPool2d(2, ceil_mode=True))
        self.features = nn.Sequential(*layers)
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.drop = nn.Dropout(drop_rate)
        self.num_features = in_ch
        self.num_classes = num_classes
        self.classifier = nn.Linear(in_ch, num_classes) if num_classes > 0 else nn.Identity()

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = self.drop(self.pool(x))
        return x if pre_logits else self.classifier(x)

    def get_classifier(self) -> nn.Module:
        return self.classifier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


@register_actlab_model
def small_cnn(pretrained: bool = False, **kwargs) -> SmallCNN:
    """Two-stage CNN (16, 32 channels by default) with BN, for digits and MNIST-sized inputs."""
    return SmallCNN(**drop_timm_kwargs(kwargs))
