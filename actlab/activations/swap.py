"""Swap the activations of any built ``nn.Module`` (timm models included) for a registered one.

Module surgery replaces every activation module with a fresh one per site. One dry forward (on a
zero batch, in eval mode, without gradients; :mod:`actlab.activations.trace`) comes first and
finds what surgery cannot judge alone: which sigmoid-like activations are gates (their output
multiplies other features), activations called functionally inside a ``forward``
(``F.relu(x)``), one module object called at several sites (where per-channel or per-element
parameters would be ill-defined), and the input shape of every site, from which the new
channel- and element-wise parameters are created, so optimizers and checkpoints see them at once.

Without an input for the dry forward (none given, none inferable from the model) the rules are
structural and conservative: every sigmoid-like activation is kept as a gate, everything else is
swapped, and the report says that nothing was checked.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

from actlab.activations.external import (
    DeferredActivation,
    ExternalActivation,
    check_shape,
    has_lazy_parameters,
    probe_site,
    qualified_name,
    source_sha256,
)
from actlab.activations.fit import FIT_TOLERANCE, ActivationInit, check_activation_init, fit_sites
from actlab.activations.parameters import parameter_shapes
from actlab.activations.registry import Resolved, Spec, resolve_activation
from actlab.activations.sites import is_activation_module, is_sigmoid_like
from actlab.activations.trace import DryForward, Site, dry_forward
from actlab.errors import ActlabError, first_line

#: Batch size of the dry forward's zero batch.
DRY_BATCH = 2


@dataclass
class ReplacedSite:
    """One replaced activation: qualified name, the old module type and the new spec.

    ``calls``: how often the dry forward ran it (None without a dry forward; 0 for a module the
    forward never reached, whose channel/element parameters therefore do not exist yet).
    ``parameters``: the new module's trainable parameters and their ``(k, *site)`` shapes.
    """

    name: str
    old: str
    new: str
    shared_by: int = 1
    calls: int | None = None
    parameters: dict[str, list[int]] = field(default_factory=dict)
    #: relative RMS error of the fit to the old activation (``activation_init="fit"``; issue 24)
    fit_error: float | None = None


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
    #: where the dry forward's input shape came from (``input_shape``, ``example_input``,
    #: ``patch_embed.img_size``, ...), or None without a dry forward.
    input_source: str | None = None
    #: where the activation came from: :func:`provenance` (spec as given, class, source hash).
    provenance: dict[str, str] = field(default_factory=dict)
    #: ``default`` or ``fit``, and how the fit ran (batches, samples, tolerance; issue 24).
    activation_init: str = "default"
    fit: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        #: (qualified names, old module, new module) of every replaced site, for a later
        #: :func:`fit_swapped`; not part of :meth:`to_dict`.
        self.modules: list[tuple[list[str], nn.Module, nn.Module]] = []

    @property
    def poorly_fitted(self) -> list[ReplacedSite]:
        """Fitted sites whose error exceeds the tolerance (:data:`~.fit.FIT_TOLERANCE`)."""
        tolerance = (self.fit or {}).get("tolerance", FIT_TOLERANCE)
        return [s for s in self.replaced if s.fit_error is not None and s.fit_error > tolerance]

    @property
    def unreachable(self) -> list[SkippedSite]:
        """Sites the swap could not handle: functional calls and reused modules."""
        return [s for s in self.skipped if s.kind in ("functional", "reused")]

    @property
    def trainable(self) -> list[ReplacedSite]:
        """Replaced sites whose new activation has trainable parameters."""
        return [s for s in self.replaced if s.parameters]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        """One line per site, headed by counts (for logs and error messages)."""
        checked = (
            f" (dry forward on {self.input_source})"
            if self.dry_run
            else " (no dry forward: gates, functional and reused sites not checked)"
        )
        lines = [
            f"swap to {self.spec}: {len(self.replaced)} replaced ({len(self.trainable)} trainable), "
            f"{len(self.skipped)} kept{checked}"
        ]
        if self.fit is not None:
            poor = self.poorly_fitted
            lines.append(
                f"  fitted to the replaced activations on {self.fit['batches']} batch(es); "
                f"{len(poor)} site(s) above the tolerance {self.fit['tolerance']:.0%}"
                + (f": {', '.join(s.name for s in poor)}" if poor else "")
            )
        lines += [
            f"  replaced {s.name} ({s.old}) -> {s.new}"
            + (f" [shared by {s.shared_by} sites]" if s.shared_by > 1 else "")
            + (" [not called in the dry forward]" if s.calls == 0 else "")
            + (f" [fit error {s.fit_error:.2%}]" if s.fit_error is not None else "")
            for s in self.replaced
        ]
        lines += [f"  kept     {s.name} ({s.old}): {s.reason}" for s in self.skipped]
        return "\n".join(lines)


# -- the dry forward's input ------------------------------------------------------------------


def _first_conv_channels(model: nn.Module) -> int | None:
    for module in model.modules():
        if isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):
            return module.in_channels
    return None


def _pair(size: Any) -> tuple[int, ...] | None:
    if size is None:
        return None
    if isinstance(size, int):
        return (size, size)
    return tuple(int(s) for s in size)


def infer_input_shape(model: nn.Module) -> tuple[tuple[int, ...], str] | None:
    """One sample's shape as the model was built for it, and where that was read; else None.

    In order: actlab nets' ``input_shape``; the ``img_size`` of a timm ``patch_embed`` (ViT,
    DeiT, Swin, ... built with ``img_size=``) or of the model; timm's ``pretrained_cfg`` (or
    ``default_cfg``) ``input_size``. Channels come from the first convolution where there is
    one (a model built with ``in_chans=1`` keeps a 3-channel ``pretrained_cfg``).
    """
    own = getattr(model, "input_shape", None)
    if own is not None:
        return tuple(int(s) for s in own), "the model's input_shape"
    channels = _first_conv_channels(model)
    patch_embed = getattr(model, "patch_embed", None)
    for owner, where in ((patch_embed, "patch_embed.img_size"), (model, "img_size")):
        size = _pair(getattr(owner, "img_size", None)) if owner is not None else None
        if size and channels:
            return (channels, *size), where
    for attr in ("pretrained_cfg", "default_cfg"):
        cfg = getattr(model, attr, None)
        size = cfg.get("input_size") if isinstance(cfg, dict) else getattr(cfg, "input_size", None)
        if size:
            size = tuple(int(s) for s in size)
            return (channels or size[0], *size[1:]), f"{attr}['input_size']"
    return None


def _dry_input(
    model: nn.Module, example_input: torch.Tensor | None, input_shape: Sequence[int] | None
) -> tuple[torch.Tensor | None, str | None]:
    if example_input is not None:
        return example_input, "example_input"
    source = "input_shape"
    if input_shape is None:
        inferred = infer_input_shape(model)
        if inferred is None:
            return None, None
        input_shape, source = inferred
    param = next(model.parameters(), None)
    kwargs = {"device": param.device, "dtype": param.dtype} if param is not None else {}
    x = torch.zeros(DRY_BATCH, *input_shape, **kwargs)
    return x, f"{source} {tuple(input_shape)}"


def _run_dry_forward(model: nn.Module, x: torch.Tensor, source: str) -> DryForward:
    try:
        return dry_forward(model, x)
    except Exception as err:  # noqa: BLE001 - any failure of the model becomes one line
        first = first_line(err)
        msg = (
            f"swap_activations: the dry forward of {type(model).__name__} on a zero batch of "
            f"{source} failed ({type(err).__name__}: {first}); pass input_shape=(one sample's "
            "shape, e.g. (3, 32, 32)) or example_input= for the size the model was built for"
        )
        raise ActlabError(msg) from err


# -- surgery ----------------------------------------------------------------------------------


def _matches(name: str, patterns: str | Sequence[str] | None) -> bool:
    if patterns is None:
        return False
    if isinstance(patterns, str):
        patterns = [patterns]
    return any(fnmatch.fnmatchcase(name, p) for p in patterns)


def _gate_reason(module: nn.Module, site: Site | None, traced: bool) -> str | None:
    """Why ``module`` is a gate, or None: only sigmoid-likes are, and with a dry forward only
    those whose output multiplied other features (or that it never reached)."""
    if not is_sigmoid_like(module):
        return None
    if not traced:
        return "sigmoid-like; no dry forward checked whether its output multiplies features"
    if site is None or site.calls == 0:
        return "sigmoid-like and not called in the dry forward"
    if site.gates_in is not None:
        return f"sigmoid-like, its output multiplies the features in {site.gates_in or '<root>'}"
    return None


def provenance(resolved: Resolved, given: Any = None) -> dict[str, str]:
    """What traces a run back to its activation's code: the spec as given, its canonical form,
    the origin (built-in, plugin, import path, python object), the class's (or factory's)
    qualified name and, where there is a source file, its path and SHA-256."""
    path, digest = source_sha256(resolved.target)
    found = {
        "given": given if isinstance(given, str) else _given(given, resolved),
        "spec": resolved.spec,
        "origin": resolved.origin,
        "class": qualified_name(resolved.target),
    }
    if digest is not None:
        found.update({"source_file": str(path), "source_sha256": digest})
    return found


def _given(given: Any, resolved: Resolved) -> str:
    if given is None or isinstance(given, (ExternalActivation,)) or callable(given):
        return resolved.spec
    return str(dict(given)) if isinstance(given, dict) else str(given)


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
    activation_init: ActivationInit = "default",
    fit_inputs: Sequence[torch.Tensor] | None = None,
) -> SwapReport:
    """Replace every activation module of ``model`` (in place) with a fresh ``spec`` per site.

    Args:
        model: any built module; timm's norm-act layers are recursed into.
        spec: activation spec (``"prelu"``, ``"cpaf_relu(k=2)"``, ``{"name": "elu"}``, an
            import path ``"myacts:Snake"``, a class or a factory; see
            :mod:`actlab.activations.registry`).
        include: glob patterns of qualified module names to swap (default: all).
        exclude: glob patterns of qualified module names to keep.
        gates: also swap gates (sigmoid-like activations whose output multiplies other
            features: squeeze-excite, ECA, CBAM, gather-excite, attention gating); kept by
            default. The hidden activations of those blocks are ordinary sites and swapped.
        strict: raise :class:`ActlabError` listing the sites the swap cannot reach (functional
            calls, reused modules) instead of only reporting them.
        example_input: a batch for the dry forward; else a zero batch of ``input_shape``, else of
            the shape the model says it was built for (:func:`infer_input_shape`). Without any
            there is no dry forward (``report.dry_run`` is False) and ``strict=True`` raises.
        input_shape: one sample's shape, e.g. ``(3, 32, 32)``.
        activation_init: ``default`` (the family's initial values) or ``fit``: each new
            trainable activation's parameters are fitted, per site, to the activation it replaces
            over the inputs that site sees on ``fit_inputs`` (:mod:`actlab.activations.fit`).
        fit_inputs: a few input batches (training data) for ``activation_init="fit"``.

    Returns:
        A :class:`SwapReport` listing every replaced and kept site, with the reason for each kept.

    Raises:
        ActlabError: the spec is bad (see :func:`~actlab.activations.resolve_activation`), the
            dry forward fails (one line: pass ``input_shape=``), ``strict`` and a site is
            unreachable, or a user's activation fails on or changes the shape of a site's input.
    """
    check_activation_init(activation_init)
    if activation_init == "fit" and not fit_inputs:
        msg = "swap_activations(activation_init='fit') needs fit_inputs: a few training batches"
        raise ActlabError(msg)
    resolved = resolve_activation(spec)
    report = SwapReport(spec=resolved.spec, provenance=provenance(resolved, spec))
    site_dependent = resolved.site_dependent
    x, source = _dry_input(model, example_input, input_shape)
    if x is None and strict:
        msg = "swap_activations(strict=True) needs example_input or input_shape for its dry forward"
        raise ActlabError(msg)
    traced = _run_dry_forward(model, x, source) if x is not None else None
    report.dry_run, report.input_source = traced is not None, source

    names_of: dict[int, list[str]] = {}
    modules: dict[int, nn.Module] = {}
    for name, module in model.named_modules(remove_duplicate=False):
        if name and is_activation_module(module):
            names_of.setdefault(id(module), []).append(name)
            modules[id(module)] = module

    to_replace: list[tuple[list[str], nn.Module, Site | None, int]] = []
    for key, names in names_of.items():
        module = modules[key]
        old = type(module).__name__
        first = names[0]
        site = traced.sites.get(key) if traced is not None else None
        if include is not None and not any(_matches(n, include) for n in names):
            report.skipped.append(SkippedSite(first, old, "excluded", "not matched by include"))
            continue
        if any(_matches(n, exclude) for n in names):
            report.skipped.append(SkippedSite(first, old, "excluded", "matched by exclude"))
            continue
        gate = _gate_reason(module, site, traced is not None)
        if gate and not gates:
            reason = f"gate: {gate}; pass gates=True to swap it"
            report.skipped.append(SkippedSite(first, old, "gate", reason))
            continue
        sites = max(len(names), site.calls if site is not None else 1)
        if sites > 1 and site_dependent:
            per = getattr(resolved.build(), "granularity", "site")
            reason = (
                f"one module object serves {sites} call sites (registered as {', '.join(names)}); "
                f"{report.spec} has per-{per} parameters, ill-defined there: give each "
                "site its own module, or use granularity=layer (or scalar parameters)"
            )
            report.skipped.append(SkippedSite(first, old, "reused", reason))
            continue
        to_replace.append((names, module, site, sites))

    if traced is not None:
        for call in traced.functional:
            where = call.where or "<root>"
            what = f"functional {call.name}() called {call.count}x in {where}"
            if call.role == "gate" and not gates:
                reason = f"gate: {what}, its output multiplies features; a gate is kept"
                report.skipped.append(SkippedSite(where, call.name, "gate", reason))
            else:
                reason = f"{what}; module surgery cannot reach it"
                report.skipped.append(SkippedSite(where, call.name, "functional", reason))

    if strict and report.unreachable:  # before any surgery: the model is left as it was
        listed = "; ".join(f"{s.name} ({s.kind}): {s.reason}" for s in report.unreachable)
        raise ActlabError(
            f"swap to {report.spec} cannot reach {len(report.unreachable)} site(s): {listed}"
        )

    for names, module, site, sites in to_replace:
        new = _build_for_site(resolved, site, report.spec, names[0])
        for name in names:
            _set_module(model, name, new)
        calls = site.calls if site is not None else None
        report.replaced.append(
            ReplacedSite(
                names[0], type(module).__name__, report.spec, sites, calls, parameter_shapes(new)
            )
        )
        report.modules.append((names, module, new))
    if activation_init == "fit":
        fit_swapped(model, report, fit_inputs)
    return report


def fit_swapped(
    model: nn.Module, report: SwapReport, batches: Sequence[torch.Tensor]
) -> SwapReport:
    """Fit the activations a swap put into ``model`` to the ones they replaced (issue 24).

    Every site's inputs are recorded on ``batches`` with the old activations in place, then each
    new trainable activation is fitted to its old one there (:func:`~.fit.fit_sites`); the
    report gets each site's fit error and names those above the tolerance.
    """
    batches = list(batches)
    fits = {f.name: f for f in fit_sites(model, report.modules, batches, _set_module)}
    for site in report.replaced:
        fitted = fits.get(site.name)
        site.fit_error = fitted.error if fitted is not None else None
    report.activation_init = "fit"
    report.fit = {
        "batches": len(batches),
        "samples": int(sum(len(x) for x in batches)),
        "tolerance": FIT_TOLERANCE,
        "error": "relative RMS error sqrt(sum (f - g)^2 / sum g^2) on the site's inputs",
        "methods": sorted({f.method for f in fits.values()}),
    }
    return report


def _build_for_site(resolved: Resolved, site: Site | None, spec: str, name: str) -> nn.Module:
    """A fresh module for one site, its per-site parameters created from the shape the dry
    forward saw; a user's activation is called once on that shape (lazy parameters, and the
    check that it keeps the shape)."""
    shape = site.input_shape if site is not None else None
    if not isinstance(resolved, ExternalActivation):
        new = resolved.build()
        if shape is not None and hasattr(new, "materialize"):
            new.materialize(shape, site.device, site.dtype)
        return new
    new = resolved.build(input_shape=shape)
    if shape is not None:
        if site.dtype is not None and site.dtype.is_floating_point:
            new.to(device=site.device, dtype=site.dtype)
        probe_site(new, shape, spec, name, site.device, site.dtype)
    return new


def materialize_activations(
    model: nn.Module, input_shape: Sequence[int] | None = None, example_input=None
) -> bool:
    """Create the per-site parameters a model's activations wait for, with one dry forward:
    actlab's lazy channel/element parameters, torch's lazy modules and users' activations whose
    channel argument waits for the site (:class:`DeferredActivation`, replaced here by the module
    it built). A user's activation that changes its input's shape is one line naming the site.

    Runs only when there is something to create or check (else returns False at once); the task
    calls it for activations built by ``backbone_kwargs.act_layer``.
    """
    from actlab.activations.sites import ACTIVATION_TYPES

    pending = {
        name: m
        for name, m in model.named_modules()
        if isinstance(m, DeferredActivation)
        or (is_activation_module(m) and not isinstance(m, ACTIVATION_TYPES))
        or (is_activation_module(m) and not getattr(m, "materialized", True))
        or (is_activation_module(m) and has_lazy_parameters(m))
    }
    if not pending:
        return False
    x, source = _dry_input(model, example_input, input_shape)
    if x is None:
        return False
    handles = []
    for name, module in pending.items():
        spec = module.external.spec if isinstance(module, DeferredActivation) else ""
        spec = spec or qualified_name(type(module))

        def check(mod, args, out, name=name, spec=spec):
            if args and isinstance(args[0], torch.Tensor):
                check_shape(mod, args[0].shape, out, spec, name)

        handles.append(module.register_forward_hook(check))
    modes = {m: m.training for m in model.modules()}
    model.eval()
    try:
        with torch.no_grad():
            model(x)
    except ActlabError:
        raise
    except Exception as err:  # noqa: BLE001 - as the swap's dry forward: one line
        first = first_line(err)
        msg = (
            f"the dry forward of {type(model).__name__} on a zero batch of {source} that creates "
            f"its activations' parameters failed ({type(err).__name__}: {first})"
        )
        raise ActlabError(msg) from err
    finally:
        for handle in handles:
            handle.remove()
        for module, mode in modes.items():
            module.training = mode
    for name, module in pending.items():
        if isinstance(module, DeferredActivation) and module.module is not None:
            _set_module(model, name, module.module)
    return True
