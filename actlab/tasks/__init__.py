"""Lightning tasks: backbone + swapped activations + head + metrics."""

from actlab.tasks.classification import ClassificationModule, create_backbone

__all__ = ["ClassificationModule", "create_backbone"]
