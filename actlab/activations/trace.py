"""One dry forward that tells the swap what module surgery cannot see.

During a forward on a zero batch (eval mode, no gradients) module hooks and a
:class:`~torch.overrides.TorchFunctionMode` record, for every activation module, how often it runs
and the shape of its first input (so channel- and element-wise parameters can be created without
a second forward), which functional activations run outside activation modules, and which
sigmoid-like outputs are **gates**: the output of a sigmoid-like activation that, possibly after
shape-only or single-input operations (view, expand_as, interpolate, ``1 - g``, ...), is an operand
of a product (``mul``, ``*``, ``mul_``, ``addcmul``, ``matmul``, ``einsum``) with *other features*
(a non-parameter tensor of more than one element). This finds the gates of squeeze-excite, ECA,
CBAM, gather-excite, global-context and attention gating by what they do. Two refinements:

- ``x * sigmoid(x)`` (SiLU written out) multiplies the sigmoid's *own input*: not a gate.
- Where both operands are sigmoid-like outputs (a sigmoid-activation network with SE blocks), the
  one computed from the other is the gate (the SE scale is computed from the features it
  scales); failing that, the smaller one (the broadcast scale); of two equal-sized ones, both.
"""

from __future__ import annotations

import weakref
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from actlab.activations.sites import (
    FUNCTIONAL_ACTIVATIONS,
    FUNCTIONAL_SIGMOIDS,
    is_activation_module,
    is_sigmoid_like,
)

_T = torch.Tensor
#: Operations whose two tensor operands multiply: where a gate's output meets the features.
MULTIPLIES = {
    torch.mul, _T.mul, _T.mul_, _T.__mul__, _T.__rmul__, _T.__imul__, torch.addcmul, _T.addcmul,
    _T.addcmul_, torch.matmul, _T.matmul, _T.__matmul__, _T.__rmatmul__, torch.bmm, _T.bmm,
    torch.einsum,
}  # fmt: skip
#: Operations whose result carries the first tensor's values (re-shaped), whatever else they take.
PASSES_FIRST = {_T.expand_as, _T.view_as, _T.reshape_as, _T.type_as, _T.__getitem__}


@dataclass
class Site:
    """What the dry forward saw of one activation module."""

    calls: int = 0
    input_shape: tuple[int, ...] | None = None
    dtype: torch.dtype | None = None
    device: torch.device | None = None
    #: where (module name) its output multiplied other features; None if it never did.
    gates_in: str | None = None


@dataclass
class FunctionalCall:
    """Functional activations called outside activation modules, grouped by (where, name, role)."""

    where: str
    name: str
    role: str  # "activation" or "gate"
    count: int


@dataclass
class _Mark:
    key: Any  # id(module) or ("functional", call index)
    source: weakref.ref | None  # the sigmoid's input (x * sigmoid(x) is no gate)


@dataclass
class DryForward:
    """The result of :func:`dry_forward`."""

    sites: dict[int, Site] = field(default_factory=dict)
    functional: list[FunctionalCall] = field(default_factory=list)


def _tensors(args: tuple, kwargs: dict) -> list[torch.Tensor]:
    found = []
    for value in (*args, *kwargs.values()):
        if isinstance(value, torch.Tensor):
            found.append(value)
        elif isinstance(value, (list, tuple)):
            found.extend(v for v in value if isinstance(v, torch.Tensor))
    return found


def _outputs(out: Any) -> Iterator[torch.Tensor]:
    if isinstance(out, torch.Tensor):
        yield out
    elif isinstance(out, (list, tuple)):
        yield from (o for o in out if isinstance(o, torch.Tensor))


class _TensorMap:
    """``tensor -> value`` by identity, without keeping tensors alive (ids are checked against a
    weak reference, so a reused id never matches a dead tensor)."""

    def __init__(self) -> None:
        self._items: dict[int, tuple[weakref.ref, Any]] = {}

    def __bool__(self) -> bool:
        return bool(self._items)

    def __setitem__(self, tensor: torch.Tensor, value: Any) -> None:
        self._items[id(tensor)] = (weakref.ref(tensor), value)

    def get(self, tensor: torch.Tensor, default: Any = None) -> Any:
        entry = self._items.get(id(tensor))
        return entry[1] if entry is not None and entry[0]() is tensor else default


