"""The activation registry: register, list and build activations from specs.

A spec is

- a registered name (``"prelu"``), with call-style arguments in one string
  (``"cpaf_relu(k=3, granularity=element)"``), or a mapping (``{"name": "cpaf_relu", "k": 2}``);
- a plugin's name (entry-point group ``actlab.activations``, :mod:`actlab.activations.plugins`);
- an import path, with or without arguments (``"myacts:Snake"``,
  ``"myacts.Snake(alpha=0.5)"``), or LightningCLI's form
  (``{"class_path": "myacts.Snake", "init_args": {"alpha": 0.5}}``); the current folder is
  importable, as with ``python -m``;
- in Python, a class or a factory (``Snake``, ``functools.partial(Snake, alpha=0.5)``).

:func:`resolve_activation` turns any of them into one object that builds fresh modules
(:class:`BuiltinActivation` or :class:`~actlab.activations.external.ExternalActivation`) and
names them by a canonical spec string for run names.
"""

from __future__ import annotations

import ast
import inspect
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from torch import nn

from actlab.activations.external import ExternalActivation, import_object
from actlab.errors import ActlabError, UnknownNameError, unknown_name_message

#: name -> activation class. Classes accept ``inplace`` as their first parameter.
ACTIVATIONS: dict[str, type[nn.Module]] = {}

Spec = str | Mapping[str, Any] | type | Callable[..., nn.Module]
C = TypeVar("C", bound=type)

#: A name or an import path (``pkg.mod.Class``, ``pkg.mod:Class``), then optional ``(args)``.
_SPEC_RE = re.compile(
    r"^\s*([A-Za-z_][A-Za-z0-9_.]*(?::[A-Za-z_][A-Za-z0-9_.]*)?)\s*(?:\((.*)\))?\s*$", re.DOTALL
)
#: Keys of LightningCLI's class form of a spec.
CLASS_FORM_KEYS = ("class_path", "init_args", "dict_kwargs")


def register_activation(name: str) -> Callable[[C], C]:
    """Class decorator: register an activation class under ``name``.

    The class must accept ``inplace`` as its first parameter (timm calls
    ``act_layer(inplace=True)`` and ``act_layer(True)``) and keyword arguments after it.
    """

    def decorate(cls: C) -> C:
        if name in ACTIVATIONS and ACTIVATIONS[name] is not cls:
            raise ActlabError(f"activation {name!r} is already registered to {ACTIVATIONS[name]}")
        params = list(inspect.signature(cls.__init__).parameters)
        if len(params) < 2 or params[1] != "inplace":
            raise ActlabError(f"activation class {cls.__name__} must take `inplace` first")
        ACTIVATIONS[name] = cls
        cls.activation_name = name
        return cls

    return decorate


def list_activations(trainable: bool | None = None) -> list[str]:
    """Registered activation names, sorted; ``trainable`` filters by having parameters."""
    names = sorted(ACTIVATIONS)
    if trainable is None:
        return names
    return [n for n in names if getattr(ACTIVATIONS[n], "trainable", False) == trainable]


def activation_arguments(name: str) -> dict[str, Any]:
    """The keyword arguments of activation ``name`` (``inplace`` excluded) and their defaults."""
    cls = _lookup(name)
    sig = inspect.signature(cls.__init__)
    return {
        p.name: p.default
        for p in list(sig.parameters.values())[2:]
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    }


def _lookup(name: str) -> type[nn.Module]:
    if name not in ACTIVATIONS:
        raise UnknownNameError(unknown_name_message("activation", name, list(ACTIVATIONS)))
    return ACTIVATIONS[name]


def _parse_value(text: str) -> Any:
    text = text.strip()
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text  # bare words such as ``element`` are strings


def _split_args(text: str) -> list[str]:
    """Split ``a=1, b=(1, 2)`` at top-level commas."""
    parts, depth, current = [], 0, []
    for ch in text:
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    if "".join(current).strip():
        parts.append("".join(current))
    return parts


