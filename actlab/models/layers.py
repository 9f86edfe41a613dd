"""Building blocks shared by the papers' networks: conv-BN-act, a plain net shell and a dry run.

Every net builds its activations with :func:`actlab.activations.activation_layer` (the one
activation factory), so ``act_layer`` is a class, a factory, an actlab spec
(``"cpaf_relu(k=2)"``) or a timm activation name.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn


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
    """``features -> pool -> fc -> classifier`` with timm's ``forward_features``/``forward_head``.

    Args:
        features: the convolutional part.
        pool: parameter-free reduction of the feature map to a flat vector (global pooling or
            flatten, with dropout where the paper has it).
        fc: the hidden fully connected layers with their activations (``nn.Identity()`` where
            there are none); its output (``pre_logits``) has ``num_features`` entries.
        classifier: the output layer (timm's name; the task's ``head`` is the output *mode*).
        num_features: width of ``pre_logits``.
        num_classes: outputs of ``classifier``.
        input_shape: one sample's shape the net was built for (the swap's dry forward reads it).
    """

    def __init__(
        self,
        features: nn.Module,
        pool: nn.Module,
        fc: nn.Module,
        classifier: nn.Module,
        num_features: int,
        num_classes: int,
        input_shape: Sequence[int],
    ) -> None:
        super().__init__()
        self.features = features
        self.pool = pool
        self.fc = fc
        self.classifier = classifier
        self.num_features = num_features
        self.num_classes = num_classes
        self.input_shape = tuple(input_shape)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = self.fc(self.pool(x))
        return x if pre_logits else self.classifier(x)

    def get_classifier(self) -> nn.Module:
        return self.classifier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


def flat_size(features: nn.Module, input_shape: Sequence[int]) -> int:
    """Number of features ``features`` produces for one sample of ``input_shape`` (a dry run)."""
    with torch.no_grad():
        was = features.training
        features.eval()
        out = features(torch.zeros(1, *input_shape))
        features.train(was)
    return out[0].numel()
