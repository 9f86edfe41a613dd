"""What stops a fit and what a stopped fit records: signals, a non-finite loss, the error tag.

- :func:`raise_on_signals`: SIGTERM and SIGINT raise :class:`SignalExit`, which Lightning treats
  like any exception (the run ends ``FAILED``); ``actlab`` then exits with ``128 + signal``, as a
  shell reports a process a signal ended, so schedulers and the sweep runner see the truth.
- :class:`FiniteLoss`: stops at the first non-finite training loss, naming epoch, batch and step.
- :class:`RunFailure`: tags the MLflow run with why it failed (:data:`ERROR_TAG`) before Lightning
  ends it ``FAILED``, so no failed run is left without its reason.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from typing import Any

import torch
from lightning import Callback, LightningModule, Trainer
from lightning.pytorch.utilities.exceptions import SIGTERMException

from actlab.errors import ActlabError, one_line
from actlab.tracking.mlflow import actlab_logger

#: Run tag holding the one-line reason a fit failed.
ERROR_TAG = "error"
#: Longest reason kept in the tag (MLflow allows 8000 characters; a reason is one line).
MAX_TAG_LENGTH = 2000
#: Signals that end a fit with ``128 + signal``.
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class SignalExit(BaseException):
    """A fit stopped by a signal (a ``BaseException``, like ``KeyboardInterrupt``, so that no
    ``except Exception`` in user code swallows it)."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        self.name = signal.Signals(signum).name
        #: The run the signal failed (set by :class:`RunFailure`; ``None`` if none had started).
        self.run_id: str | None = None
        super().__init__(f"stopped by {self.name}")

    @property
    def exit_code(self) -> int:
        """``128 + signal``, the status a shell gives a process a signal ended."""
        return 128 + self.signum


@contextlib.contextmanager
def raise_on_signals() -> Iterator[None]:
    """Within the block, SIGTERM and SIGINT raise :class:`SignalExit` (main thread only).

    Only the first signal raises: a second one (``timeout`` and a group kill, two Ctrl-C)
    arriving while the first one's run is being ended ``FAILED`` would otherwise cut that short
    and leave the run ``RUNNING``; it is ignored (SIGKILL still ends the process)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []

    def handler(signum: int, frame: Any) -> None:
        if received:
            return
        received.append(signum)
        raise SignalExit(signum)

    previous = {sig: signal.signal(sig, handler) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


class NonFiniteLossError(ActlabError):
    """Training diverged: the loss became NaN or infinite (exit status 1, the run FAILED)."""

    exit_code = 1


class FiniteLoss(Callback):
    """Stop the fit at the first non-finite training loss.

    On CPU the loss is checked after every batch. On an accelerator reading it every batch would
    wait for the device, so each batch only queues an ``isfinite`` on the device and the flags
    are read every ``check_every`` batches and at the end of the epoch; the error still names
    the first bad batch.

    Args:
        check_every: batches between reads of the flags on an accelerator.
    """

    def __init__(self, check_every: int = 50) -> None:
        self.check_every = check_every
        self._losses: list[torch.Tensor] = []
        self._where: list[tuple[int, int, int]] = []

    def on_train_batch_end(
        self, trainer: Trainer, pl_module: LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        loss = outputs.get("loss") if isinstance(outputs, dict) else outputs
        if not isinstance(loss, torch.Tensor):
            return
        self._losses.append(loss.detach().float().reshape(-1)[:1])
        self._where.append((trainer.current_epoch, batch_idx, trainer.global_step))
        if loss.device.type == "cpu" or len(self._losses) >= self.check_every:
            self._check(trainer)

    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._check(trainer)

    def _check(self, trainer: Trainer) -> None:
        if not self._losses:
            return
        losses = torch.cat(self._losses).cpu()
        where = self._where
        self._losses, self._where = [], []
        bad = (~torch.isfinite(losses)).nonzero()
        if len(bad) == 0:
            return
        first = int(bad[0])
        epoch, batch, step = where[first]
        raise NonFiniteLossError(
            f"train/loss is {float(losses[first])} at epoch {epoch}, batch {batch} "
            f"(global step {step}): training diverged; {divergence_hint(trainer)}"
        )


def divergence_hint(trainer: Trainer) -> str:
    """What to change when training diverges: the learning rate, and the precision if reduced."""
    hints = []
    optimizers = getattr(trainer, "optimizers", None) or []
    if optimizers and optimizers[0].param_groups:
        lr = optimizers[0].param_groups[0].get("lr")
        hints.append(f"lower the learning rate (model.optimizer lr is {lr:g})")
    precision = str(getattr(trainer, "precision", "32-true"))
    if not precision.startswith(("32", "64")):
        hints.append(f"train in full precision (trainer.precision is {precision}; try 32)")
    hints.append("or clip gradients (trainer.gradient_clip_val)")
    return ", ".join(hints)


def as_signal_exit(exception: BaseException) -> SignalExit | None:
    """``exception`` as a :class:`SignalExit`: itself, or Lightning's ``SIGTERMException``
    (Lightning's own SIGTERM handler stops the loop with it; a ``SystemExit`` that would exit
    0), carrying the run it failed; ``None`` for any other exception."""
    if isinstance(exception, SignalExit):
        return exception
    if isinstance(exception, SIGTERMException):
        stop = SignalExit(signal.SIGTERM)
        stop.run_id = getattr(exception, "run_id", None)
        return stop
    return None


def failure_reason(exception: BaseException) -> str:
    """One line saying why a fit stopped, for the run's :data:`ERROR_TAG`."""
    exception = as_signal_exit(exception) or exception
    if isinstance(exception, (ActlabError, SignalExit)):
        text = str(exception)
    else:
        text = f"{type(exception).__name__}: {exception}"
    return one_line(text)[:MAX_TAG_LENGTH] or type(exception).__name__


class RunFailure(Callback):
    """Tag the run with why the fit failed, before Lightning ends it ``FAILED``."""

    def on_exception(
        self, trainer: Trainer, pl_module: LightningModule, exception: BaseException
    ) -> None:
        logger = actlab_logger(trainer)
        if logger is None or not trainer.is_global_zero:
            return
        try:
            # The run and its store, named by the fit's last line (a signal, a full disk); set
            # first, since tagging fails where the store cannot be written.
            exception.run_id = logger.run_id  # type: ignore[attr-defined]
            exception.tracking_uri = logger.tracking_uri  # type: ignore[attr-defined]
            logger.set_tags({ERROR_TAG: failure_reason(exception)})
        except Exception:  # noqa: BLE001 - never hide the error that stopped the fit
            pass
