"""Saves the resolved config of a run into MLflow: as ``config.yaml`` and as flat params."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lightning import LightningModule, Trainer
from lightning.pytorch.cli import SaveConfigCallback
from lightning.pytorch.loggers import MLFlowLogger

#: Top-level config keys that are not hyperparameters.
_SKIP_KEYS = {"config", "subcommand"}


def flatten_config(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Flatten a nested config to dotted keys, dropping jsonargparse's ``init_args`` level.

    ``{"model": {"class_path": "X", "init_args": {"lr": 1}}}`` becomes
    ``{"model.class_path": "X", "model.lr": 1}``.
    """
    flat: dict[str, Any] = {}
    for key, value in config.items():
        if not prefix and key in _SKIP_KEYS:
            continue
        if key == "init_args" and isinstance(value, Mapping):
            flat.update(flatten_config(value, prefix))
            continue
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(flatten_config(value, f"{name}."))
        else:
            flat[name] = value
    return flat


class MLflowSaveConfigCallback(SaveConfigCallback):
    """Logs the resolved config to the run (``config.yaml`` artifact + flattened params).

    Used with ``save_to_log_dir=False``, so no ``config.yaml`` is written into the experiment
    root: the known clash of LightningCLI's default callback with MLflow's directory layout.
    """

    def save_config(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        text = self.parser.dump(self.config, skip_none=False)
        for logger in trainer.loggers:
            if isinstance(logger, MLFlowLogger):
                logger.experiment.log_text(logger.run_id, text, "config.yaml")
                logger.log_hyperparams(flatten_config(self.config.as_dict()))
