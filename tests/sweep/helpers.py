"""Test-only callbacks for sweep runs: one that leaks process state, one that checks for it,
one that dies as the OOM killer would end it."""

from __future__ import annotations

import os
import signal

from lightning import Callback, LightningModule, Trainer

import actlab

#: Set in the environment by :class:`Leak`.
LEAK_ENV = "ACTLAB_TEST_LEAKED"


class Leak(Callback):
    """Change process-wide state a later run would inherit if it shared this process: the
    environment and a module of actlab."""

    def on_fit_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        os.environ[LEAK_ENV] = "1"
        actlab.LEAKED = True  # type: ignore[attr-defined]


class CheckClean(Callback):
    """Fail the run if it inherited what :class:`Leak` changed."""

    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        assert LEAK_ENV not in os.environ, "leaked environment"
        assert not hasattr(actlab, "LEAKED"), "leaked module state"


class KillSelf(Callback):
    """SIGKILL this process when training starts (what the OOM killer does)."""

    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        os.kill(os.getpid(), signal.SIGKILL)


class Fail(Callback):
    """Raise when training starts: a run whose config is valid and that fails at run time."""

    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        raise RuntimeError("deliberate failure of tests.sweep.helpers.Fail")
