"""``actlab activations``: every activation a spec can name, with its origin, whether it is
trainable and its arguments with their defaults.

``--help`` needs nothing beyond argparse; the listing itself imports torch (it builds each
activation once to see whether it has parameters).
"""

from __future__ import annotations

import argparse
import inspect
from collections.abc import Sequence
from typing import Any

#: Shown for the argument actlab fills with the site's channel count.
SITE_CHANNELS = "<site's channels>"


def parser() -> argparse.ArgumentParser:
    """The command's options."""
    p = argparse.ArgumentParser(
        prog="actlab activations",
        description=(
            "List every activation: the built-in ones, those of installed plugins (entry-point "
            "group actlab.activations) and any import path given, with origin, trainable or "
            "not, and arguments (defaults)."
        ),
    )
    p.add_argument(
        "specs",
        nargs="*",
        metavar="SPEC",
        help="also describe these specs: import paths such as myacts:Snake or myacts.Snake "
        "(the current folder is importable)",
    )
    p.add_argument("--trainable", action="store_true", help="list only activations with parameters")
    return p


def _value(value: Any) -> str:
    return value if isinstance(value, str) else repr(value)


def describe(resolved: Any) -> dict[str, str]:
    """``name``, ``origin``, ``trainable`` (yes, no, ?) and ``arguments`` of a resolved spec."""
    from actlab.activations import ExternalActivation, activation_arguments

    if isinstance(resolved, ExternalActivation):
        arguments = resolved.arguments()
        channel = resolved.channel_argument
        shown = [
            f"{k}={SITE_CHANNELS}"
            if k == channel
            else (f"{k} (required)" if v is inspect.Parameter.empty else f"{k}={_value(v)}")
            for k, v in arguments.items()
        ]
        try:
            module = resolved.build(input_shape=(2, 4))
            trainable = "yes" if any(True for _ in module.parameters()) else "no"
        except Exception:  # noqa: BLE001 - required arguments, or it needs a real input
            trainable = "?"
    else:
        shown = [f"{k}={_value(v)}" for k, v in activation_arguments(resolved.name).items()]
        trainable = "yes" if getattr(resolved.target, "trainable", False) else "no"
    return {
        "name": resolved.path,
        "origin": resolved.origin,
        "trainable": trainable,
        "arguments": ", ".join(shown) or "-",
    }


def rows(specs: Sequence[str] = ()) -> list[dict[str, str]]:
    """One row per built-in activation, installed plugin and given spec."""
    from actlab.activations import ACTIVATIONS, BuiltinActivation, resolve_activation
    from actlab.activations.plugins import plugin_entry_points, plugin_origin
    from actlab.errors import ActlabError

    found = [describe(BuiltinActivation(name, {})) for name in sorted(ACTIVATIONS)]
    for name, ep in sorted(plugin_entry_points().items()):
        if name in ACTIVATIONS:
            found.append({"name": name, "origin": plugin_origin(ep), "trainable": "-",
                          "arguments": f"shadowed by the built-in {name!r}"})  # fmt: skip
            continue
        try:
            found.append(describe(resolve_activation(name)))
        except ActlabError as err:
            found.append({"name": name, "origin": plugin_origin(ep), "trainable": "?",
                          "arguments": f"does not load: {err}"})  # fmt: skip
    for spec in specs:
        found.append(describe(resolve_activation(spec)))
    return found


def activations(argv: Sequence[str]) -> int:
    """Print the table of :func:`rows`; exit status 0 (2 for a spec that does not resolve)."""
    args = parser().parse_args(list(argv))
    table = rows(args.specs)
    if args.trainable:
        table = [r for r in table if r["trainable"] == "yes"]
    heads = {
        "name": "name",
        "origin": "origin",
        "trainable": "trainable",
        "arguments": "arguments (defaults)",
    }
    widths = {k: max(len(r[k]) for r in [heads, *table]) for k in ("name", "origin", "trainable")}
    for row in [heads, *table]:
        print("  ".join([*(row[k].ljust(widths[k]) for k in widths), row["arguments"]]).rstrip())
    return 0