def parse_spec(spec: Spec) -> tuple[str, dict[str, Any]]:
    """Split a spec into its name (or import path) and keyword arguments (not yet validated
    against the class)."""
    if isinstance(spec, Mapping) and "class_path" in spec:
        extra = sorted(set(spec) - set(CLASS_FORM_KEYS))
        if extra or not isinstance(spec["class_path"], str):
            msg = (
                f"activation spec {dict(spec)!r}: the class form takes class_path (an import "
                f"path) and init_args; got {', '.join(extra) or repr(spec['class_path'])}"
            )
            raise ActlabError(msg)
        kwargs = {**dict(spec.get("init_args") or {}), **dict(spec.get("dict_kwargs") or {})}
        return spec["class_path"].strip(), kwargs
    if isinstance(spec, Mapping):
        kwargs = dict(spec)
        name = kwargs.pop("name", None)
        if not isinstance(name, str):
            msg = (
                f"activation spec {dict(spec)!r} needs a `name` key (a registered name or an "
                "import path), or `class_path` and `init_args`"
            )
            raise ActlabError(msg)
        return name, kwargs
    if not isinstance(spec, str):
        msg = f"activation spec must be a string, a mapping, a class or a factory; got {spec!r}"
        raise ActlabError(msg)
    match = _SPEC_RE.match(spec)
    if match is None:
        msg = (
            f"cannot parse activation spec {spec!r}; expected e.g. 'cpaf_relu(k=2)' or an "
            "import path such as 'myacts:Snake' or 'myacts.Snake(alpha=0.5)'"
        )
        raise ActlabError(msg)
    name, arg_text = match.group(1), match.group(2) or ""
    kwargs: dict[str, Any] = {}
    for part in _split_args(arg_text):
        key, sep, value = part.partition("=")
        if not sep or not key.strip().isidentifier():
            msg = f"activation spec {spec!r}: argument {part.strip()!r} is not `key=value`"
            raise ActlabError(msg)
        kwargs[key.strip()] = _parse_value(value)
    return name, kwargs


def _format_value(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (list, tuple)):
        return (
            "("
            + ", ".join(_format_value(v) for v in value)
            + ("," if len(value) == 1 else "")
            + ")"
        )
    return repr(value)


def canonical_spec(name: str, kwargs: Mapping[str, Any]) -> str:
    """``name(arg=value, ...)`` listing, in signature order, the arguments that differ from defaults."""
    defaults = activation_arguments(name)
    shown = []
    for key, default in defaults.items():
        if key in kwargs and _normalise(kwargs[key]) != _normalise(default):
            shown.append(f"{key}={_format_value(kwargs[key])}")
    return f"{name}({', '.join(shown)})" if shown else name


