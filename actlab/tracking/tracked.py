"""What a task offers tracking and the CLI: the :class:`TrackedTask` protocol.

:class:`actlab.tasks.ClassificationModule` implements it; the tracking callback, run naming,
the run's params and the CLI's second test read a task only through it. A LightningModule of
the user's own that does not implement it still trains and logs Lightning's metrics; actlab's
extras (confusion matrices, features, activation provenance) are then left out.

Light: no torch at import (``actlab report`` and ``actlab sync`` import run naming).
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    import torch

#: ``TrackedTask.test_prefix`` of the final weights' test, and of the best checkpoint's.
TEST_PREFIX, TEST_BEST_PREFIX = "test", "test_best"


@runtime_checkable
class TrackedTask(Protocol):
    """The attributes and method a task offers the tracking callback and the CLI."""

    #: The name runs are labelled with: the activation spec swapped in, or the backbone's own.
    activation_name: str
    #: Latest confusion counts per stage (``val``, ``test``, ``test_best``), rows = true class,
    #: summed over DDP ranks.
    confusion: Mapping[str, torch.Tensor]
    #: Prefix of the test metrics now being logged (:data:`TEST_PREFIX` or
    #: :data:`TEST_BEST_PREFIX`); changed only through :meth:`testing_as`.
    test_prefix: str
    #: The swap of ``model.activation`` (its ``provenance`` mapping), ``None`` when not swapped.
    swap_report: Any
    #: Where each act-layer of ``model.backbone_kwargs`` came from (``origin``, ``class``,
    #: ``source_file``, ``source_sha256``).
    act_layer_provenance: Mapping[str, Mapping[str, str]]
    #: The model's hyperparameters (Lightning's ``save_hyperparameters``).
    hparams: Mapping[str, Any]
    #: The network before the head (its pre-logits give the test feature scatter).
    backbone: torch.nn.Module

    def testing_as(self, prefix: str) -> AbstractContextManager[None]:
        """Within the block, test metrics and the test confusion matrix use ``prefix``."""
        ...


def tracked(model: object) -> TrackedTask | None:
    """``model`` when it implements :class:`TrackedTask`, else ``None``."""
    return model if isinstance(model, TrackedTask) else None


def provenance_of(task: TrackedTask) -> Mapping[str, str]:
    """The swapped activation's provenance (``{}`` when nothing was swapped)."""
    return task.swap_report.provenance if task.swap_report is not None else {}
