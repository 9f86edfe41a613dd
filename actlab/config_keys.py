"""A resolved config as flat dotted keys: the form actlab's hashes, params and resume checks read.

One flattening serves the fit hash a checkpoint carries (:func:`actlab.fit.checkpoints.fit_config`),
a run's params (:mod:`actlab.tracking.config`) and a sweep's configuration hash and replicate
keys (:mod:`actlab.sweep.spec`), so a key means the same option in all three.

Light: standard library only (``actlab sweep`` and ``actlab report`` import it).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def flat_config(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"class_path": X, "init_args": {"b": 1}}}`` -> ``{"a.class_path": X, "a.b": 1}``.

    jsonargparse's ``init_args`` level is dropped, and so are its ``__path__`` entries (where an
    included file was found, not what it holds). An empty mapping stays one key.
    """
    flat: dict[str, Any] = {}
    for key, value in config.items():
        if key == "__path__":
            continue
        if key == "init_args" and isinstance(value, Mapping):
            flat.update(flat_config(value, prefix))
            continue
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(flat_config(value, f"{name}."))
        else:
            flat[name] = value
    return flat
