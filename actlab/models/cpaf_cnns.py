"""004's networks (CPAF paper): the 2-D feature CNN (§4.1), the Fashion-MNIST CNN (§4.2) and the
CIFAR Structures 1-3 (§4.3). Registered with timm as ``cpaf_feature_cnn``, ``cpaf_fashion_cnn``,
``cpaf_structure1``, ``cpaf_structure2`` and ``cpaf_structure3``.

Where 004 is silent (kernel sizes, pooling of §4.1-4.2, dropout rates of §4.3) we read: 3x3 convs
with padding 1, each followed by its activation and a 2x2 max-pool; dropout 0.25 after conv
blocks and 0.5 after FC layers (the Keras CIFAR example 004's structures follow).
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from actlab.activations import ActLayer, activation_layer
from actlab.models.layers import PaperNet, conv_bn_act, flat_size
from actlab.models.registry import drop_timm_kwargs, register_actlab_model


def _conv_pool_stack(
    in_ch: int,
    channels: Sequence[int],
    act,
    padding: int = 1,
    ceil_mode: bool = True,
    pools: int | None = None,
) -> list[nn.Module]:
    layers: list[nn.Module] = []
    for i, out in enumerate(channels):
        layers += conv_bn_act(in_ch, out, act, padding=padding, bn=False)
        if pools is None or i < pools:
            layers.append(nn.MaxPool2d(2, ceil_mode=ceil_mode))
        in_ch = out
    return layers


def cpaf_feature_cnn_net(
    num_classes: int = 10,
    in_chans: int = 1,
    input_shape: Sequence[int] | None = None,
    channels: Sequence[int] = (16, 8, 4, 2),
    act_layer: ActLayer = nn.ReLU,
) -> PaperNet:
    """004 §4.1: conv layers with 16, 8, 4, 2 filters whose output, averaged over space, is the
    2-D feature ``[z1, z2]`` (``forward_head(..., pre_logits=True)``); the FC part is linear only."""
    act = activation_layer(act_layer)
    shape = tuple(input_shape) if input_shape else (in_chans, 28, 28)
    features = nn.Sequential(*_conv_pool_stack(shape[0], channels, act))
    pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
    classifier = nn.Linear(channels[-1], num_classes)
    return PaperNet(features, pool, nn.Identity(), classifier, channels[-1], num_classes, shape)


def cpaf_fashion_cnn_net(
    num_classes: int = 10,
    in_chans: int = 1,
    input_shape: Sequence[int] | None = None,
    channels: Sequence[int] = (16, 32, 4),
    hidden: int = 30,
    act_layer: ActLayer = nn.ReLU,
    conv_act_layer: ActLayer | None = None,
    fc_act_layer: ActLayer | None = None,
    padding: int = 1,
    ceil_mode: bool = True,
    pools: int | None = None,
) -> PaperNet:
    """004 §4.2 (and 002's agile CNN with 16, 8, 4): conv layers, then one hidden FC layer of
    ``hidden`` nodes with its own activation, then the output layer.

    Args:
        conv_act_layer: activation of the conv layers (default ``act_layer``); 002 varies it
            separately from ``fc_act_layer``, the FC layer's.
        padding: of the 3x3 convs: 1 keeps the size (19,042 activation sites on 28x28), 0 is
            Keras' ``valid`` and 004 eq. 5's "padding 0" (with ``ceil_mode=False`` and
            ``pools=2``: 14,754 sites, the nearest reading to the 14,790 of 004 Fig. 14).
        ceil_mode: the 2x2 max-pools round odd sizes up (true) or down (Keras' default).
        pools: a 2x2 max-pool follows each of the first ``pools`` convs (default: every conv).
    """
    conv_act = activation_layer(conv_act_layer if conv_act_layer is not None else act_layer)
    fc_act = activation_layer(fc_act_layer if fc_act_layer is not None else act_layer)
    size = tuple(input_shape) if input_shape else (in_chans, 28, 28)
    features = nn.Sequential(
        *_conv_pool_stack(size[0], channels, conv_act, padding, ceil_mode, pools)
    )
    n_flat = flat_size(features, size)
    fc = nn.Sequential(nn.Linear(n_flat, hidden), fc_act(inplace=True))
    classifier = nn.Linear(hidden, num_classes)
    return PaperNet(features, nn.Flatten(), fc, classifier, hidden, num_classes, size)


def cpaf_structure_net(
    structure: int,
    num_classes: int = 10,
    in_chans: int = 3,
    input_shape: Sequence[int] | None = None,
    conv_drop_rate: float = 0.25,
    drop_rate: float = 0.5,
    act_layer: ActLayer = nn.ReLU,
) -> PaperNet:
    """004 §4.3 Structures 1-3.

    1: [conv32 BN]x2, pool, dropout, [conv64 BN]x2, pool, dropout, [conv128 BN]x2, pool, dropout,
       flatten (2048 for 32x32), output layer.
    2: conv32x2, pool, dropout, conv64x2, pool, dropout, conv64x2, pool, dropout, flatten (1024),
       FC512, dropout, FC512, dropout, output layer; no BN.
    3: Structure 2 with BN after every conv.
    """
    if structure not in (1, 2, 3):
        raise ValueError(f"structure must be 1, 2 or 3, got {structure}")
    act = activation_layer(act_layer)
    size = tuple(input_shape) if input_shape else (in_chans, 32, 32)
    widths = (32, 64, 128) if structure == 1 else (32, 64, 64)
    bn = structure in (1, 3)
    layers: list[nn.Module] = []
    ch = size[0]
    for width in widths:
        layers += conv_bn_act(ch, width, act, bn=bn) + conv_bn_act(width, width, act, bn=bn)
        layers += [nn.MaxPool2d(2, ceil_mode=True), nn.Dropout(conv_drop_rate)]
        ch = width
    features = nn.Sequential(*layers)
    n_flat = flat_size(features, size)
    if structure == 1:
        fc: nn.Module = nn.Identity()
        n_out = n_flat
    else:
        fc = nn.Sequential(
            nn.Linear(n_flat, 512), act(inplace=True), nn.Dropout(drop_rate),
            nn.Linear(512, 512), act(inplace=True), nn.Dropout(drop_rate),
        )  # fmt: skip
        n_out = 512
    classifier = nn.Linear(n_out, num_classes)
    return PaperNet(features, nn.Flatten(), fc, classifier, n_out, num_classes, size)


@register_actlab_model
def cpaf_feature_cnn(pretrained: bool = False, **kwargs) -> PaperNet:
    """004 §4.1: 16-8-4-2 conv net with a 2-D feature output and a linear classifier."""
    return cpaf_feature_cnn_net(**drop_timm_kwargs(kwargs))


@register_actlab_model
def cpaf_fashion_cnn(pretrained: bool = False, **kwargs) -> PaperNet:
    """004 §4.2: 16-32-4 conv net + FC30."""
    return cpaf_fashion_cnn_net(**drop_timm_kwargs(kwargs))


@register_actlab_model
def agile_cnn(pretrained: bool = False, **kwargs) -> PaperNet:
    """002: 16-8-4 conv net + FC30 (batch 100 on 5,000 MNIST images)."""
    kwargs.setdefault("channels", (16, 8, 4))
    return cpaf_fashion_cnn_net(**drop_timm_kwargs(kwargs))


@register_actlab_model
def cpaf_structure1(pretrained: bool = False, **kwargs) -> PaperNet:
    """004 §4.3 Structure 1: [conv32 BN]x2 / [conv64 BN]x2 / [conv128 BN]x2, flatten, softmax."""
    return cpaf_structure_net(1, **drop_timm_kwargs(kwargs))


@register_actlab_model
def cpaf_structure2(pretrained: bool = False, **kwargs) -> PaperNet:
    """004 §4.3 Structure 2: conv32x2 / conv64x2 / conv64x2, FC512x2, no BN."""
    return cpaf_structure_net(2, **drop_timm_kwargs(kwargs))


@register_actlab_model
def cpaf_structure3(pretrained: bool = False, **kwargs) -> PaperNet:
    """004 §4.3 Structure 3: Structure 2 with BN after every conv."""
    return cpaf_structure_net(3, **drop_timm_kwargs(kwargs))
