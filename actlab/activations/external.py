"""Activations from outside actlab: an import path, a class or a factory, built without any
actlab-specific contract.

The user's class needs no ``inplace`` parameter (timm's ``act_layer(inplace=True)`` is adapted:
``inplace`` is passed only to a class that takes it) and no registration. Parameters per site
come from the site's input, in either of two ways:

- an ``__init__`` argument named ``num_parameters`` or ``channels`` (as ``nn.PReLU``), which
  actlab fills with the site's channel count (dim 1 of its input) unless the spec gives it; this
  is the recommended way (docs/your-activation.md);
- torch's lazy modules (``nn.UninitializedParameter``), materialised by one call on the site's
  input shape.

A type built from a user's spec becomes an activation site type
(:func:`actlab.activations.sites.register_activation_type`), so the swap, the trainable-activation
definition and the tracking see its modules like torch's and timm's.
"""

from __future__ import annotations

import contextlib
import difflib
import hashlib
import importlib
import inspect
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from actlab.errors import ActlabError, first_line, unknown_name_message

#: ``__init__`` arguments actlab fills with the site's channel count (dim 1 of its input).
CHANNEL_ARGUMENTS = ("num_parameters", "channels")


@contextlib.contextmanager
def current_folder_importable() -> Iterator[None]:
    """The working folder on ``sys.path`` (first, as ``python -m`` puts it) while importing."""
    cwd = os.getcwd()
    added = cwd not in sys.path and "" not in sys.path
    if added:
        sys.path.insert(0, cwd)
    try:
        yield
    finally:
        if added and cwd in sys.path:
            sys.path.remove(cwd)


def _public_names(module: Any) -> list[str]:
    """Classes and functions a module defines or exposes, for 'did you mean' lists."""
    return [
        name
        for name, obj in vars(module).items()
        if not name.startswith("_") and (inspect.isclass(obj) or inspect.isfunction(obj))
    ]


def import_object(path: str, spec: object = None) -> Any:
    """The object ``path`` names: ``module:Qual.name`` or ``module.Qual`` (the longest importable
    module prefix), the current folder importable.

    Raises:
        ActlabError: the module does not import (with its error), or has no such attribute
            (with close names).
    """
    shown = spec if spec is not None else path
    if ":" in path:
        module_name, _, attr = path.partition(":")
        candidates = [(module_name, attr)]
    else:
        parts = path.split(".")
        candidates = [
            (".".join(parts[:i]), ".".join(parts[i:])) for i in range(len(parts) - 1, 0, -1)
        ]
    module, attr, first_error = None, "", None
    with current_folder_importable():
        for module_name, attr in candidates:  # noqa: B007 - attr is used after the loop
            try:
                module = importlib.import_module(module_name)
                break
            except ModuleNotFoundError as err:
                # the module itself (or a parent) is missing: try a shorter prefix
                missing = err.name or ""
                if module_name == missing or module_name.startswith(missing + "."):
                    first_error = first_error or err
                    continue
                first_error = err
                break
            except Exception as err:  # noqa: BLE001 - any failure of the user's module is one line
                first_error = err
                break
    if module is None:
        err = first_error
        module_name = candidates[0][0] if isinstance(err, ModuleNotFoundError) else module_name
        detail = first_line(err) if err is not None else ""
        msg = (
            f"activation {shown!r}: module {module_name!r} does not import "
            f"({type(err).__name__}: {detail}); the current folder {os.getcwd()} and the installed "
            "packages were searched"
        )
        raise ActlabError(msg) from err
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            owner = f"module {module.__name__!r}" if obj is module else repr(obj)
            msg = unknown_name_message(f"attribute of {owner}", part, _public_names(obj))
            raise ActlabError(f"activation {shown!r}: {msg}")
        obj = getattr(obj, part)
    return obj


def qualified_name(obj: Any) -> str:
    """``module.Qualname`` of a class or function (``functools.partial``: of its function)."""
    target = getattr(obj, "func", obj)
    module = getattr(target, "__module__", None) or ""
    name = getattr(target, "__qualname__", None) or type(target).__qualname__
    return f"{module}.{name}" if module else name


def source_sha256(obj: Any) -> tuple[str | None, str | None]:
    """The source file of a class or function and the SHA-256 of its bytes, or ``(None, None)``."""
    target = getattr(obj, "func", obj)
    try:
        path = inspect.getsourcefile(target)
    except TypeError:
        return None, None
    if not path or not Path(path).is_file():
        return None, None
    return path, hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _signature(target: Any) -> inspect.Signature | None:
    try:
        return inspect.signature(target)
    except (TypeError, ValueError):
        return None


