"""Fixed (parameter-free) activations as registered modules: relu, lrelu, rrelu, elu, ...

Every class takes ``inplace`` first, as timm calls ``act_layer(inplace=True)``; it is accepted and
ignored (outputs are always new tensors), because a swapped-in module cannot know whether the site
it replaces may overwrite its input.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from actlab.activations import functional as AF
from actlab.activations.registry import canonical_spec, register_activation


class Activation(nn.Module):
    """Base of actlab's activation modules: a registry name and a canonical spec string."""

    activation_name: str = ""
    trainable: bool = False

    def _record_spec(self, **kwargs: Any) -> None:
        self.spec = canonical_spec(self.activation_name, kwargs)

    def extra_repr(self) -> str:
        return getattr(self, "spec", self.activation_name)


@register_activation("relu")
class ReLU(Activation):
    """``max(0, x)``."""

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self._record_spec()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(x)


@register_activation("lrelu")
class LeakyReLU(Activation):
    """``x if x > 0 else negative_slope * x`` (000 uses 0.1)."""

    def __init__(self, inplace: bool = False, negative_slope: float = 0.01) -> None:
        super().__init__()
        self.negative_slope = float(negative_slope)
        self._record_spec(negative_slope=negative_slope)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.leaky_relu(x, self.negative_slope)


@register_activation("rrelu")
class RReLU(Activation):
    """Randomized leaky ReLU, paper form (Xu et al. 2015; 000): slope ``1/lambda``.

    ``lambda ~ U(lower, upper)`` per element in training, ``(lower + upper) / 2`` in evaluation.
    """

    def __init__(self, inplace: bool = False, lower: float = 3.0, upper: float = 8.0) -> None:
        super().__init__()
        if not 0 < lower <= upper:
            raise ValueError(f"rrelu needs 0 < lower <= upper, got lower={lower}, upper={upper}")
        self.lower, self.upper = float(lower), float(upper)
        self._record_spec(lower=lower, upper=upper)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return AF.rrelu_paper(x, self.lower, self.upper, self.training)


@register_activation("rrelu_torch")
class RReLUTorch(Activation):
    """torch's RReLU: slope ``~ U(lower, upper)`` in training, ``(lower + upper) / 2`` in eval."""

    def __init__(self, inplace: bool = False, lower: float = 1 / 8, upper: float = 1 / 3) -> None:
        super().__init__()
        self.lower, self.upper = float(lower), float(upper)
        self._record_spec(lower=lower, upper=upper)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.rrelu(x, self.lower, self.upper, self.training)


@register_activation("elu")
class ELU(Activation):
    """``x if x > 0 else alpha * (exp(x) - 1)`` (Clevert et al. 2016; alpha = 1)."""

    def __init__(self, inplace: bool = False, alpha: float = 1.0) -> None:
        super().__init__()
        self.alpha = float(alpha)
        self._record_spec(alpha=alpha)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.elu(x, self.alpha)


def _simple(name: str, fn, doc: str) -> type[Activation]:
    def __init__(self, inplace: bool = False) -> None:
        Activation.__init__(self)
        self._record_spec()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return fn(x)

    cls = type(
        name.capitalize(), (Activation,), {"__init__": __init__, "forward": forward, "__doc__": doc}
    )
    cls.__module__ = __name__
    cls.__qualname__ = cls.__name__
    return register_activation(name)(cls)


Sigmoid = _simple("sigmoid", torch.sigmoid, "``1 / (1 + exp(-x))``.")
Tanh = _simple("tanh", torch.tanh, "``tanh(x)``.")
GELU = _simple("gelu", F.gelu, "Gaussian error linear unit (exact erf form).")
SiLU = _simple("silu", F.silu, "``x * sigmoid(x)`` (swish).")
Mish = _simple("mish", F.mish, "``x * tanh(softplus(x))``.")
Identity = _simple("identity", lambda x: x, "``x`` (no activation).")
