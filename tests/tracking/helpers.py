"""Test-only pieces for the tracking tests: a trainable (a, b) activation and control callbacks."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import torch
from lightning import Callback, LightningModule, Trainer
from mlflow.tracking import MlflowClient
from torch import nn

from actlab import compat


class ShiftedReLU(nn.Module):
    """``a * relu(x - b)`` with one ``(a, b)`` per channel: ``a``, ``b`` shaped ``(1, C)``.

    Follows the tracking protocol of trainable activations (attributes ``a``, ``b`` shaped
    ``(k, *site)``, ``forward`` on inputs shaped ``(N, *site)``).
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.a = nn.Parameter(torch.ones(1, channels))
        self.b = nn.Parameter(torch.zeros(1, channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.a[0] * torch.relu(x - self.b[0])


def swap_relus(model: nn.Module) -> int:
    """Replace every ``nn.ReLU`` that follows an ``nn.Linear`` by a :class:`ShiftedReLU`."""
    swapped = 0
    for module in model.modules():
        if not isinstance(module, nn.Sequential):
            continue
        width = None
        for index, child in enumerate(module):
            if isinstance(child, nn.Linear):
                width = child.out_features
            elif isinstance(child, nn.ReLU) and width is not None:
                module[index] = ShiftedReLU(width)
                swapped += 1
    return swapped


class ShiftedReLUSwap(Callback):
    """Swap the backbone's ReLUs for :class:`ShiftedReLU` before the optimizer is built."""

    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        if not any(isinstance(m, ShiftedReLU) for m in pl_module.modules()):
            assert swap_relus(pl_module) > 0


class SlowEpochs(Callback):
    """Sleep at the end of every training epoch (to give a test time to act mid-run)."""

    def __init__(self, seconds: float = 1.0) -> None:
        self.seconds = seconds

    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        time.sleep(self.seconds)


class SlowSteps(Callback):
    """Make every training epoch last at least ``epoch_seconds``, the sleep spread over its
    training steps (validation, checkpoints and logging keep their own time)."""

    def __init__(self, epoch_seconds: float = 0.5) -> None:
        self.epoch_seconds = epoch_seconds

    def on_train_batch_end(self, trainer: Trainer, *args: object) -> None:
        time.sleep(self.epoch_seconds / max(1, int(trainer.num_training_batches)))


class KillAtEpochEnd(Callback):
    """SIGKILL the process at the end of training epoch ``epoch``, in the window after
    ``last.ckpt`` is written and before Lightning logs the epoch's train metrics."""

    def __init__(self, epoch: int = 1) -> None:
        self.epoch = epoch

    @staticmethod
    def kill() -> None:
        os.kill(os.getpid(), signal.SIGKILL)

    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if trainer.current_epoch == self.epoch:
            # Called after every on_train_epoch_end hook, the checkpoint's included.
            compat.before_train_epoch_logging(trainer, self.kill)


class PauseAtEpochEnd(Callback):
    """At the end of each training epoch in ``epochs``, touch ``<folder>/reached-<epoch>`` and
    wait for ``<folder>/go-<epoch>``: lets a test act at known points of a fit in another process.

    Runs before actlab's tracking callback (``--trainer.callbacks`` come first), so before the
    epoch's metrics are logged and the outage spool is flushed.
    """

    def __init__(self, folder: str, epochs: list[int], timeout: float = 300.0) -> None:
        self.folder = Path(folder)
        self.epochs = set(epochs)
        self.timeout = timeout

    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        epoch = trainer.current_epoch
        if epoch not in self.epochs:
            return
        (self.folder / f"reached-{epoch}").touch()
        deadline = time.monotonic() + self.timeout
        while not (self.folder / f"go-{epoch}").exists():
            if time.monotonic() > deadline:
                raise TimeoutError(f"no go-{epoch} in {self.folder}")
            time.sleep(0.1)


class FailAfterSteps(Callback):
    """Raise ``RuntimeError`` after ``steps`` training steps (a crashing run)."""

    def __init__(self, steps: int = 1) -> None:
        self.steps = steps

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.global_step >= self.steps:
            raise RuntimeError("boom: test-only crash")


def all_artifacts(client: MlflowClient, run_id: str, path: str | None = None) -> list[str]:
    """Every artifact file of a run, recursively."""
    files = []
    for item in client.list_artifacts(run_id, path):
        files += all_artifacts(client, run_id, item.path) if item.is_dir else [item.path]
    return files


def image_steps(files: list[str], key: str) -> list[int]:
    """Steps of the step-slider images logged under ``key`` (``images/<key>+step+<n>+...png``)."""
    steps = []
    for name in files:
        parts = name.removeprefix("images/").split("+")
        if name.startswith("images/") and name.endswith(".png") and parts[0] == key:
            steps.append(int(parts[parts.index("step") + 1]))
    return sorted(steps)


def metric_steps(client: MlflowClient, run_id: str, key: str) -> list[int]:
    return sorted(m.step for m in client.get_metric_history(run_id, key))
