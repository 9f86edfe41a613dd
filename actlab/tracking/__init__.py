"""MLflow tracking: the default store, actlab's logger and the config-saving callback.

The names below are loaded on first use, so that light modules of this package (``links``,
``naming``, ``resilience``) can be imported without Lightning and torch.
"""

from __future__ import annotations

from typing import Any

__all__ = ["DEFAULT_EXPERIMENT", "ActlabMLFlowLogger", "default_tracking_uri", "mlruns_dir"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from actlab.tracking import mlflow

        return getattr(mlflow, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
