"""Test-only callbacks for the tests of how a fit ends and resumes (given as ``--trainer.callbacks+=...``)."""

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


class RecordRunStatusAtTest(Callback):
    """Record the MLflow run's status in the store as each ``trainer.test`` starts."""

    statuses: list[str] = []

    def on_test_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        from mlflow.tracking import MlflowClient

        from actlab.tracking.mlflow import actlab_logger

        logger = actlab_logger(trainer)
        run = MlflowClient(logger.tracking_uri).get_run(logger.run_id)
        type(self).statuses.append(run.info.status)


class FailAtTest(Callback):
    """Fail the tests that ``actlab fit`` runs after training."""

    def on_test_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        raise RuntimeError("the test split broke")


class SignalTwice(Callback):
    """SIGTERM this process when training starts, and again while the fit handles the first
    one (as ``timeout`` followed by a group kill does, milliseconds apart)."""

    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        os.kill(os.getpid(), signal.SIGTERM)

    def on_exception(
        self, trainer: Trainer, pl_module: LightningModule, exception: BaseException
    ) -> None:
        os.kill(os.getpid(), signal.SIGTERM)


class LightningStopsOnSigterm(Callback):
    """Stop training as Lightning's own SIGTERM handling does: its loop raises
    ``SIGTERMException`` (a ``SystemExit``) once its handler has seen the signal."""

    def on_train_batch_end(self, trainer: Trainer, *args: object) -> None:
        from lightning.pytorch.utilities.exceptions import SIGTERMException

        raise SIGTERMException()


class Bug(Callback):
    """An unexpected exception in training: a bug, not bad input or divergence."""

    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        raise ZeroDivisionError("a bug in a callback")
