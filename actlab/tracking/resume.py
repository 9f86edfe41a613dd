"""Resuming a fit: find the checkpoint (``--ckpt_path last``) and the MLflow run it belongs to."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from lightning import LightningModule, Trainer
from lightning.pytorch.callbacks import ModelCheckpoint

from actlab import compat
from actlab.errors import ActlabError
from actlab.tracking.mlflow import mlruns_dir

#: Checkpoint file names ``--ckpt_path last`` looks for (``last-v1.ckpt`` after a name clash).
LAST_PATTERNS = ("last.ckpt", "last-v*.ckpt")


def find_last_checkpoint(root: Path | None = None) -> Path | None:
    """The most recently written ``last.ckpt`` under ``mlruns/<experiment>/<run>/checkpoints``."""
    root = root or mlruns_dir()
    found = [p for pattern in LAST_PATTERNS for p in root.glob(f"*/*/checkpoints/{pattern}")]
    return max(found, key=lambda p: p.stat().st_mtime) if found else None


def resolve_checkpoint(ckpt_path: str | Path) -> Path:
    """``last`` -> the newest ``last.ckpt`` under ``mlruns/``; a path must exist."""
    if str(ckpt_path) == "last":
        path = find_last_checkpoint()
        if path is None:
            msg = (
                f"--ckpt_path last: no last.ckpt under {mlruns_dir()}/*/*/checkpoints/; "
                "give the checkpoint's path instead"
            )
            raise ActlabError(msg)
        return path
    path = Path(ckpt_path)
    if not path.is_file():
        msg = f"--ckpt_path {ckpt_path}: no such checkpoint file"
        raise ActlabError(msg)
    return path


def run_id_of_checkpoint(path: str | Path) -> tuple[str, str | None] | None:
    """``(run id, tracking URI)`` stored in a checkpoint by the tracking callback, if any."""
    checkpoint = torch.load(path, map_location="cpu", weights_only=False)
    entry = checkpoint.get("actlab") or {}
    run_id = entry.get("mlflow_run_id")
    return (run_id, entry.get("tracking_uri")) if run_id else None


@compat.overrides(ModelCheckpoint, *compat.CHECKPOINT_HOOKS)
class ResumableCheckpoint(ModelCheckpoint):
    """``ModelCheckpoint`` whose ``last.ckpt`` always holds the latest epoch, train metrics included.

    Lightning 2.6 rewrites ``last.ckpt`` only when a top-k checkpoint was saved in the same step,
    so a fit killed after a few epochs without improvement would resume from an older epoch and
    log those epochs again. Here ``last.ckpt`` is rewritten after every validation that runs
    inside an epoch and at the end of every training epoch, after the epoch's hooks: then
    :class:`~actlab.tracking.callback.TrackingCallback` can store the epoch's train metrics,
    which Lightning sends to the logger only after the checkpoint is written.
    """

    #: ``last.ckpt`` writes so far (``__init__`` is ModelCheckpoint's: the CLI reads its signature).
    _last_saves = 0

    def _save_last_checkpoint(self, trainer: Trainer, monitor_candidates: dict[str, Any]) -> None:
        # Overrides a private hook (checked by compat.overrides): counts the writes.
        super()._save_last_checkpoint(trainer, monitor_candidates)
        self._last_saves += 1

    def _fitting(self, trainer: Trainer) -> bool:
        return (
            not trainer.fast_dev_run and trainer.state.fn == "fit" and not trainer.sanity_checking
        )

    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        saves = self._last_saves
        super().on_train_epoch_end(trainer, pl_module)
        if self.save_last and self._fitting(trainer) and self._last_saves == saves:
            compat.save_last_checkpoint(self, trainer)

    def on_validation_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        super().on_validation_end(trainer, pl_module)
        if (
            self.save_last
            and not compat.saves_on_train_epoch_end(self, trainer)
            and not compat.skips_saving(self, trainer)
        ):
            compat.save_last_checkpoint(self, trainer)
