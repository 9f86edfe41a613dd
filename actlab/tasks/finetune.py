"""Fine-tuning a pretrained net with a new activation: freezing, unfreezing, step-0 evaluation.

The task's options (:class:`actlab.tasks.ClassificationModule`) map onto these pieces:

- ``trainable: activations`` (or ``activations_and_classifier``) freezes every other parameter
  with :class:`ActivationFinetuning`, Lightning's :class:`~lightning.pytorch.callbacks.BaseFinetuning`;
  frozen batch-norm layers also stay in eval mode, so their running statistics do not move
  either: the frozen part of the network computes exactly what it computed before.
- ``unfreeze_at_epoch: N`` makes everything trainable at the start of epoch N (a new optimizer
  group at the optimizer's own learning rate, the usual unfreezing).
- ``eval_at_start`` evaluates the network on the validation and test splits once before any
  training (after the weights are loaded and the activations fitted), logged at step 0 as
  ``val_start/*`` and ``test_start/*``: the drop a swap causes, and what the fit recovers.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal

import torch
from lightning import LightningModule, Trainer
from lightning.pytorch.callbacks import BaseFinetuning
from torch import nn
from torch.optim import Optimizer

from actlab.activations import is_trainable_activation

#: What trains: everything, only the activation parameters, or those and the classifier.
Trainable = Literal["all", "activations", "activations_and_classifier"]
TRAINABLE: tuple[str, ...] = ("all", "activations", "activations_and_classifier")


def frozen_modules(backbone: nn.Module, trainable: Trainable) -> list[nn.Module]:
    """The modules of ``backbone`` whose parameters ``trainable`` freezes: every module with
    parameters of its own except the trainable activations (and the classifier)."""
    keep: set[int] = set()
    for module in backbone.modules():
        if is_trainable_activation(module):
            keep.update(id(m) for m in module.modules())
    if trainable == "activations_and_classifier":
        get = getattr(backbone, "get_classifier", None)
        classifier = get() if callable(get) else None
        if isinstance(classifier, nn.Module):
            keep.update(id(m) for m in classifier.modules())
    return [m for m in BaseFinetuning.flatten_modules(backbone) if id(m) not in keep]


class ActivationFinetuning(BaseFinetuning):
    """Train only the activations (and optionally the classifier), unfreezing the rest later.

    Args:
        trainable: ``activations`` or ``activations_and_classifier``.
        unfreeze_at_epoch: the epoch at whose start every parameter becomes trainable (added to
            the optimizer as a new group at its first group's learning rate); ``None``: never.
    """

    def __init__(self, trainable: Trainable, unfreeze_at_epoch: int | None = None) -> None:
        super().__init__()
        self.trainable = trainable
        self.unfreeze_at_epoch = unfreeze_at_epoch
        self._frozen: list[nn.Module] = []

    def freeze_before_training(self, pl_module: LightningModule) -> None:
        self._frozen = frozen_modules(pl_module.backbone, self.trainable)
        self.freeze(self._frozen, train_bn=False)

    def finetune_function(
        self, pl_module: LightningModule, epoch: int, optimizer: Optimizer
    ) -> None:
        if self.unfreeze_at_epoch is not None and epoch == self.unfreeze_at_epoch:
            lr = optimizer.param_groups[0]["lr"]
            self.unfreeze_and_add_param_group(self._frozen, optimizer, lr=lr, train_bn=True)
            self._frozen = []

    def on_train_epoch_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        super().on_train_epoch_start(trainer, pl_module)
        if self.unfreeze_at_epoch is not None and trainer.current_epoch >= self.unfreeze_at_epoch:
            self._frozen = []  # a resumed fit past the unfreezing: groups restored, all trains
            BaseFinetuning.make_trainable(pl_module.backbone)
        for module in self._frozen:  # frozen statistics: batch norm uses its running stats
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.eval()


def input_batches(loader: Iterable[Any], count: int, device: torch.device) -> list[torch.Tensor]:
    """The inputs of the first ``count`` batches of ``loader``, on ``device``."""
    batches = []
    for batch in loader:
        x = batch[0] if isinstance(batch, (tuple, list)) else batch
        batches.append(x.to(device))
        if len(batches) >= count:
            break
    return batches


@torch.no_grad()
def evaluate(module: LightningModule, loader: Iterable[Any]) -> dict[str, float]:
    """Accuracy and mean loss of ``module`` on ``loader`` (eval mode; modes restored)."""
    from actlab.tasks.heads import head_loss, head_outputs

    modes = {m: m.training for m in module.modules()}
    module.eval()
    correct = seen = 0
    loss_sum = 0.0
    try:
        for x, y in loader:
            x, y = x.to(module.device), y.to(module.device)
            logits = module(x)
            loss_sum += float(head_loss(logits, y, module.head)) * len(y)
            correct += int((head_outputs(logits, module.head).argmax(1) == y).sum())
            seen += len(y)
    finally:
        for m, mode in modes.items():
            m.training = mode
    return {"acc": correct / max(seen, 1), "loss": loss_sum / max(seen, 1)}


def evaluate_at_start(module: LightningModule, datamodule: Any) -> dict[str, float]:
    """``val_start/{acc,loss}`` and ``test_start/{acc,loss}`` of ``module`` before training."""
    metrics: dict[str, float] = {}
    for split in ("val", "test"):
        loader = getattr(datamodule, f"{split}_dataloader", None)
        if loader is None:
            continue
        for key, value in evaluate(module, loader()).items():
            metrics[f"{split}_start/{key}"] = value
    return metrics
