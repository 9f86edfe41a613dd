"""Test-only callbacks for the fit lifecycle tests (given as ``--trainer.callbacks+=...``)."""

from __future__ import annotations

import os
import signal

from lightning import Callback, LightningModule, Trainer


class SignalAtEpochEnd(Callback):
    """Send this process ``signum`` at the end of training epoch ``epoch`` (as ``kill`` would)."""

    def __init__(self, signum: int = int(signal.SIGINT), epoch: int = 0) -> None:
        self.signum = signum
        self.epoch = epoch

    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if trainer.current_epoch == self.epoch:
            os.kill(os.getpid(), self.signum)
