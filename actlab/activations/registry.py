"""The activation registry: register, list and build activations from specs.

A spec is a name (``"prelu"``), a name with call-style arguments in one string
(``"cpaf_relu(k=3, granularity=element)"``) or a mapping (``{"name": "cpaf_relu", "k": 2}``).
Every built activation carries its canonical spec string (``module.spec``) for run names.
"""

from __future__ import annotations

import ast
import inspect
import re
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from torch import nn

from actlab.errors import ActlabError, UnknownNameError, unknown_name_message

#: name -> activation class. Classes accept ``inplace`` as their first parameter.
ACTIVATIONS: dict[str, type[nn.Module]] = {}

Spec = str | Mapping[str, Any]
C = TypeVar("C", bound=type)

_SPEC_RE = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(?:\((.*)\))?\s*$", re.DOTALL)


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
    """Split a spec into its name and keyword arguments (not yet validated against the class)."""
    if isinstance(spec, Mapping):
        kwargs = dict(spec)
        name = kwargs.pop("name", None)
        if not isinstance(name, str):
            raise ActlabError(f"activation spec {dict(spec)!r} needs a `name` key")
        return name, kwargs
    if not isinstance(spec, str):
        raise ActlabError(f"activation spec must be a string or mapping, got {spec!r}")
    match = _SPEC_RE.match(spec)
    if match is None:
        raise ActlabError(f"cannot parse activation spec {spec!r}; expected e.g. 'cpaf_relu(k=2)'")
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


def create_activation(spec: Spec, inplace: bool = False, **overrides: Any) -> nn.Module:
    """Build the activation described by ``spec`` (arguments in ``overrides`` win).

    Examples:
        ``create_activation("cpaf_relu", k=2, granularity="channel")``,
        ``create_activation("cpaf_relu(k=3, granularity=element)")``,
        ``create_activation({"name": "prelu", "init": 0.1})``.

    Raises:
        UnknownNameError: the name is not registered (the message lists the valid names).
        ActlabError: an argument is unknown (the message lists the valid ones) or invalid.
    """
    name, kwargs = parse_spec(spec)
    kwargs.update(overrides)
    cls = _lookup(name)
    valid = activation_arguments(name)
    unknown = sorted(set(kwargs) - set(valid))
    if unknown:
        listed = ", ".join(f"{k}={_format_value(v)}" for k, v in valid.items()) or "none"
        msg = f"activation {name!r} has no argument(s) {', '.join(unknown)}; valid (defaults): {listed}"
        raise ActlabError(msg)
    try:
        module = cls(inplace, **kwargs)
    except (TypeError, ValueError) as err:
        if isinstance(err, ActlabError):
            raise
        raise ActlabError(f"activation {name!r} rejected {kwargs}: {err}") from err
    module.spec = canonical_spec(name, kwargs)
    return module


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


ActLayer = Spec | type[nn.Module] | Callable[..., nn.Module]


def activation_layer(spec: ActLayer) -> Callable[..., nn.Module]:
    """The one activation factory of actlab's nets (and of ``act_layer`` in ``backbone_kwargs``),
    timm-style: ``act_layer(inplace=True)`` builds a fresh module per call.

    Classes and other callables pass through unchanged. A spec naming an actlab activation
    (``"cpaf_relu(k=2)"``, ``{"name": "prelu"}``) builds that activation; another plain name is
    looked up in timm (``"hard_swish"``).

    Raises:
        UnknownNameError: neither actlab nor timm knows the name (the message lists both).
        ActlabError: a spec that cannot be parsed, or arguments the activation does not take.
    """
    if not isinstance(spec, (str, Mapping)):
        if callable(spec):
            return spec
        raise ActlabError(f"act_layer must be an activation spec, class or factory; got {spec!r}")
    name, kwargs = parse_spec(spec)
    if name in ACTIVATIONS:
        create_activation(spec)  # check the arguments now, not at the first site

        def build(inplace: bool = False, **more: Any) -> nn.Module:
            return create_activation({"name": name, **kwargs, **more}, inplace=inplace)

        build.__name__ = name
        return build
    timm_layer = _timm_act_layer(name) if isinstance(spec, str) and not kwargs else None
    if timm_layer is not None:
        return timm_layer
    msg = unknown_name_message("activation", name, list(ACTIVATIONS))
    raise UnknownNameError(f"{msg}; or a timm activation name (timm.layers.get_act_layer)")
