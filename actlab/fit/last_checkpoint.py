"""Resuming a fit: the checkpoint callback whose ``last.ckpt`` always holds the latest epoch.

Which checkpoint a fit resumes is :mod:`actlab.fit.resume`; what a checkpoint holds,
:mod:`actlab.fit.checkpoints`.
"""

from __future__ import annotations

from typing import Any

from lightning import LightningModule, Trainer
from lightning.pytorch.callbacks import ModelCheckpoint

from actlab import compat


@compat.overrides(ModelCheckpoint, *compat.CHECKPOINT_HOOKS)
class ResumableCheckpoint(ModelCheckpoint):
    """``ModelCheckpoint`` whose ``last.ckpt`` always holds the latest epoch, train metrics included.

    Lightning 2.6 rewrites ``last.ckpt`` only when a top-k checkpoint was saved in the same step,
    so a fit killed after a few epochs without improvement would resume from an older epoch and
    log those epochs again. Here ``last.ckpt`` is rewritten after every validation that runs
    inside an epoch and at the end of every training epoch, after the epoch's hooks: then
    :class:`~actlab.fit.checkpoints.CheckpointStamp` can store the epoch's train metrics,
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
