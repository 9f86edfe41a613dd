"""MLflow defaults: the local SQLite store under ``mlruns/`` and actlab's MLflow logger."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from lightning.pytorch.loggers import MLFlowLogger
from lightning.pytorch.utilities import rank_zero_only

#: Folder of the local store (``mlruns/mlflow.db``), its artifacts and checkpoints.
MLRUNS_DIR = "mlruns"
#: Experiment runs land in unless a config names another.
DEFAULT_EXPERIMENT = "actlab"
#: Param values longer than this are cut (MLflow's limit is 6000 characters).
MAX_PARAM_LENGTH = 6000


def mlruns_dir() -> Path:
    """Absolute path of ``mlruns/`` (``ACTLAB_MLRUNS`` overrides), created on first use."""
    path = Path(os.environ.get("ACTLAB_MLRUNS", MLRUNS_DIR)).resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


def default_tracking_uri() -> str:
    """``MLFLOW_TRACKING_URI`` when set, else SQLite at ``mlruns/mlflow.db``; read at call time."""
    uri = os.environ.get("MLFLOW_TRACKING_URI")
    if uri:
        return uri
    return f"sqlite:///{mlruns_dir() / 'mlflow.db'}"


def default_artifact_location(tracking_uri: str, experiment_name: str) -> str | None:
    """Artifacts of a local SQLite store go under ``mlruns/artifacts/``; servers choose their own."""
    if not tracking_uri.startswith("sqlite:"):
        return None
    db = Path(tracking_uri.removeprefix("sqlite:///"))
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in experiment_name)
    return (db.parent / "artifacts" / safe).as_uri()


def is_epoch_metric(key: str) -> bool:
    """Metrics logged once per epoch use the epoch as their MLflow step; ``*_step`` ones do not."""
    return not key.endswith("_step")


class ActlabMLFlowLogger(MLFlowLogger):
    """Lightning's MLflow logger with actlab's defaults.

    - The tracking URI is resolved when the logger is built (``MLFLOW_TRACKING_URI`` wins, else
      SQLite at ``mlruns/mlflow.db``); there is no file-store fallback.
    - Per-epoch metrics are logged with ``step = epoch`` so MLflow's charts line runs up by
      epoch; per-step metrics (``*_step``) keep the global step.
    - Checkpoints go to ``mlruns/<experiment id>/<run id>/checkpoints`` for every backend.

    Args:
        experiment_name: MLflow experiment of the run.
        run_name: run name; when ``None`` the CLI names it ``<model>-<activation>-<dataset>``.
        tracking_uri: store or server URI; ``None`` resolves as described above.
        tags: extra run tags.
        artifact_location: artifact root of a newly created experiment.
        run_id: attach to this existing run instead of creating one.
        log_model: upload checkpoints as artifacts (see Lightning's ``MLFlowLogger``).
    """

    def __init__(
        self,
        experiment_name: str = DEFAULT_EXPERIMENT,
        run_name: str | None = None,
        tracking_uri: str | None = None,
        tags: dict[str, Any] | None = None,
        artifact_location: str | None = None,
        run_id: str | None = None,
        log_model: Literal[True, False, "all"] = False,
    ) -> None:
        uri = tracking_uri or default_tracking_uri()
        super().__init__(
            experiment_name=experiment_name,
            run_name=run_name,
            tracking_uri=uri,
            tags=dict(tags or {}),
            artifact_location=artifact_location or default_artifact_location(uri, experiment_name),
            run_id=run_id,
            log_model=log_model,
        )

    @property
    def tracking_uri(self) -> str:
        """The resolved tracking URI."""
        return self._tracking_uri

    @property
    def save_dir(self) -> str:
        """Local root for checkpoints: ``mlruns/`` whatever the tracking backend."""
        return str(mlruns_dir())

    def describe(self, model: str, activation: str, dataset: str) -> None:
        """Name and tag the run before it is created (no-op for a run that already exists)."""
        if self._initialized or self._run_id is not None:
            return
        if self._run_name is None:
            self._run_name = f"{model}-{activation}-{dataset}"
        self.tags = {"model": model, "activation": activation, "dataset": dataset, **self.tags}

    @rank_zero_only
    def log_hyperparams(self, params: Mapping[str, Any] | Any) -> None:
        """Log flat params, values cut to MLflow's limit (Lightning cuts them at 250)."""
        from lightning.fabric.utilities.logger import _convert_params, _flatten_dict
        from mlflow.entities import Param

        flat = _flatten_dict(_convert_params(params))
        items = [Param(key=k, value=str(v)[:MAX_PARAM_LENGTH]) for k, v in flat.items()]
        for start in range(0, len(items), 100):
            self.experiment.log_batch(run_id=self.run_id, params=items[start : start + 100])

    @rank_zero_only
    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        """Log ``metrics``; epoch-level keys get ``step = epoch``, ``*_step`` keys the global step."""
        metrics = dict(metrics)
        epoch = metrics.pop("epoch", None)
        per_step = {k: v for k, v in metrics.items() if not is_epoch_metric(k)}
        per_epoch = {k: v for k, v in metrics.items() if is_epoch_metric(k)}
        if per_step:
            super().log_metrics(per_step, step)
        if per_epoch:
            super().log_metrics(per_epoch, int(epoch) if epoch is not None else step)
