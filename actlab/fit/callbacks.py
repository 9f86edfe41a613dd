"""The callbacks every fit carries, added through LightningCLI's ``trainer_defaults``.

LightningCLI appends ``trainer_defaults["callbacks"]`` to the callbacks a config gives (they are
not options of the parser, so a config cannot drop them): the rich progress bar (unless the
config has a progress bar or turns bars off), :class:`~actlab.fit.guards.FiniteLoss`,
:class:`~actlab.fit.guards.RunFailure` and the fit's
:class:`~actlab.fit.checkpoints.CheckpointStamp`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lightning import Callback
from lightning.pytorch.callbacks import ProgressBar, RichProgressBar

from actlab.fit.checkpoints import CheckpointStamp
from actlab.fit.guards import FiniteLoss, RunFailure


def fit_callbacks(trainer_config: Mapping[str, Any], stamp: CheckpointStamp) -> list[Callback]:
    """actlab's callbacks for a trainer built from ``trainer_config`` (its ``callbacks`` are the
    config's; the config's ``tracking`` and ``checkpoint`` sections are never progress bars)."""
    given = trainer_config.get("callbacks") or []
    callbacks: list[Callback] = []
    if trainer_config.get("enable_progress_bar") is not False and not any(
        isinstance(c, ProgressBar) for c in (given if isinstance(given, list) else [given])
    ):
        callbacks.append(RichProgressBar())
    return [*callbacks, FiniteLoss(), RunFailure(), stamp]
