"""The one seam between actlab and Lightning's private internals.

Everything actlab needs from Lightning that is not public API is reached here and nowhere else,
so that a Lightning release that changes it breaks in one place, loudly: :func:`check` names the
missing hook and the tested range (``tests/test_compat.py`` runs it, and every hook is also
exercised end to end by the tracking tests). The range the tests cover is pinned in
``pyproject.toml`` (:data:`LIGHTNING_TESTED`).

What is used, and why:

- ``Trainer._logger_connector`` (``_first_loop_iter``, ``metrics``) and ``Trainer._results``:
  the epoch-level train metrics Lightning is about to log, stored in ``last.ckpt`` so that a fit
  killed before Lightning logs them still logs them on resume (:func:`unlogged_train_epoch_metrics`).
- ``ModelCheckpoint._save_last_checkpoint``, ``_should_skip_saving_checkpoint``,
  ``_should_save_on_train_epoch_end``, ``_monitor_candidates``: ``ResumableCheckpoint`` rewrites
  ``last.ckpt`` after every epoch (Lightning only does when a top-k checkpoint was saved).
- ``MLFlowLogger.experiment`` (its getter), ``_get_resolve_tags``, ``_scan_and_log_checkpoints``
  and the logger's private state (``_mlflow_client``, ``_run_id``, ...): actlab's logger creates
  its run itself when the server is down, and reuses Lightning's run creation otherwise.
- ``lightning.fabric.utilities.logger._convert_params``/``_flatten_dict``: params as flat keys.

- ``lightning.pytorch.overrides.distributed.UnrepeatedDistributedSampler`` (not in Lightning's
  documented API; Lightning uses it for ``predict``): the validation and test splits of a DDP
  run are split over the ranks without padding, so every sample is evaluated exactly once
  (:func:`unrepeated_sampler`; torch's ``DistributedSampler`` repeats samples to even out).

- ``_LoggerConnector.update_train_epoch_metrics``: the test helper ``KillAtEpochEnd`` kills a fit
  right where Lightning would log the epoch's train metrics (:func:`before_train_epoch_logging`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

#: Lightning versions the tests cover (also the pin in ``pyproject.toml``).
LIGHTNING_TESTED = ">=2.6,<2.7"

#: Private attributes of ``MLFlowLogger`` that ``ActlabMLFlowLogger`` reads or sets.
MLFLOW_LOGGER_STATE = (
    "_mlflow_client",
    "_initialized",
    "_run_id",
    "_run_name",
    "_experiment_name",
    "_experiment_id",
    "_artifact_location",
    "_tracking_uri",
    "_checkpoint_callback",
)
#: Names :class:`MLFlowLoggerState` gives that state (``_pl`` + the private name).
MLFLOW_STATE_NAMES = {name: f"_pl{name}" for name in MLFLOW_LOGGER_STATE}
#: Private methods of ``ModelCheckpoint`` that ``ResumableCheckpoint`` calls or overrides.
CHECKPOINT_HOOKS = (
    "_save_last_checkpoint",
    "_should_skip_saving_checkpoint",
    "_should_save_on_train_epoch_end",
    "_monitor_candidates",
)


class CompatError(RuntimeError):
    """A private Lightning hook that actlab relies on is missing or changed."""


def _broken(what: str) -> CompatError:
    import lightning

    msg = (
        f"lightning {lightning.__version__} changed {what}, which actlab relies on "
        f"(tested with lightning{LIGHTNING_TESTED}): install a lightning in that range "
        "or update actlab/compat.py"
    )
    return CompatError(msg)


def require(owner: Any, name: str) -> None:
    """Raise :class:`CompatError` unless ``owner`` (a class or object) has attribute ``name``."""
    if not hasattr(owner, name):
        label = owner.__name__ if isinstance(owner, type) else type(owner).__name__
        raise _broken(f"{label}.{name}")


# -- the trainer's not-yet-logged train metrics ----------------------------------------------


def unlogged_train_epoch_metrics(trainer: Any) -> dict[str, Any]:
    """The epoch-level metrics Lightning will log at the end of this training epoch.

    Lightning logs them (``_LoggerConnector.update_train_epoch_metrics``) only after every
    ``on_train_epoch_end`` hook, checkpoint callbacks included; outside that window (the
    connector's ``_first_loop_iter`` is then not ``None``) this returns ``{}``. The values may
    be tensors (synced over DDP ranks when read): call it on every rank.
    """
    connector = trainer._logger_connector
    require(connector, "_first_loop_iter")
    if not trainer.training or connector._first_loop_iter is not None:
        return {}
    if trainer._results is None:
        return {}
    return dict(connector.metrics["log"])


def before_train_epoch_logging(trainer: Any, fn: Any) -> None:
    """Call ``fn()`` instead of Lightning's logging of this epoch's train metrics (tests)."""
    connector = trainer._logger_connector
    require(connector, "update_train_epoch_metrics")
    connector.update_train_epoch_metrics = fn


# -- ModelCheckpoint -------------------------------------------------------------------------


def save_last_checkpoint(callback: Any, trainer: Any) -> None:
    """Write ``last.ckpt`` now, with the trainer's current monitor candidates."""
    callback._save_last_checkpoint(trainer, callback._monitor_candidates(trainer))


def saves_on_train_epoch_end(callback: Any, trainer: Any) -> bool:
    """Whether ``callback`` saves at the end of training epochs (not after validation)."""
    return callback._should_save_on_train_epoch_end(trainer)


def skips_saving(callback: Any, trainer: Any) -> bool:
    """Whether ``callback`` must not save now (sanity check, fast dev run, same step, ...)."""
    return callback._should_skip_saving_checkpoint(trainer)


# -- MLFlowLogger ----------------------------------------------------------------------------


def _state(name: str) -> property:
    """A read-write property over the logger's private attribute ``name``."""

    def get(self: Any) -> Any:
        return getattr(self, name)

    def set_(self: Any, value: Any) -> None:
        setattr(self, name, value)

    return property(get, set_, doc=f"``MLFlowLogger.{name}`` (private; see actlab.compat)")


class MLFlowLoggerState:
    """Mixin for a subclass of ``MLFlowLogger``: Lightning's private state of the logger under
    names of actlab's own (``_pl_run_id`` is ``_run_id``, ...; :data:`MLFLOW_STATE_NAMES`), so
    that :class:`actlab.tracking.mlflow.ActlabMLFlowLogger` never names a private attribute of
    Lightning's and :func:`check` verifies each on a real logger."""

    _pl_mlflow_client = _state("_mlflow_client")
    _pl_initialized = _state("_initialized")
    _pl_run_id = _state("_run_id")
    _pl_run_name = _state("_run_name")
    _pl_experiment_name = _state("_experiment_name")
    _pl_experiment_id = _state("_experiment_id")
    _pl_artifact_location = _state("_artifact_location")
    _pl_tracking_uri = _state("_tracking_uri")
    _pl_checkpoint_callback = _state("_checkpoint_callback")


def create_mlflow_run(logger: Any) -> Any:
    """Lightning's own run creation (``MLFlowLogger.experiment``), bypassing a subclass's getter."""
    from lightning.pytorch.loggers import MLFlowLogger

    return MLFlowLogger.experiment.fget(logger)


def resolve_run_tags(tags: Mapping[str, Any]) -> dict[str, str]:
    """``tags`` plus MLflow's context tags (user, source, git commit), as Lightning adds them."""
    from lightning.pytorch.loggers.mlflow import _get_resolve_tags

    return dict(_get_resolve_tags()(dict(tags)))


def log_checkpoints(logger: Any) -> None:
    """Upload new checkpoints as artifacts when the logger's ``log_model`` asks for it."""
    if logger._checkpoint_callback:
        logger._scan_and_log_checkpoints(logger._checkpoint_callback)


def flatten_params(params: Mapping[str, Any] | Any) -> dict[str, Any]:
    """Params (a mapping or a namespace) as one flat mapping with ``/``-free dotted keys."""
    from lightning.fabric.utilities.logger import _convert_params, _flatten_dict

    return _flatten_dict(_convert_params(params))


def unrepeated_sampler(dataset: Any, num_replicas: int, rank: int) -> Any:
    """A sampler giving rank ``rank`` of ``num_replicas`` its share of ``dataset``, in order and
    without padding (the ranks' shares differ by at most one sample)."""
    from lightning.pytorch.overrides.distributed import UnrepeatedDistributedSampler

    return UnrepeatedDistributedSampler(
        dataset, num_replicas=num_replicas, rank=rank, shuffle=False
    )


def check() -> None:
    """Raise :class:`CompatError` naming the first private hook the installed Lightning lacks."""
    from lightning.fabric.utilities import logger as fabric_logger
    from lightning.pytorch.callbacks import ModelCheckpoint
    from lightning.pytorch.loggers import MLFlowLogger
    from lightning.pytorch.loggers import mlflow as pl_mlflow
    from lightning.pytorch.trainer.connectors.logger_connector.logger_connector import (
        _LoggerConnector,
    )

    hooks: list[tuple[Any, str]] = [
        (fabric_logger, "_convert_params"),
        (fabric_logger, "_flatten_dict"),
        (pl_mlflow, "_get_resolve_tags"),
        (MLFlowLogger, "_scan_and_log_checkpoints"),
        (_LoggerConnector, "metrics"),
        (_LoggerConnector, "update_train_epoch_metrics"),
        *((ModelCheckpoint, name) for name in CHECKPOINT_HOOKS),
    ]
    from lightning.pytorch.overrides import distributed as pl_distributed

    hooks.append((pl_distributed, "UnrepeatedDistributedSampler"))
    for owner, name in hooks:
        if not hasattr(owner, name):
            raise _broken(f"{getattr(owner, '__name__', owner)}.{name}")
    if not isinstance(getattr(MLFlowLogger, "experiment", None), property):
        raise _broken("MLFlowLogger.experiment (no longer a property)")
    from lightning import Trainer

    if not isinstance(getattr(Trainer, "_results", None), property):
        raise _broken("Trainer._results (no longer a property)")
    trainer = Trainer(logger=False, enable_checkpointing=False, enable_progress_bar=False)
    require(trainer, "_logger_connector")
    require(trainer._logger_connector, "_first_loop_iter")
    logger = MLFlowLogger(tracking_uri="sqlite:///:memory:")
    for name in MLFLOW_LOGGER_STATE:
        require(logger, name)


def overrides(base: type, *names: str) -> Callable[[type], type]:
    """Class decorator: fail at import when ``base`` no longer has the private ``names`` that
    the decorated subclass overrides (an override of a renamed hook would silently never run)."""

    def verify(cls: type) -> type:
        for name in names:
            require(base, name)
        return cls

    return verify
