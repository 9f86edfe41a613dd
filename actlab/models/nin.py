"""Network in Network (Lin et al. 2014), one of 000's nets; registered with timm as ``nin``."""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from actlab.activations import ActLayer, activation_layer
from actlab.models.layers import PaperNet
from actlab.models.registry import drop_timm_kwargs, register_actlab_model

# (kernel, stride, padding, [out channels of the conv and its two 1x1 convs]) per mlpconv block.
IMAGENET_BLOCKS = [
    (11, 4, 0, (96, 96, 96)),
    (5, 1, 2, (256, 256, 256)),
    (3, 1, 1, (384, 384, 384)),
    (3, 1, 1, (1024, 1024)),
]
CIFAR_BLOCKS = [(5, 1, 2, (192, 160, 96)), (5, 1, 2, (192, 192, 192)), (3, 1, 1, (192, 192))]


def nin_net(
    num_classes: int = 27,
    in_chans: int = 3,
    input_shape: Sequence[int] | None = None,
    variant: str | None = None,
    width: float = 1.0,
    drop_rate: float = 0.5,
    act_layer: ActLayer = nn.ReLU,
) -> PaperNet:
    """NIN: mlpconv blocks (a conv and 1x1 convs, each with its activation), max-pools and dropout
    between them, a last 1x1 conv to ``num_classes`` and global average pooling (the Caffe model
    zoo's ImageNet NIN that 000 trained on 256x256 insect images).

    Args:
        variant: ``imagenet`` (11x11/4 stem, for 224-256 px) or ``cifar`` (5x5 stem, for 32 px);
            by default ``imagenet`` for inputs of 64 px or more.
        width: channel multiplier (for quick tests).
    """
    act = activation_layer(act_layer)
    size = tuple(input_shape) if input_shape else (in_chans, 224, 224)
    variant = variant or ("imagenet" if min(size[1:]) >= 64 else "cifar")
    blocks = IMAGENET_BLOCKS if variant == "imagenet" else CIFAR_BLOCKS
    layers: list[nn.Module] = []
    ch = size[0]
    for i, (k, s, p, outs) in enumerate(blocks):
        for j, out in enumerate(outs):
            out = max(1, int(out * width))
            layers += [
                nn.Conv2d(ch, out, k if j == 0 else 1, s if j == 0 else 1, p if j == 0 else 0),
                act(inplace=True),
            ]
            ch = out
        if i < len(blocks) - 1:
            layers.append(nn.MaxPool2d(3, 2, ceil_mode=True))
            if variant == "cifar" or i == len(blocks) - 2:
                layers.append(nn.Dropout(drop_rate))
    layers += [nn.Conv2d(ch, num_classes, 1)]
    pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
    features = nn.Sequential(*layers)
    return PaperNet(features, pool, nn.Identity(), nn.Identity(), num_classes, num_classes, size)


@register_actlab_model
def nin(pretrained: bool = False, **kwargs) -> PaperNet:
    """Network in Network (000); ImageNet form for large inputs, CIFAR form for 32 px."""
    return nin_net(**drop_timm_kwargs(kwargs))
