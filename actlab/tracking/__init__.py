"""MLflow tracking: the default store, actlab's logger and the config-saving callback.

The names below are imported on first use, so that the light modules of this package (``store``,
standard library only; ``links``, ``naming``, ``resilience``) can be imported without Lightning
and torch.
"""

from __future__ import annotations

import importlib
from typing import Any

#: Public name -> module that defines it.
_EXPORTS = {
    "DEFAULT_EXPERIMENT": "actlab.tracking.store",
    "default_tracking_uri": "actlab.tracking.store",
    "mlruns_dir": "actlab.tracking.store",
    "ActlabMLFlowLogger": "actlab.tracking.mlflow",
}

__all__ = ["DEFAULT_EXPERIMENT", "ActlabMLFlowLogger", "default_tracking_uri", "mlruns_dir"]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
