"""Trainable activations: PReLU and the (a, b) families (agile, PA, CPAF) with three granularities.

Granularity says how many parameter sets a site learns:

- ``layer``: one set for the whole site; parameters shaped ``(k,)``.
- ``channel``: one set per channel of dim 1 (per feature for 2-D input); ``(k, C)``.
- ``element``: one set per position of one sample, ``(k, C, H, W)`` for images and ``(k, F)`` for
  features (002 and 004 §4.1-4.2).

``backend`` says how the math runs: ``reference`` (the pure function of
:mod:`actlab.activations.functional` under :func:`~actlab.activations.functional.recompute`, the
oracle), ``fused`` (one custom op with a closed-form backward: Triton kernels on CUDA, closed-form
torch code on CPU; see :mod:`actlab.activations.fused`) or ``auto`` (the faster one for the input's
device). It changes neither the parameters nor the result beyond rounding, so it is left out of
the canonical spec when ``auto``.

``channel`` and ``element`` parameters are created from the first input's shape (lazily); loading
a state dict into an unmaterialised module creates them with the stored shapes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal

import torch
from torch import nn

from actlab.activations import functional as AF
from actlab.activations import fused
from actlab.activations.fixed import Activation
from actlab.activations.fused import Backend, check
from actlab.activations.registry import register_activation

Granularity = Literal["layer", "channel", "element"]
GRANULARITIES = ("layer", "channel", "element")


def _site_shape(shape: Sequence[int], granularity: str) -> tuple[int, ...]:
    """The site of an input shaped ``shape``: ``()``, ``(C,)`` or ``shape[1:]``."""
    if granularity == "layer":
        return ()
    if len(shape) < 2:
        raise ValueError(
            f"{granularity}-wise parameters need input with a batch dim, got {tuple(shape)}"
        )
    return (shape[1],) if granularity == "channel" else tuple(shape[1:])


def _reference(
    fn: Callable[..., torch.Tensor], x: torch.Tensor, *params: torch.Tensor
) -> torch.Tensor:
    """The reference: ``fn`` under :func:`~actlab.activations.functional.recompute` (saves only
    ``x`` and the parameters); inside a ``torch.compile`` trace the plain formula, whose saved
    tensors inductor chooses itself (dynamo cannot trace the recompute's ``autograd.grad``)."""
    if torch.compiler.is_compiling():
        return fn(x, *params)
    return AF.recompute(fn, x, *params)


class _SiteParameters(Activation):
    """Shared machinery: parameters shaped ``(*lead, *site)``, created lazily for channel/element."""

    trainable = True
    #: names of the parameters and how each is initialised: name -> tensor of shape ``lead``.
    _inits: dict[str, torch.Tensor]

    def _setup(self, granularity: str, inits: dict[str, torch.Tensor]) -> None:
        if granularity not in GRANULARITIES:
            raise ValueError(
                f"granularity must be one of {', '.join(GRANULARITIES)}; got {granularity!r}"
            )
        self.granularity = granularity
        self._inits = inits
        for name, init in inits.items():
            self.register_buffer(f"_{name}_init", init.clone(), persistent=False)
            if granularity == "layer":
                self.register_parameter(name, nn.Parameter(init.clone()))
            else:
                self.register_parameter(name, None)

    @property
    def site_dependent(self) -> bool:
        """Whether the parameters depend on the site's shape (channel or element granularity)."""
        return self.granularity != "layer"

    @property
    def materialized(self) -> bool:
        return all(getattr(self, n) is not None for n in self._inits)

    def _materialize(self, site: tuple[int, ...], device=None, dtype=None) -> None:
        for name in self._inits:
            init = getattr(self, f"_{name}_init")
            value = init.reshape(*init.shape, *([1] * len(site))).expand(*init.shape, *site)
            value = value.to(device=device, dtype=dtype or init.dtype).clone()
            self.register_parameter(name, nn.Parameter(value))

    def materialize(
        self,
        input_shape: Sequence[int],
        device: torch.device | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        """Create channel/element parameters for inputs shaped ``input_shape`` (batch dim
        first), as the first forward would; a no-op when they exist (the swap uses this with the
        shapes its dry forward saw, instead of a second forward)."""
        if not self.materialized:
            self._materialize(_site_shape(input_shape, self.granularity), device, dtype)

    def _prepare(self, x: torch.Tensor) -> None:
        """Create lazy parameters from ``x``'s shape, or check that they were made for it."""
        if not self.materialized:
            self._materialize(_site_shape(x.shape, self.granularity), x.device, x.dtype)
        site = _site_shape(x.shape, self.granularity)
        for name, init in self._inits.items():
            p = getattr(self, name)
            if tuple(p.shape[init.dim() :]) != site:
                msg = (
                    f"{self.spec}: parameters {name} of shape {tuple(p.shape)} were made for site "
                    f"{tuple(p.shape[init.dim() :])}, but this input gives site {site} "
                    f"(input {tuple(x.shape)}); one {self.granularity}-wise module cannot serve "
                    "inputs of different shapes"
                )
                raise ValueError(msg)

    def _use_fused(self, x: torch.Tensor, k: int) -> bool:
        """Whether this call runs the fused kernels: ``backend`` resolved for ``x``'s device and,
        for the fused path, the once-per-case self-check of :mod:`.fused.check` passed."""
        if fused.resolve_backend(self.backend, x) != "fused":
            return False
        case = check.case_of(self.activation_name, k, self.granularity, x)
        params = [getattr(self, n) for n in self._inits]
        explicit = self.backend == "fused"
        return check.trust_fused(case, explicit, self._fused, self._reference, x, params)

    def _load_from_state_dict(
        self, state_dict, prefix, local_metadata, strict, missing, unexpected, errors
    ):
        for name, init in self._inits.items():
            key = prefix + name
            if getattr(self, name) is None and key in state_dict:
                stored = state_dict[key]
                self._materialize(tuple(stored.shape[init.dim() :]), stored.device, stored.dtype)
        super()._load_from_state_dict(
            state_dict, prefix, local_metadata, strict, missing, unexpected, errors
        )

    def extra_repr(self) -> str:
        shapes = ", ".join(
            f"{n}={tuple(getattr(self, n).shape) if getattr(self, n) is not None else 'lazy'}"
            for n in self._inits
        )
        return f"{self.spec}, {shapes}"


def _as_vector(
    value: float | Sequence[float] | None, k: int, default: Sequence[float], what: str
) -> torch.Tensor:
    if value is None:
        value = default
    if isinstance(value, (int, float)):
        value = [float(value)] * k
    vec = torch.tensor([float(v) for v in value], dtype=torch.get_default_dtype())
    if vec.numel() != k:
        raise ValueError(f"{what} needs {k} value(s) (one per term, k={k}); got {list(value)}")
    return vec


class ABActivation(_SiteParameters):
    """``fn(x, a, b)`` with ``a``, ``b`` shaped ``(k, *site)``; subclasses set ``fn`` and defaults.

    Args:
        inplace: accepted for timm's ``act_layer(inplace=True)``; ignored.
        k: number of terms (CPAF; 1 for agile and PA).
        granularity: ``layer``, ``channel`` or ``element`` (see the module docstring).
        a_init: initial ``a`` (one value, or k values); ``None`` for the family's default.
        b_init: initial ``b`` likewise.
        backend: ``auto``, ``reference`` or ``fused`` (see the module docstring).
    """

    fn: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]
    #: the family as the fused op sees it: ``fn = sum_i a_i (base(x - b_i) - offset)``.
    base: str
    offset: float

    def default_init(self, k: int) -> tuple[list[float], list[float]]:
        raise NotImplementedError

    def __init__(
        self,
        inplace: bool = False,
        k: int = 1,
        granularity: Granularity = "channel",
        a_init: float | Sequence[float] | None = None,
        b_init: float | Sequence[float] | None = None,
        backend: Backend = "auto",
    ) -> None:
        super().__init__()
        self.backend = fused.check_backend(backend)
        if not isinstance(k, int) or k < 1:
            raise ValueError(f"k must be an integer >= 1, got {k!r}")
        self.k = k
        a_default, b_default = self.default_init(k)
        a = _as_vector(a_init, k, a_default, "a_init")
        b = _as_vector(b_init, k, b_default, "b_init")
        self._setup(granularity, {"a": a, "b": b})
        self._record_spec(
            k=k, granularity=granularity, a_init=a_init, b_init=b_init, backend=backend
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._prepare(x)
        if self._use_fused(x, self.k):
            return self._fused(x, self.a, self.b)
        return self._reference(x, self.a, self.b)

    def _fused(self, x: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return fused.ab_apply(x, a, b, self.base, self.offset)

    def _reference(self, x: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return _reference(type(self).fn, x, AF.site_view(a, 1, x), AF.site_view(b, 1, x))


class _SingleTerm(ABActivation):
    """Agile and PA activations: k = 1 (not an argument)."""

    def __init__(
        self,
        inplace: bool = False,
        granularity: Granularity = "channel",
        a_init: float | None = None,
        b_init: float | None = None,
        backend: Backend = "auto",
    ) -> None:
        super().__init__(inplace, 1, granularity, a_init, b_init, backend)


@register_activation("agile_sigmoid")
class AgileSigmoid(_SingleTerm):
    """``a * sigmoid(x - b)`` (002), init a = 1, b = 0."""

    fn = staticmethod(AF.agile_sigmoid)
    base, offset = "sigmoid", 0.0

    def default_init(self, k: int):
        return [1.0], [0.0]


@register_activation("agile_relu")
class AgileReLU(_SingleTerm):
    """``a * relu(x - b)`` (002), init a = 1, b = 0."""

    fn = staticmethod(AF.agile_relu)
    base, offset = "relu", 0.0

    def default_init(self, k: int):
        return [1.0], [0.0]


@register_activation("pa_sigmoid")
class PASigmoid(_SingleTerm):
    """``a / (1 + exp(-(x - b))) - a / 2`` (004 eq. 2), init a = 4, b = 0 (004 Fig. 3)."""

    fn = staticmethod(AF.pa_sigmoid)
    base, offset = "sigmoid", 0.5

    def default_init(self, k: int):
        return [4.0], [0.0]


@register_activation("pa_relu")
class PAReLU(_SingleTerm):
    """``a (x - b) - a / 2`` for ``x > b`` else ``-a / 2`` (004 eq. 3), init a = 1, b = 0."""

    fn = staticmethod(AF.pa_relu)
    base, offset = "relu", 0.5

    def default_init(self, k: int):
        return [1.0], [0.0]


def _spread(k: int, edge: float) -> list[float]:
    """k shifts evenly from ``edge`` to ``-edge`` (k = 2 gives 004 Table 1's (edge, -edge))."""
    if k == 1:
        return [0.0]
    return [edge - 2 * edge * i / (k - 1) for i in range(k)]


class _CPAF(ABActivation):
    def __init__(
        self,
        inplace: bool = False,
        k: int = 2,
        granularity: Granularity = "channel",
        a_init: float | Sequence[float] | None = None,
        b_init: float | Sequence[float] | None = None,
        backend: Backend = "auto",
    ) -> None:
        super().__init__(inplace, k, granularity, a_init, b_init, backend)


@register_activation("cpaf_sigmoid")
class CPAFSigmoid(_CPAF):
    """Combined parametric sigmoid ``sum_i a_i/(1+exp(-(x-b_i))) - a_i/2`` (004 eq. 7-8).

    Default init (004 Table 1, k = 2): a = (4, 4), b = (2, -2); for other k, a_i = 4 and b evenly
    from 2 to -2 (k = 1: b = 0, i.e. pa_sigmoid's init).
    """

    fn = staticmethod(AF.cpaf_sigmoid)
    base, offset = "sigmoid", 0.5

    def default_init(self, k: int):
        return [4.0] * k, _spread(k, 2.0)


@register_activation("cpaf_relu")
class CPAFReLU(_CPAF):
    """Combined parametric ReLU ``sum_i a_i (relu(x - b_i) - 1/2)`` (004 eq. 7, 9).

    Default init (004 Table 1, k = 2): a = (1, 1), b = (1, -1); for other k, a_i = 1 and b evenly
    from 1 to -1.
    """

    fn = staticmethod(AF.cpaf_relu)
    base, offset = "relu", 0.5

    def default_init(self, k: int):
        return [1.0] * k, _spread(k, 1.0)


@register_activation("prelu")
class PReLU(_SiteParameters):
    """``x if x > 0 else a * x`` with learned ``a`` (He et al. 2015), init 0.25.

    ``a`` is shaped like the site: ``()``, ``(C,)`` or ``(C, H, W)``. ``backend`` as for the
    (a, b) families.
    """

    def __init__(
        self,
        inplace: bool = False,
        init: float = 0.25,
        granularity: Granularity = "channel",
        backend: Backend = "auto",
    ) -> None:
        super().__init__()
        self.backend = fused.check_backend(backend)
        self._setup(granularity, {"a": torch.tensor(float(init))})
        self._record_spec(init=init, granularity=granularity, backend=backend)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._prepare(x)
        if self._use_fused(x, 1):
            return self._fused(x, self.a)
        return self._reference(x, self.a)

    def _fused(self, x: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        return fused.prelu_apply(x, a)

    def _reference(self, x: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        return _reference(AF.prelu, x, AF.site_view(a, 0, x))
