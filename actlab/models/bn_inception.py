"""BN-Inception (Inception-BN, Ioffe & Szegedy 2015, Fig. 5), one of 000's nets; registered with
timm as ``bn_inception``."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from actlab.activations import ActLayer, activation_layer
from actlab.models.layers import PaperNet, conv_bn_act
from actlab.models.registry import drop_timm_kwargs, register_actlab_model

# name: (#1x1, #3x3 reduce, #3x3, #double 3x3 reduce, #double 3x3, pool, pool proj, stride)
INCEPTION = [
    ("3a", 64, 64, 64, 64, 96, "avg", 32, 1),
    ("3b", 64, 64, 96, 64, 96, "avg", 64, 1),
    ("3c", 0, 128, 160, 64, 96, "max", 0, 2),
    ("4a", 224, 64, 96, 96, 128, "avg", 128, 1),
    ("4b", 192, 96, 128, 96, 128, "avg", 128, 1),
    ("4c", 160, 128, 160, 128, 160, "avg", 128, 1),
    ("4d", 96, 128, 192, 160, 192, "avg", 128, 1),
    ("4e", 0, 128, 192, 192, 256, "max", 0, 2),
    ("5a", 352, 192, 320, 160, 224, "avg", 128, 1),
    ("5b", 352, 192, 320, 192, 224, "max", 128, 1),
]


class InceptionBN(nn.Module):
    """One Inception module with BN: 1x1, 3x3, double 3x3 and pool branches, concatenated."""

    def __init__(
        self, in_ch: int, n1, r3, n3, rd, nd, pool: str, proj: int, stride: int, act, w: float
    ) -> None:
        super().__init__()
        c = lambda n: max(1, int(n * w))  # noqa: E731
        s = nn.Sequential
        self.b1 = s(*conv_bn_act(in_ch, c(n1), act, 1)) if n1 else None
        self.b3 = s(*conv_bn_act(in_ch, c(r3), act, 1), *conv_bn_act(c(r3), c(n3), act, 3, stride))
        self.bd = s(
            *conv_bn_act(in_ch, c(rd), act, 1), *conv_bn_act(c(rd), c(nd), act, 3),
            *conv_bn_act(c(nd), c(nd), act, 3, stride),
        )  # fmt: skip
        pool_layer = (nn.AvgPool2d if pool == "avg" else nn.MaxPool2d)(3, stride, 1)
        self.bp = s(pool_layer, *conv_bn_act(in_ch, c(proj), act, 1)) if proj else pool_layer
        self.out_channels = (c(n1) if n1 else 0) + c(n3) + c(nd) + (c(proj) if proj else in_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outs = [self.b3(x), self.bd(x), self.bp(x)]
        if self.b1 is not None:
            outs.insert(0, self.b1(x))
        return torch.cat(outs, 1)


def bn_inception_net(
    num_classes: int = 27,
    in_chans: int = 3,
    input_shape: Sequence[int] | None = None,
    width: float = 1.0,
    drop_rate: float = 0.0,
    act_layer: ActLayer = nn.ReLU,
) -> PaperNet:
    """BN-Inception: 7x7/2 conv 64, max-pool, 1x1 64, 3x3 192, max-pool, Inception 3a-5b,
    global average pool, fc. Pools use ceil mode, so 32 px inputs also build.

    Args:
        width: channel multiplier (1.0 is the paper's net; smaller for quick tests).
    """
    act = activation_layer(act_layer)
    c = lambda n: max(1, int(n * width))  # noqa: E731
    shape = tuple(input_shape) if input_shape else (in_chans, 224, 224)
    ch = shape[0]
    layers: list[nn.Module] = [
        *conv_bn_act(ch, c(64), act, 7, 2), nn.MaxPool2d(3, 2, ceil_mode=True),
        *conv_bn_act(c(64), c(64), act, 1), *conv_bn_act(c(64), c(192), act, 3),
        nn.MaxPool2d(3, 2, ceil_mode=True),
    ]  # fmt: skip
    ch = c(192)
    for _, *cfg, stride in INCEPTION:
        block = InceptionBN(ch, *cfg, stride, act, width)
        layers.append(block)
        ch = block.out_channels
    pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(drop_rate))
    classifier = nn.Linear(ch, num_classes)
    return PaperNet(nn.Sequential(*layers), pool, nn.Identity(), classifier, ch, num_classes, shape)


@register_actlab_model
def bn_inception(pretrained: bool = False, **kwargs) -> PaperNet:
    """BN-Inception (000) from Ioffe & Szegedy (2015) Fig. 5."""
    return bn_inception_net(**drop_timm_kwargs(kwargs))
