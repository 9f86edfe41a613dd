"""Checks a fit makes before its run is created: each bad setting is one line, and no run.

The experiment's tracking target and credentials (:func:`logger_target`,
:func:`adopt_logger_credentials`), the optimizer (:func:`check_optimizer`) and the accelerator
(:func:`check_accelerator`). The experiment name and the store are checked by
:mod:`actlab.tracking.store`; ranks against launcher and cores by :mod:`actlab.distributed`.
"""

from __future__ import annotations

from typing import Any

from actlab.errors import ActlabError
from actlab.tracking.store import DEFAULT_EXPERIMENT, adopt_credentials


def logger_target(config: Any) -> tuple[str | None, str | None]:
    """``(experiment, tracking URI)`` of the config's :class:`ActlabMLFlowLogger` (``None, None``
    without one)."""
    logger = config.get("trainer.logger") if hasattr(config, "get") else None
    class_path = getattr(logger, "class_path", None) or (
        logger.get("class_path") if isinstance(logger, dict) else None
    )
    if not class_path or not str(class_path).endswith("ActlabMLFlowLogger"):
        return None, None
    init = getattr(logger, "init_args", None) or (
        logger.get("init_args") if isinstance(logger, dict) else None
    )
    get = (lambda k: init.get(k)) if init is not None and hasattr(init, "get") else (lambda k: None)
    return get("experiment_name") or DEFAULT_EXPERIMENT, get("tracking_uri") or None


def adopt_logger_credentials(config: Any) -> None:
    """A ``trainer.logger.init_args.tracking_uri`` of ``http(s)://user:pass@host``: the
    credentials move to MLflow's ``MLFLOW_TRACKING_USERNAME``/``PASSWORD`` and the config keeps
    the URI without them, so ``config.yaml`` and the params never hold them."""
    logger = config.get("trainer.logger") if hasattr(config, "get") else None
    init = getattr(logger, "init_args", None)
    if init is None and isinstance(logger, dict):
        init = logger.get("init_args")
    if init is not None and hasattr(init, "get") and isinstance(init.get("tracking_uri"), str):
        init["tracking_uri"] = adopt_credentials(init["tracking_uri"])


def check_optimizer(model: Any) -> None:
    """Build the model's optimizer (and scheduler) once and throw it away, so that a bad setting
    (``lr: .nan``, a negative weight decay) stops the fit before its run is created."""
    from actlab.tasks import ClassificationModule

    if not isinstance(model, ClassificationModule):
        return
    try:
        model.configure_optimizers()
    except (ValueError, TypeError) as err:
        raise ActlabError(f"invalid optimizer or lr_scheduler settings: {err}") from None


def check_accelerator(config: dict[str, Any]) -> None:
    """``trainer.accelerator gpu`` on a machine without one: one line, the valid choices."""
    accelerator = str(config.get("accelerator") or "auto")
    if accelerator not in ("gpu", "cuda", "mps"):
        return
    import torch

    available = ["cpu", "auto"]
    if torch.cuda.is_available():
        available[1:1] = ["gpu", "cuda"]
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        available.insert(1, "mps")
    if accelerator not in available:
        msg = (
            f"trainer.accelerator {accelerator!r}: no such device on this machine "
            f"(torch finds no {'MPS' if accelerator == 'mps' else 'CUDA'} device); "
            f"valid here: {', '.join(available)}"
        )
        raise ActlabError(msg)
