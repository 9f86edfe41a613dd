"""Activations and nets from installed packages, found by entry point.

A package declares its activations in the entry-point group ``actlab.activations`` (name ->
class or factory) and its nets in ``actlab.models`` (name -> a timm model function, or the module
whose import registers it with timm)::

    [project.entry-points."actlab.activations"]
    snake = "their_acts:Snake"

    [project.entry-points."actlab.models"]
    their_net = "their_acts.nets:their_net"

After ``pip install their-acts``, ``activation: snake`` works in configs and sweeps without an
import line. Entry points are read with :func:`importlib.metadata.entry_points` and loaded only
when a name is used (or listed by ``actlab activations``); a built-in name always wins.
"""

from __future__ import annotations

from importlib.metadata import EntryPoint, entry_points
from typing import Any

from actlab.errors import ActlabError, first_line

#: Entry-point group of activations: name -> class or factory.
ACTIVATION_GROUP = "actlab.activations"
#: Entry-point group of nets: name -> timm model function (or a module that registers it).
MODEL_GROUP = "actlab.models"


def plugin_entry_points(group: str = ACTIVATION_GROUP) -> dict[str, EntryPoint]:
    """The installed entry points of ``group`` by name (the first of a repeated name wins)."""
    found: dict[str, EntryPoint] = {}
    for ep in entry_points(group=group):
        found.setdefault(ep.name, ep)
    return found


def plugin_origin(ep: EntryPoint) -> str:
    """``plugin <distribution>`` (``plugin`` where the distribution is unknown)."""
    dist = getattr(ep, "dist", None)
    return f"plugin {dist.name}" if dist is not None and dist.name else "plugin"


def load_entry_point(ep: EntryPoint, kind: str = "activation") -> Any:
    """The object ``ep`` names; a plugin that fails to load is one line naming its package."""
    try:
        return ep.load()
    except Exception as err:  # noqa: BLE001 - a broken plugin is the user's to fix: one line
        first = first_line(err)
        msg = (
            f"{kind} plugin {ep.name!r} ({ep.value}, {plugin_origin(ep)}) does not load "
            f"({type(err).__name__}: {first})"
        )
        raise ActlabError(msg) from err


def load_model_plugins() -> list[str]:
    """Register every ``actlab.models`` entry point that timm does not know yet; their names."""
    import timm
    from timm.models import register_model

    added = []
    for name, ep in plugin_entry_points(MODEL_GROUP).items():
        if timm.is_model(name):
            continue
        obj = load_entry_point(ep, "model")
        if not timm.is_model(name) and callable(obj) and getattr(obj, "__name__", "") == name:
            register_model(obj)
        if timm.is_model(name):
            added.append(name)
    return added
