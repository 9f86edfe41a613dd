"""Swap the activations of any built ``nn.Module`` (timm models included) for a registered one.

Module surgery replaces every activation module with a fresh one per site. A dry forward (on a
zero batch, in eval mode, without gradients) finds what surgery cannot reach: activations called
functionally inside a ``forward`` (``F.relu(x)``) and one module object called at several sites,
where per-channel or per-element parameters would be ill-defined. A second dry forward after the
swap creates the lazily shaped (channel/element) parameters, so optimizers and checkpoints see them.
"""

from __future__ import annotations

import fnmatch
import inspect
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode

from actlab.activations.fixed import Activation
from actlab.activations.registry import Spec, create_activation
from actlab.errors import ActlabError

_TORCH_ACTIVATIONS: tuple[type[nn.Module], ...] = (
    nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU, nn.RReLU, nn.ELU, nn.SELU, nn.CELU, nn.GELU,
    nn.SiLU, nn.Mish, nn.Sigmoid, nn.Tanh, nn.Hardswish, nn.Hardsigmoid, nn.Hardtanh, nn.Softplus,
)  # fmt: skip


def _timm_activations() -> tuple[type[nn.Module], ...]:
    try:
        from timm.layers import activations, activations_me
    except ImportError:  # pragma: no cover - timm is a dependency, but keep swap usable without
        return ()
    found = []
    for mod in (activations, activations_me):
        for obj in vars(mod).values():
            if (
                inspect.isclass(obj)
                and issubclass(obj, nn.Module)
                and obj.__module__ == mod.__name__
            ):
                found.append(obj)
    return tuple(found)


#: Module types treated as activation sites.
ACTIVATION_TYPES: tuple[type[nn.Module], ...] = (
    *_TORCH_ACTIVATIONS,
    *_timm_activations(),
    Activation,
)

#: Functional activations reported when called outside an activation module. ``sigmoid`` and
#: ``tanh`` are left out: called functionally they are nearly always gates, not activations.
FUNCTIONAL_ACTIVATIONS = {
    F.relu: "relu", F.relu_: "relu_", torch.relu: "relu", torch.relu_: "relu_",
    torch.Tensor.relu: "Tensor.relu", torch.Tensor.relu_: "Tensor.relu_", F.relu6: "relu6",
    F.leaky_relu: "leaky_relu", F.elu: "elu", F.selu: "selu", F.celu: "celu", F.gelu: "gelu",
    F.silu: "silu", F.mish: "mish", F.hardswish: "hardswish", F.rrelu: "rrelu", F.prelu: "prelu",
    F.hardtanh: "hardtanh", F.softplus: "softplus",
}  # fmt: skip

#: Parent modules whose activations are gates (kept unless ``gates=True``).
_GATE_PARENT = re.compile(
    r"SqueezeExcit|SEModule|SELayer|EffectiveSE|EcaModule|CecaModule|Cbam|GatherExcite|"
    r"GlobalContext|SelectiveKernel|Attention|Attn",
    re.IGNORECASE,
)


def is_activation_module(module: nn.Module) -> bool:
    """Whether ``module`` is an activation site actlab swaps (torch, timm or actlab activation)."""
    return isinstance(module, ACTIVATION_TYPES)


@dataclass
class ReplacedSite:
    """One replaced activation: qualified name, the old module type and the new spec."""

    name: str
    old: str
    new: str
    shared_by: int = 1


@dataclass
class SkippedSite:
    """An activation left as it was, and why (``kind``: excluded, gate, reused, functional)."""

    name: str
    old: str
    kind: str
    reason: str


