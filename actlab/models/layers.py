"""Building blocks shared by the papers' networks: activation factories and a plain net shell."""

from __future__ import annotations

from collections.abc import Callable

import torch
from timm.layers import get_act_layer
from torch import nn

ActLayer = type[nn.Module] | str | Callable[..., nn.Module]


def act_factory(act_layer: ActLayer) -> Callable[..., nn.Module]:
    """A callable building a fresh activation module per call (``act(inplace=True)``).

    ``act_layer`` is a class, a factory, an actlab spec (``"cpaf_relu(k=2)"``) or a timm name.
    """
    if isinstance(act_layer, str):
        from actlab.activations import ACTIVATIONS, activation_layer, parse_spec

        name, _ = parse_spec(act_layer)
        if name in ACTIVATIONS:
            return activation_layer(act_layer)
        return get_act_layer(act_layer)
    return act_layer


def conv_bn_act(
    in_ch: int, out_ch: int, act: Callable[..., nn.Module], kernel: int = 3, stride: int = 1,
    padding: int | None = None, bn: bool = True,
) -> list[nn.Module]:  # fmt: skip
    """``conv -> [BN] -> act`` as a list of modules (one fresh activation)."""
    pad = kernel // 2 if padding is None else padding
    layers: list[nn.Module] = [nn.Conv2d(in_ch, out_ch, kernel, stride, pad, bias=not bn)]
    if bn:
        layers.append(nn.BatchNorm2d(out_ch))
    layers.append(act(inplace=True))
    return layers


class PaperNet(nn.Module):
    """``features -> pool -> head`` with timm's ``forward_features``/``forward_head`` interface.

    ``pool`` maps the feature map to a flat vector of ``num_features``; ``head`` is the
    classifier (everything after ``pre_logits``).
    """

    def __init__(
        self,
        features: nn.Module,
        pool: nn.Module,
        head: nn.Module,
        num_features: int,
        num_classes: int,
    ) -> None:
        super().__init__()
        self.features = features
        self.pool = pool
        self.head = head
        self.num_features = num_features
        self.num_classes = num_classes

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = self.pool(x)
        return x if pre_logits else self.head(x)

    def get_classifier(self) -> nn.Module:
        return self.head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


def flat_size(features: nn.Module, input_size: tuple[int, ...]) -> int:
    """Number of features ``features`` produces for one sample of ``input_size`` (a dry run)."""
    with torch.no_grad():
        was = features.training
        features.eval()
        out = features(torch.zeros(1, *input_size))
        features.train(was)
    return out[0].numel()
