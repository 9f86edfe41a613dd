"""003's networks (Agarap 2018): the FFNN and the Keras "VGG-like" CNN, registered with timm as
``agarap_ffnn`` and ``agarap_cnn``."""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from actlab.activations import ActLayer, activation_layer
from actlab.models.layers import PaperNet, flat_size
from actlab.models.mlp import MLP
from actlab.models.registry import drop_timm_kwargs, register_actlab_model


def agarap_cnn_net(
    num_classes: int = 10,
    in_chans: int = 1,
    input_shape: Sequence[int] | None = None,
    padding: int = 0,
    act_layer: ActLayer = nn.ReLU,
) -> PaperNet:
    """Keras' VGG-like example as 003 used it: conv32, conv32, max-pool, dropout 0.25, conv64, conv64,
    max-pool, dropout 0.25, dense 256, dropout 0.5, dense ``num_classes``.

    Args:
        padding: 0 is Keras' ``valid`` (the example's default; 16x16 inputs end at 1x1); 1 keeps
            the size, for inputs smaller than 16x16.
    """
    act = activation_layer(act_layer)
    size = tuple(input_shape) if input_shape else (in_chans, 16, 16)
    layers: list[nn.Module] = []
    ch = size[0]
    for width in (32, 64):
        layers += [nn.Conv2d(ch, width, 3, padding=padding), act(inplace=True)]
        layers += [nn.Conv2d(width, width, 3, padding=padding), act(inplace=True)]
        layers += [nn.MaxPool2d(2), nn.Dropout(0.25)]
        ch = width
    features = nn.Sequential(*layers)
    n_flat = flat_size(features, size)
    fc = nn.Sequential(nn.Linear(n_flat, 256), act(inplace=True), nn.Dropout(0.5))
    return PaperNet(features, nn.Flatten(), fc, nn.Linear(256, num_classes), 256, num_classes, size)


@register_actlab_model
def agarap_cnn(pretrained: bool = False, **kwargs) -> PaperNet:
    """003's CNN (Keras VGG-like example) for 16x16x1 PCA images of MNIST / Fashion-MNIST."""
    return agarap_cnn_net(**drop_timm_kwargs(kwargs))


@register_actlab_model
def agarap_ffnn(pretrained: bool = False, **kwargs) -> MLP:
    """003's FFNN: hidden 512-512-512 with dropout 0.1 (WDBC: ``hidden_sizes=[128, 64, 32]``)."""
    kwargs.setdefault("hidden_sizes", (512, 512, 512))
    kwargs.setdefault("drop_rate", 0.1)
    return MLP(**drop_timm_kwargs(kwargs))