def _normalise(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


class BuiltinActivation:
    """A registered activation with its arguments: the same interface as
    :class:`~actlab.activations.external.ExternalActivation` (``spec``, ``build``, ``factory``,
    ``site_dependent``, ``target``, ``origin``)."""

    origin = "built-in"

    def __init__(self, name: str, kwargs: Mapping[str, Any]) -> None:
        self.name, self.kwargs, self.path = name, dict(kwargs), name
        self.target = _lookup(name)
        valid = activation_arguments(name)
        unknown = sorted(set(self.kwargs) - set(valid))
        if unknown:
            listed = ", ".join(f"{k}={_format_value(v)}" for k, v in valid.items()) or "none"
            msg = f"activation {name!r} has no argument(s) {', '.join(unknown)}; valid (defaults): {listed}"
            raise ActlabError(msg)
        self._probe = self.build()  # the class checks its argument values now

    @property
    def spec(self) -> str:
        return self._probe.spec

    @property
    def site_dependent(self) -> bool:
        return bool(getattr(self._probe, "site_dependent", False))

    def build(
        self, inplace: bool = False, input_shape: Sequence[int] | None = None, **more: Any
    ) -> nn.Module:
        """A fresh module; ``input_shape`` (batch first) creates per-site parameters at once."""
        kwargs = {**self.kwargs, **more}
        try:
            module = self.target(inplace, **kwargs)
        except (TypeError, ValueError) as err:
            if isinstance(err, ActlabError):
                raise
            raise ActlabError(f"activation {self.name!r} rejected {kwargs}: {err}") from err
        module.spec = canonical_spec(self.name, kwargs)
        if input_shape is not None and hasattr(module, "materialize"):
            module.materialize(input_shape)
        return module

    def factory(self) -> Callable[..., nn.Module]:
        """timm's ``act_layer``: a fresh module per ``factory(inplace=True)`` call."""
        name, kwargs = self.name, self.kwargs

        def build(inplace: bool = False, **more: Any) -> nn.Module:
            return create_activation({"name": name, **kwargs, **more}, inplace=inplace)

        build.__name__ = name
        return build


Resolved = BuiltinActivation | ExternalActivation


def _unknown_name(name: str) -> UnknownNameError:
    from actlab.activations.plugins import plugin_entry_points

    valid = [*ACTIVATIONS, *plugin_entry_points()]
    msg = unknown_name_message("activation", name, valid)
    return UnknownNameError(
        f"{msg}; or an import path such as 'myacts:Snake' (the current folder is importable)"
    )


def resolve_activation(spec: Spec | Resolved, **overrides: Any) -> Resolved:
    """The activation ``spec`` describes, checked (name, import, arguments) but not built.

    Raises:
        UnknownNameError: a plain name that is neither registered nor a plugin.
        ActlabError: a spec that cannot be parsed, a module that does not import, a missing
            attribute, an object that is not an nn.Module class or factory, unknown or missing
            arguments (each one line).
    """
    if isinstance(spec, (BuiltinActivation, ExternalActivation)):
        if not overrides:
            return spec
        spec_kwargs = {**spec.kwargs, **overrides}
        if isinstance(spec, BuiltinActivation):
            return BuiltinActivation(spec.name, spec_kwargs)
        return ExternalActivation(spec.target, spec_kwargs, spec.path, spec.origin)
    if not isinstance(spec, (str, Mapping)):
        if callable(spec):
            return ExternalActivation(spec, dict(overrides))
        parse_spec(spec)  # raises the one-line error
    name, kwargs = parse_spec(spec)
    kwargs.update(overrides)
    if name in ACTIVATIONS:
        return BuiltinActivation(name, kwargs)
    if _is_path(name):
        target = import_object(name, spec if isinstance(spec, str) else name)
        return ExternalActivation(target, kwargs, name, "import path")
    from actlab.activations.plugins import load_entry_point, plugin_entry_points, plugin_origin

    plugin = plugin_entry_points().get(name)
    if plugin is None:
        raise _unknown_name(name)
    return ExternalActivation(load_entry_point(plugin), kwargs, name, plugin_origin(plugin))


def create_activation(spec: Spec, inplace: bool = False, **overrides: Any) -> nn.Module:
    """Build the activation described by ``spec`` (arguments in ``overrides`` win).

    Examples:
        ``create_activation("cpaf_relu", k=2, granularity="channel")``,
        ``create_activation("cpaf_relu(k=3, granularity=element)")``,
        ``create_activation({"name": "prelu", "init": 0.1})``,
        ``create_activation("myacts.Snake(alpha=0.5)")``, ``create_activation(Snake)``.

    A user's activation whose channel argument (``num_parameters``, ``channels``) is left open
    is a :class:`~actlab.activations.external.DeferredActivation` until its first input.

    Raises:
        UnknownNameError: the name is not registered (the message lists the valid names).
        ActlabError: an argument is unknown (the message lists the valid ones) or invalid.
    """
    return resolve_activation(spec, **overrides).build(inplace)


def _timm_act_layer(name: str) -> Callable[..., nn.Module] | None:
    """timm's activation class for ``name`` (``hard_swish``, ``gelu_tanh``, ...), or None."""
    try:
        from timm.layers import get_act_layer
    except ImportError:  # pragma: no cover - timm is a dependency
        return None
    try:
        return get_act_layer(name)
    except KeyError:
        return None


ActLayer = Spec


def _is_path(name: str) -> bool:
    """Whether ``name`` is an import path (``myacts.Snake``, ``myacts:Snake``), not a plain name."""
    return "." in name or ":" in name


def activation_layer(spec: ActLayer) -> Callable[..., nn.Module]:
    """The one activation factory of actlab's nets (and of ``act_layer`` in ``backbone_kwargs``),
    timm-style: ``act_layer(inplace=True)`` builds a fresh module per call.

    torch's and timm's activation classes pass through unchanged. A spec naming an actlab
    activation (``"cpaf_relu(k=2)"``, ``{"name": "prelu"}``) builds that activation; an import
    path, a plugin's name, a user's class or factory builds that, with ``inplace`` passed only
    where it is taken and the channel argument filled per site; another plain name is looked up
    in timm (``"hard_swish"``).

    Raises:
        UnknownNameError: neither actlab nor timm knows the name (the message lists both).
        ActlabError: a spec that cannot be parsed, or arguments the activation does not take.
    """
    from actlab.activations.sites import ACTIVATION_TYPES

    if not isinstance(spec, (str, Mapping)):
        if isinstance(spec, type) and issubclass(spec, ACTIVATION_TYPES):
            return spec  # torch's, timm's and actlab's classes take inplace as timm expects
        if callable(spec):
            return resolve_activation(spec).factory()
        raise ActlabError(f"act_layer must be an activation spec, class or factory; got {spec!r}")
    name, kwargs = parse_spec(spec)
    if name not in ACTIVATIONS and isinstance(spec, str) and not kwargs and not _is_path(name):
        from actlab.activations.plugins import plugin_entry_points

        if name not in plugin_entry_points():
            timm_layer = _timm_act_layer(name)
            if timm_layer is not None:
                return timm_layer
            msg = str(_unknown_name(name))
            raise UnknownNameError(f"{msg}; or a timm activation name (timm.layers.get_act_layer)")
    return resolve_activation(spec).factory()