@dataclass
class SwapReport:
    """What :func:`swap_activations` did at every activation site of a model."""

    spec: str
    replaced: list[ReplacedSite] = field(default_factory=list)
    skipped: list[SkippedSite] = field(default_factory=list)
    dry_run: bool = False

    @property
    def unreachable(self) -> list[SkippedSite]:
        """Sites the swap could not handle: functional calls and reused modules."""
        return [s for s in self.skipped if s.kind in ("functional", "reused")]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        """One line per site, headed by counts (for logs and error messages)."""
        lines = [
            f"swap to {self.spec}: {len(self.replaced)} replaced, {len(self.skipped)} skipped"
            + ("" if self.dry_run else " (no dry forward: functional and reused sites not checked)")
        ]
        lines += [
            f"  replaced {s.name} ({s.old}) -> {s.new}"
            + (f" [shared by {s.shared_by} sites]" if s.shared_by > 1 else "")
            for s in self.replaced
        ]
        lines += [f"  skipped  {s.name} ({s.old}): {s.reason}" for s in self.skipped]
        return "\n".join(lines)


class _Trace:
    """Hooks and a torch-function mode that record, during one forward, how often each activation
    module runs and which functional activations run outside activation modules."""

    def __init__(self, model: nn.Module) -> None:
        self.model = model
        self.calls: Counter[int] = Counter()
        self.functional: Counter[tuple[str, str]] = Counter()
        self.stack: list[str] = []
        self.depth = 0
        self.handles: list[Any] = []

    def __enter__(self) -> _Trace:
        for name, module in self.model.named_modules():
            is_act = is_activation_module(module)
            self.handles.append(module.register_forward_pre_hook(self._pre(name, module, is_act)))
            self.handles.append(module.register_forward_hook(self._post(is_act), always_call=True))
        return self

    def __exit__(self, *exc: Any) -> None:
        for handle in self.handles:
            handle.remove()

    def _pre(self, name: str, module: nn.Module, is_act: bool):
        def hook(mod, args):
            self.stack.append(name)
            if is_act:
                self.calls[id(module)] += 1
                self.depth += 1

        return hook

    def _post(self, is_act: bool):
        def hook(mod, args, output):
            self.stack.pop()
            if is_act:
                self.depth -= 1

        return hook

    def run(self, x: torch.Tensor) -> None:
        trace = self

        class Spy(TorchFunctionMode):
            def __torch_function__(self, func, types, args=(), kwargs=None):
                if trace.depth == 0 and func in FUNCTIONAL_ACTIVATIONS:
                    where = trace.stack[-1] if trace.stack else ""
                    trace.functional[(where, FUNCTIONAL_ACTIVATIONS[func])] += 1
                return func(*args, **(kwargs or {}))

        with Spy():
            self.model(x)


def _dry_forward(model: nn.Module, x: torch.Tensor, trace: bool) -> _Trace | None:
    modes = {m: m.training for m in model.modules()}
    model.eval()
    try:
        with torch.no_grad():
            if not trace:
                model(x)
                return None
            with _Trace(model) as tracer:
                tracer.run(x)
            return tracer
    finally:
        for module, mode in modes.items():
            module.training = mode


def _example_input(
    model: nn.Module, example_input: torch.Tensor | None, input_shape: Sequence[int] | None
) -> torch.Tensor | None:
    if example_input is not None:
        return example_input
    if input_shape is None:
        cfg = getattr(model, "pretrained_cfg", None) or {}
        input_shape = cfg.get("input_size") if isinstance(cfg, dict) else None
    if input_shape is None:
        return None
    param = next(model.parameters(), None)
    kwargs = {"device": param.device, "dtype": param.dtype} if param is not None else {}
    return torch.zeros(2, *input_shape, **kwargs)


def _matches(name: str, patterns: str | Sequence[str] | None) -> bool:
    if patterns is None:
        return False
    if isinstance(patterns, str):
        patterns = [patterns]
    return any(fnmatch.fnmatchcase(name, p) for p in patterns)


def _gate_reason(model: nn.Module, name: str) -> str | None:
    parts = name.split(".")
    if "gate" in parts[-1].lower():
        return f"gate ({parts[-1]})"
    module = model
    for part in parts[:-1]:
        module = getattr(module, part)
        if _GATE_PARENT.search(type(module).__name__):
            return f"gate inside {type(module).__name__}"
    return None