def _format(value: Any) -> str:
    return value if isinstance(value, str) else repr(value)


@dataclass
class ExternalActivation:
    """A user's activation class or factory with its keyword arguments.

    Attributes:
        target: the class or factory.
        kwargs: its keyword arguments from the spec.
        path: how the spec names it (``myacts.Snake``, ``snake``, or the qualified name of a
            Python object).
        origin: ``import path``, ``plugin <distribution>`` or ``python object``.
    """

    target: Any
    kwargs: dict[str, Any] = field(default_factory=dict)
    path: str = ""
    origin: str = "python object"

    def __post_init__(self) -> None:
        self.path = self.path or qualified_name(self.target)
        if inspect.isclass(self.target) and not issubclass(self.target, nn.Module):
            msg = (
                f"activation {self.path!r}: {qualified_name(self.target)} is a class but not a "
                "torch.nn.Module; give an nn.Module subclass or a function returning one"
            )
            raise ActlabError(msg)
        if not callable(self.target):
            msg = (
                f"activation {self.path!r} is a {type(self.target).__name__}, not an nn.Module "
                "class or a function returning one"
            )
            raise ActlabError(msg)
        self.signature = _signature(self.target)
        self.check_arguments()

    # -- the signature ---------------------------------------------------------------------

    def _parameters(self) -> list[inspect.Parameter]:
        if self.signature is None:
            return []
        return [
            p
            for p in self.signature.parameters.values()
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
        ]

    @property
    def takes_any_keyword(self) -> bool:
        return self.signature is None or any(
            p.kind is p.VAR_KEYWORD for p in self.signature.parameters.values()
        )

    def arguments(self) -> dict[str, Any]:
        """Keyword arguments and their defaults (``inspect.Parameter.empty`` if required);
        ``inplace`` left out."""
        return {p.name: p.default for p in self._parameters() if p.name != "inplace"}

    @property
    def takes_inplace(self) -> bool:
        return any(p.name == "inplace" for p in self._parameters())

    @property
    def channel_argument(self) -> str | None:
        """The argument actlab fills with the site's channel count, if the spec leaves it."""
        names = [p.name for p in self._parameters()]
        found = next((n for n in CHANNEL_ARGUMENTS if n in names), None)
        return found if found is not None and found not in self.kwargs else None

    def check_arguments(self) -> None:
        """Unknown or missing required arguments: one line each, before anything is built."""
        valid = self.arguments()
        listed = ", ".join(
            f"{k}={_format(v)}" if v is not inspect.Parameter.empty else k for k, v in valid.items()
        )
        unknown = sorted(set(self.kwargs) - set(valid))
        if unknown and not self.takes_any_keyword:
            close = difflib.get_close_matches(unknown[0], list(valid), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            msg = (
                f"activation {self.path!r} has no argument(s) {', '.join(unknown)}{hint} "
                f"valid (defaults): {listed or 'none'}"
            )
            raise ActlabError(msg)
        filled = {self.channel_argument, "inplace"}
        missing = [
            k
            for k, v in valid.items()
            if v is inspect.Parameter.empty and k not in self.kwargs and k not in filled
        ]
        if missing:
            example = ", ".join(f"{k}=..." for k in missing)
            msg = (
                f"activation {self.path!r} is missing required argument(s) {', '.join(missing)}; "
                f"give them as '{self.path}({example})' or in init_args"
            )
            raise ActlabError(msg)

    # -- names -------------------------------------------------------------------------------

    @property
    def spec(self) -> str:
        """``path(arg=value, ...)`` with the arguments that differ from their defaults."""
        defaults = self.arguments()
        shown = [
            f"{k}={_format(v)}"
            for k, v in self.kwargs.items()
            if k not in defaults or defaults[k] != v
        ]
        return f"{self.path}({', '.join(shown)})" if shown else self.path

    @property
    def site_dependent(self) -> bool:
        """Whether the parameters depend on the site (channel argument, or lazy parameters)."""
        if self.channel_argument is not None:
            return True
        try:
            probe = self.build()
        except ActlabError:
            return False
        return has_lazy_parameters(probe)

    # -- building ----------------------------------------------------------------------------

    def build(
        self, inplace: bool = False, input_shape: Sequence[int] | None = None, **more: Any
    ) -> nn.Module:
        """A fresh module; ``input_shape`` (batch first) fills the channel argument, else a
        :class:`DeferredActivation` fills it at the first input when it has no default."""
        kwargs = {**self.kwargs, **more}
        channel = self.channel_argument
        if channel is not None and channel not in more:
            if input_shape is not None:
                kwargs[channel] = int(input_shape[1]) if len(input_shape) > 1 else 1
            else:
                return DeferredActivation(self, channel, kwargs)
        if self.takes_inplace:
            kwargs["inplace"] = inplace
        return self._call(kwargs)

    def _call(self, kwargs: dict[str, Any]) -> nn.Module:
        try:
            module = self.target(**kwargs)
        except ActlabError:
            raise
        except (TypeError, ValueError) as err:
            raise ActlabError(f"activation {self.path!r} rejected {kwargs}: {err}") from err
        if not isinstance(module, nn.Module):
            msg = (
                f"activation {self.path!r}: the factory {qualified_name(self.target)} returned "
                f"{module!r}, not an nn.Module"
            )
            raise ActlabError(msg)
        from actlab.activations.sites import register_activation_type  # sites imports the registry

        register_activation_type(type(module))
        return module

    def factory(self) -> Callable[..., nn.Module]:
        """timm's ``act_layer``: ``factory(inplace=True)``, ``factory(True)`` or ``factory()``."""

        def build(*args: Any, **kwargs: Any) -> nn.Module:
            inplace = bool(kwargs.pop("inplace", args[0] if args else False))
            return self.build(inplace, **kwargs)

        build.__name__ = self.path.rsplit(".", 1)[-1]
        build.__qualname__ = build.__name__
        return build


def has_lazy_parameters(module: nn.Module) -> bool:
    """Whether ``module`` holds parameters or buffers not created yet (torch's lazy modules)."""
    return any(
        isinstance(t, nn.parameter.UninitializedTensorMixin)
        for t in (*module.parameters(), *module.buffers())
    )


def check_shape(
    module: nn.Module, input_shape: Sequence[int], output: Any, spec: str, site: str
) -> None:
    """An activation keeps its input's shape: raise naming the site otherwise."""
    got = tuple(output.shape) if isinstance(output, torch.Tensor) else type(output).__name__
    if got != tuple(input_shape):
        msg = (
            f"activation {spec!r} changes the shape of its input at site {site or '<root>'}: "
            f"{tuple(input_shape)} -> {got}; an activation must return a tensor shaped like its input"
        )
        raise ActlabError(msg)


def probe_site(
    module: nn.Module,
    input_shape: Sequence[int],
    spec: str,
    site: str,
    device: torch.device | None = None,
    dtype: torch.dtype | None = None,
) -> None:
    """Call ``module`` once on zeros shaped like the site's input (eval mode, no gradients):
    creates lazy parameters and checks that it keeps the shape."""
    training = module.training
    module.eval()
    x = torch.zeros(*input_shape, device=device, dtype=dtype)
    try:
        with torch.no_grad():
            out = module(x)
    except ActlabError:
        raise
    except Exception as err:  # noqa: BLE001 - the user's forward failing is one line
        first = first_line(err)
        msg = (
            f"activation {spec!r} failed on the input of site {site or '<root>'} shaped "
            f"{tuple(input_shape)}: {type(err).__name__}: {first}"
        )
        raise ActlabError(msg) from err
    finally:
        module.train(training)
    check_shape(module, input_shape, out, spec, site)


class DeferredActivation(nn.Module):
    """A user activation whose channel argument waits for the site's input: built at the first
    call (or by :func:`actlab.activations.materialize_activations`, which then puts the built
    module in its place)."""

    def __init__(self, external: ExternalActivation, argument: str, kwargs: dict[str, Any]):
        super().__init__()
        self.external, self.argument, self.kwargs = external, argument, kwargs
        self.module: nn.Module | None = None

    def materialize(self, input_shape: Sequence[int]) -> nn.Module:
        if self.module is None:
            more = {self.argument: int(input_shape[1]) if len(input_shape) > 1 else 1}
            self.module = self.external.build(**{**self.kwargs, **more})
        return self.module

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.materialize(tuple(x.shape))(x)

    def extra_repr(self) -> str:
        return f"{self.external.spec}, {self.argument}=<from the first input>"
