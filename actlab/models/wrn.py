"""Wide ResNet (Zagoruyko & Komodakis 2016), 000's WRN-28-10; registered with timm as ``wrn28_10``."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from actlab.activations import ActLayer, activation_layer
from actlab.models.layers import PaperNet
from actlab.models.registry import drop_timm_kwargs, register_actlab_model


class WideBlock(nn.Module):
    """Pre-activation block: ``BN-act-conv3x3-[dropout]-BN-act-conv3x3`` + shortcut."""

    def __init__(self, in_ch: int, out_ch: int, stride: int, drop_rate: float, act) -> None:
        super().__init__()
        self.bn1, self.act1 = nn.BatchNorm2d(in_ch), act(inplace=True)
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, stride, 1, bias=False)
        self.bn2, self.act2 = nn.BatchNorm2d(out_ch), act(inplace=True)
        self.drop = nn.Dropout(drop_rate)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, 1, 1, bias=False)
        self.shortcut = (
            nn.Conv2d(in_ch, out_ch, 1, stride, bias=False)
            if stride != 1 or in_ch != out_ch
            else None
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        o = self.act1(self.bn1(x))
        y = self.conv2(self.drop(self.act2(self.bn2(self.conv1(o)))))
        return y + (self.shortcut(o) if self.shortcut is not None else x)


def wide_resnet_net(
    num_classes: int = 10,
    in_chans: int = 3,
    input_shape: Sequence[int] | None = None,
    depth: int = 28,
    widen_factor: int = 10,
    drop_rate: float = 0.0,
    act_layer: ActLayer = nn.ReLU,
) -> PaperNet:
    """WRN-``depth``-``widen_factor``: 3x3 conv 16, three groups of (depth-4)/6 wide blocks of
    16k, 32k, 64k channels (stride 1, 2, 2), BN-act, global average pool, fc."""
    if (depth - 4) % 6:
        raise ValueError(f"WRN depth must be 6n+4 (10, 16, 22, 28, 40), got {depth}")
    act = activation_layer(act_layer)
    n = (depth - 4) // 6
    shape = tuple(input_shape) if input_shape else (in_chans, 32, 32)
    ch = shape[0]
    layers: list[nn.Module] = [nn.Conv2d(ch, 16, 3, 1, 1, bias=False)]
    ch = 16
    for i, base in enumerate((16, 32, 64)):
        for j in range(n):
            out = base * widen_factor
            layers.append(WideBlock(ch, out, 2 if (i > 0 and j == 0) else 1, drop_rate, act))
            ch = out
    layers += [nn.BatchNorm2d(ch), act(inplace=True)]
    pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
    classifier = nn.Linear(ch, num_classes)
    return PaperNet(nn.Sequential(*layers), pool, nn.Identity(), classifier, ch, num_classes, shape)


@register_actlab_model
def wrn28_10(pretrained: bool = False, **kwargs) -> PaperNet:
    """WRN-28-10 (000); ``depth`` and ``widen_factor`` override for smaller variants."""
    return wide_resnet_net(**drop_timm_kwargs(kwargs))
