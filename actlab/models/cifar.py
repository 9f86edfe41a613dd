"""001's CIFAR networks (Tables 1-2): VGG16 with BN and dropout, and ResNet18 with a CIFAR stem.

Registered with timm as ``cifar_vgg16`` and ``cifar_resnet18``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from actlab.activations import ActLayer, activation_layer
from actlab.models.layers import PaperNet, conv_bn_act, flat_size
from actlab.models.registry import drop_timm_kwargs, register_actlab_model


def cifar_vgg16_net(
    num_classes: int = 10,
    in_chans: int = 3,
    input_shape: Sequence[int] | None = None,
    last_stage_convs: int = 3,
    conv_drop_rate: float = 0.4,
    drop_rate: float = 0.5,
    width: float = 1.0,
    act_layer: ActLayer = nn.ReLU,
) -> PaperNet:
    """VGG16 of 001 Table 1: conv3x3 64x2, 128x2, 256x3, 512x3, 512x(2 or 3), a max-pool after each
    stage, BN after every conv, dropout 0.4 between the convs of a stage and 0.5 after the last pool.

    Args:
        last_stage_convs: 2 or 3 convs in the last stage (001 prints "2 or 3").
        width: channel multiplier (1.0 is the paper's net; smaller for quick tests).
    """
    act = activation_layer(act_layer)
    size = tuple(input_shape) if input_shape else (in_chans, 32, 32)
    stages = [(64, 2), (128, 2), (256, 3), (512, 3), (512, last_stage_convs)]
    layers: list[nn.Module] = []
    ch = size[0]
    for out, n in stages:
        out = max(1, int(out * width))
        for i in range(n):
            layers += conv_bn_act(ch, out, act)
            if i < n - 1 and conv_drop_rate > 0:
                layers.append(nn.Dropout(conv_drop_rate))
            ch = out
        layers.append(nn.MaxPool2d(2, ceil_mode=True))
    features = nn.Sequential(*layers)
    n_flat = flat_size(features, size)
    pool = nn.Sequential(nn.Dropout(drop_rate), nn.Flatten())
    classifier = nn.Linear(n_flat, num_classes)
    return PaperNet(features, pool, nn.Identity(), classifier, n_flat, num_classes, size)


class BasicBlock(nn.Module):
    """``conv3x3-BN-act-conv3x3-BN`` plus the (projected) shortcut, then act (He et al. 2016)."""

    def __init__(self, in_ch: int, out_ch: int, stride: int, act) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_ch)
        self.act1 = act(inplace=True)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_ch)
        self.shortcut = (
            nn.Sequential(nn.Conv2d(in_ch, out_ch, 1, stride, bias=False), nn.BatchNorm2d(out_ch))
            if stride != 1 or in_ch != out_ch
            else nn.Identity()
        )
        self.act2 = act(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn2(self.conv2(self.act1(self.bn1(self.conv1(x)))))
        return self.act2(out + self.shortcut(x))


def cifar_resnet18_net(
    num_classes: int = 10,
    in_chans: int = 3,
    input_shape: Sequence[int] | None = None,
    widths: Sequence[int] = (64, 128, 256, 512),
    act_layer: ActLayer = nn.ReLU,
) -> PaperNet:
    """ResNet18 of 001 Table 2: conv3x3 64 stem (no max-pool), four stages of two basic blocks
    (64, 128, 256, 512; stride 2 from the second), BN after every conv, global average pool, fc."""
    act = activation_layer(act_layer)
    shape = tuple(input_shape) if input_shape else (in_chans, 32, 32)
    ch = shape[0]
    layers: list[nn.Module] = conv_bn_act(ch, widths[0], act)
    ch = widths[0]
    for i, width in enumerate(widths):
        for j in range(2):
            layers.append(BasicBlock(ch, width, 2 if (i > 0 and j == 0) else 1, act))
            ch = width
    pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
    classifier = nn.Linear(ch, num_classes)
    return PaperNet(nn.Sequential(*layers), pool, nn.Identity(), classifier, ch, num_classes, shape)


@register_actlab_model
def cifar_vgg16(pretrained: bool = False, **kwargs) -> PaperNet:
    """001's VGG16 for CIFAR (BN, dropout 0.4 between convs, 0.5 after the last pool)."""
    return cifar_vgg16_net(**drop_timm_kwargs(kwargs))


@register_actlab_model
def cifar_resnet18(pretrained: bool = False, **kwargs) -> PaperNet:
    """001's ResNet18 for CIFAR (3x3 stem, no max-pool, no dropout)."""
    return cifar_resnet18_net(**drop_timm_kwargs(kwargs))
