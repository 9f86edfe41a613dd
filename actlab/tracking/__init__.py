"""MLflow tracking: the default store, actlab's logger and the config-saving callback."""

from actlab.tracking.mlflow import (
    DEFAULT_EXPERIMENT,
    ActlabMLFlowLogger,
    default_tracking_uri,
    mlruns_dir,
)

__all__ = ["DEFAULT_EXPERIMENT", "ActlabMLFlowLogger", "default_tracking_uri", "mlruns_dir"]