class _Recorder:
    """Module hooks plus the state the torch-function mode shares with them.

    ``marks`` follow a sigmoid-like output's *values* through single-input and shape-only ops;
    ``lineage`` follows which sigmoid-like outputs *any* tensor was computed from, which settles
    a product of two marked tensors: the one computed from the other is the gate.
    """

    def __init__(self, model: nn.Module) -> None:
        self.model = model
        self.result = DryForward()
        self.stack: list[str] = []
        self.depth = 0  # > 0 inside an activation module: its own ops are its implementation
        self.marks = _TensorMap()
        self.lineage = _TensorMap()
        self.functional_calls: dict[int, tuple[str, str]] = {}
        self.functional_gates: set[int] = set()
        self.handles: list[Any] = []

    @property
    def where(self) -> str:
        return self.stack[-1] if self.stack else ""

    def mark(self, tensor: torch.Tensor, key: Any, source: torch.Tensor | None, inputs) -> None:
        """``tensor`` is the output of sigmoid-like ``key`` applied to ``source``."""
        self.marks[tensor] = _Mark(key, weakref.ref(source) if source is not None else None)
        self.lineage[tensor] = self.lineage_of(inputs) | {key}

    def lineage_of(self, tensors: list[torch.Tensor]) -> frozenset:
        found: frozenset = frozenset()
        for t in tensors:
            found |= self.lineage.get(t, frozenset())
        return found

    def gate(self, mark: _Mark) -> None:
        if isinstance(mark.key, int):
            site = self.result.sites[mark.key]
            site.gates_in = site.gates_in if site.gates_in is not None else self.where
        else:
            self.functional_gates.add(mark.key[1])

    def on_product(self, tensors: list[torch.Tensor]) -> None:
        marked = [(t, self.marks.get(t)) for t in tensors]
        for t, mark in marked:
            if mark is None:
                continue
            source = mark.source() if mark.source is not None else None
            for other, other_mark in marked:
                if other is t or isinstance(other, nn.Parameter) or other.numel() <= 1:
                    continue
                if other is source:  # x * sigmoid(x): SiLU written out
                    continue
                if other_mark is None or other_mark.key in self.lineage.get(t, frozenset()):
                    self.gate(mark)  # scales features (computed from them, if they are marked)
                    break
                if mark.key in self.lineage.get(other, frozenset()):
                    continue  # ``other`` was computed from ``t``: ``t`` is the features
                if t.numel() <= other.numel():
                    self.gate(mark)
                    break

    def observe(self, func: Any, args: tuple, kwargs: dict, out: Any) -> None:
        if self.depth:
            return
        if func in FUNCTIONAL_ACTIVATIONS:
            self.functional_calls[len(self.functional_calls)] = (
                self.where,
                FUNCTIONAL_ACTIVATIONS[func],
            )
        elif func in FUNCTIONAL_SIGMOIDS and isinstance(out, torch.Tensor):
            index = len(self.functional_calls)
            self.functional_calls[index] = (self.where, FUNCTIONAL_SIGMOIDS[func])
            inputs = _tensors(args, kwargs)
            self.mark(out, ("functional", index), inputs[0] if inputs else None, inputs)
            return
        if not self.marks:
            return
        tensors = _tensors(args, kwargs)
        if func in MULTIPLIES:
            self.on_product(tensors)
        lineage = self.lineage_of(tensors)
        if lineage:
            for o in _outputs(out):
                self.lineage[o] = lineage
        if func not in MULTIPLIES and tensors and (func in PASSES_FIRST or len(tensors) == 1):
            mark = self.marks.get(tensors[0])
            if mark is not None:
                for o in _outputs(out):
                    self.marks[o] = mark

    # -- hooks ------------------------------------------------------------------------------------

    def __enter__(self) -> _Recorder:
        for name, module in self.model.named_modules():
            is_act = is_activation_module(module)
            if is_act:
                self.result.sites.setdefault(id(module), Site())
            self.handles.append(module.register_forward_pre_hook(self._pre(name, module, is_act)))
            self.handles.append(
                module.register_forward_hook(self._post(module, is_act), always_call=True)
            )
        return self

    def __exit__(self, *exc: Any) -> None:
        for handle in self.handles:
            handle.remove()

    def _pre(self, name: str, module: nn.Module, is_act: bool):
        def hook(mod, args):
            self.stack.append(name)
            if is_act:
                site = self.result.sites[id(module)]
                site.calls += 1
                x = args[0] if args and isinstance(args[0], torch.Tensor) else None
                if site.input_shape is None and x is not None:
                    site.input_shape, site.dtype, site.device = tuple(x.shape), x.dtype, x.device
                self.depth += 1

        return hook

    def _post(self, module: nn.Module, is_act: bool):
        sigmoid_like = is_act and is_sigmoid_like(module)

        def hook(mod, args, output):
            self.stack.pop()
            if not is_act:
                return
            self.depth -= 1
            if self.depth or not isinstance(output, torch.Tensor):
                return
            inputs = [a for a in args if isinstance(a, torch.Tensor)]
            if sigmoid_like:
                self.mark(output, id(module), inputs[0] if inputs else None, inputs)
            elif self.marks:  # its own ops were not observed: carry the lineage across
                lineage = self.lineage_of(inputs)
                if lineage:
                    self.lineage[output] = lineage

        return hook

    def finish(self) -> DryForward:
        groups: Counter[tuple[str, str, str]] = Counter()
        for index, (where, name) in self.functional_calls.items():
            groups[(where, name, "gate" if index in self.functional_gates else "activation")] += 1
        self.result.functional = [
            FunctionalCall(where, name, role, count)
            for (where, name, role), count in sorted(groups.items())
        ]
        return self.result


def dry_forward(model: nn.Module, x: torch.Tensor) -> DryForward:
    """Run ``model(x)`` once in eval mode without gradients and return what it saw.

    Training flags are restored afterwards; exceptions from the model propagate.
    """
    modes = {m: m.training for m in model.modules()}
    model.eval()
    recorder = _Recorder(model)

    class Spy(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            out = func(*args, **kwargs)
            recorder.observe(func, args, kwargs, out)
            return out

    try:
        with torch.no_grad(), recorder, Spy():
            model(x)
    finally:
        for module, mode in modes.items():
            module.training = mode
    return recorder.finish()