def _set_module(model: nn.Module, name: str, new: nn.Module) -> None:
    parent_name, _, child = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, child, new)


def swap_activations(
    model: nn.Module,
    spec: Spec,
    include: str | Sequence[str] | None = None,
    exclude: str | Sequence[str] | None = None,
    gates: bool = False,
    strict: bool = False,
    example_input: torch.Tensor | None = None,
    input_shape: Sequence[int] | None = None,
) -> SwapReport:
    """Replace every activation module of ``model`` (in place) with a fresh ``spec`` per site.

    Args:
        model: any built module; timm's norm-act layers are recursed into.
        spec: activation spec (``"prelu"``, ``"cpaf_relu(k=2)"``, ``{"name": "elu"}``).
        include: glob patterns of qualified module names to swap (default: all).
        exclude: glob patterns of qualified module names to keep.
        gates: also swap gates (sigmoids of squeeze-excite and attention blocks); kept by default.
        strict: raise :class:`ActlabError` listing the sites the swap cannot reach (functional
            calls, reused modules) instead of only reporting them.
        example_input: a batch for the dry forward; else a zero batch of ``input_shape`` (or of a
            timm model's ``pretrained_cfg["input_size"]``). Without either there is no dry
            forward (``report.dry_run`` is False) and ``strict=True`` raises.

    Returns:
        A :class:`SwapReport` listing every replaced and skipped site.
    """
    probe = create_activation(spec)
    report = SwapReport(spec=probe.spec)
    site_dependent = bool(getattr(probe, "site_dependent", False))
    x = _example_input(model, example_input, input_shape)

    tracer = _dry_forward(model, x, trace=True) if x is not None else None
    report.dry_run = tracer is not None
    if strict and tracer is None:
        msg = "swap_activations(strict=True) needs example_input or input_shape for its dry forward"
        raise ActlabError(msg)

    names_of: dict[int, list[str]] = {}
    modules: dict[int, nn.Module] = {}
    for name, module in model.named_modules(remove_duplicate=False):
        if name and is_activation_module(module):
            names_of.setdefault(id(module), []).append(name)
            modules[id(module)] = module

    for key, names in names_of.items():
        module = modules[key]
        old = type(module).__name__
        first = names[0]
        if include is not None and not any(_matches(n, include) for n in names):
            report.skipped.append(SkippedSite(first, old, "excluded", "not matched by include"))
            continue
        if any(_matches(n, exclude) for n in names):
            report.skipped.append(SkippedSite(first, old, "excluded", "matched by exclude"))
            continue
        gate = _gate_reason(model, first)
        if gate and not gates:
            report.skipped.append(
                SkippedSite(first, old, "gate", f"{gate}; pass gates=True to swap it")
            )
            continue
        sites = max(len(names), tracer.calls[key] if tracer else 1)
        if sites > 1 and site_dependent:
            reason = (
                f"one module object serves {sites} call sites (registered as {', '.join(names)}); "
                f"{report.spec} has per-{probe.granularity} parameters, ill-defined there: give each "
                "site its own module, or use granularity=layer"
            )
            report.skipped.append(SkippedSite(first, old, "reused", reason))
            continue
        new = create_activation(spec)
        for name in names:
            _set_module(model, name, new)
        report.replaced.append(ReplacedSite(first, old, new.spec, shared_by=sites))

    if tracer is not None:
        for (where, fn), count in sorted(tracer.functional.items()):
            reason = f"functional {fn}() called {count}x in {where or 'the top-level forward'}; module surgery cannot reach it"
            report.skipped.append(SkippedSite(where or "<root>", fn, "functional", reason))

    if strict and report.unreachable:
        listed = "; ".join(f"{s.name}: {s.reason}" for s in report.unreachable)
        raise ActlabError(
            f"swap to {report.spec} cannot reach {len(report.unreachable)} site(s): {listed}"
        )

    if x is not None and any(getattr(m, "materialized", True) is False for m in model.modules()):
        _dry_forward(model, x, trace=False)  # create channel/element parameters from real shapes
    return report
