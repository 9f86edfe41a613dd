"""What a run records of its config: ``config.yaml`` in full, and the values it used as params.

Params are what a researcher filters and compares runs by, so they are the values the run
actually used, and few: every option of ``model`` (backbone, head, optimizer, scheduler, ...),
``data`` and ``tracking``, ``seed_everything``, and only the ``trainer`` options that differ
from Lightning's defaults. The model's ``num_classes`` and ``input_shape`` are the values linked
from the data module, and ``model.activation`` is the resolved activation spec, or the
backbone's own activation when none is swapped (``model.activation_swapped`` says which); a
swapped activation also records the spec as given (``model.activation_given``), its origin
(built-in, plugin, import path) and its class's qualified name (``model.activation_class``);
the source file and its SHA-256 are tags (:class:`~actlab.tracking.callback.TrackingCallback`).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Mapping
from typing import Any

from lightning import LightningModule, Trainer
from lightning.pytorch.cli import SaveConfigCallback

from actlab.config_keys import flat_config
from actlab.tracking.mlflow import actlab_logger
from actlab.tracking.naming import dataset_inputs
from actlab.tracking.tracked import provenance_of, tracked

#: Config sections logged with all their options.
PARAM_SECTIONS = ("model", "data", "tracking")
#: Trainer options never logged as params (the logger is where the params go).
SKIP_TRAINER_KEYS = ("logger",)


@functools.cache
def trainer_defaults() -> dict[str, Any]:
    """Lightning's default of every ``Trainer`` argument."""
    return {
        name: p.default
        for name, p in inspect.signature(Trainer.__init__).parameters.items()
        if p.default is not inspect.Parameter.empty
    }


def used_model_params(model: Any) -> dict[str, Any]:
    """The model values the config cannot know: linked shapes and the resolved activation."""
    hparams = getattr(model, "hparams", {}) or {}
    params: dict[str, Any] = {}
    if "num_classes" in hparams:
        params["model.num_classes"] = int(hparams["num_classes"])
    if "input_shape" in hparams:
        params["model.input_shape"] = list(hparams["input_shape"])
    task = tracked(model)
    if task is None:
        return params
    params["model.activation"] = task.activation_name
    params["model.activation_swapped"] = hparams.get("activation") is not None
    provenance = provenance_of(task)
    for key in ("given", "origin", "class"):
        if key in provenance:
            params[f"model.activation_{key}"] = provenance[key]
    for act_key, found in task.act_layer_provenance.items():
        for key in ("origin", "class"):
            params[f"model.backbone_kwargs.{act_key}_{key}"] = found[key]
    return params


def run_params(config: Mapping[str, Any], model: Any = None) -> dict[str, Any]:
    """The params of a run: see the module docstring."""
    params: dict[str, Any] = {}
    if config.get("seed_everything") is not None:
        params["seed_everything"] = config["seed_everything"]
    for section in PARAM_SECTIONS:
        if config.get(section) is not None:
            params.update(flat_config({section: config[section]}))
    defaults = trainer_defaults()
    for key, value in (config.get("trainer") or {}).items():
        if key in SKIP_TRAINER_KEYS or (key in defaults and value == defaults[key]):
            continue
        params.update(flat_config({"trainer": {key: value}}))
    if model is not None:
        params.update(used_model_params(model))
    return params


class MLflowSaveConfigCallback(SaveConfigCallback):
    """Logs the resolved config to the run: ``config.yaml``, the params and the dataset inputs.

    Used with ``save_to_log_dir=False``, so no ``config.yaml`` is written into the experiment
    root: the known clash of LightningCLI's default callback with MLflow's directory layout.
    """

    def save_config(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        logger = actlab_logger(trainer)
        if logger is None:
            return
        from actlab.tracking.store import redact_credentials

        config_yaml = self.parser.dump(self.config, skip_none=False)
        logger.log_text(redact_credentials(config_yaml), "config.yaml")  # a database URI's
        params = run_params(self.config.as_dict(), pl_module)
        logger.log_hyperparams(
            {k: redact_credentials(v) if isinstance(v, str) else v for k, v in params.items()}
        )
        datamodule = getattr(trainer, "datamodule", None)
        if datamodule is not None:
            logger.log_inputs(dataset_inputs(datamodule))
