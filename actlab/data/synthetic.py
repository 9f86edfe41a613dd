"""Synthetic data of any shape, for benchmarks and smoke runs (no files, no downloads)."""

from __future__ import annotations

import math
from typing import Any, ClassVar

import torch

from actlab.data.base import ActlabDataModule, Splits


class SyntheticDataModule(ActlabDataModule):
    """Learnable random data: each class is a fixed random pattern plus Gaussian noise.

    Shaped like a real dataset (``input_shape=[3, 32, 32]`` for CIFAR-10 shape data), so speed
    measurements see the same tensor sizes; ``noise`` sets how hard the task is.

    Args:
        input_shape: shape of one sample (before ``flatten``/PCA, if set).
        num_classes: number of classes.
        train_samples: samples in the training split (validation is carved from it).
        test_samples: samples in the test split.
        noise: standard deviation of the noise around each class pattern (pattern std is 1).
        batch_size: as in :class:`ActlabDataModule`, here 128 by default.
        **kwargs: the other options of :class:`ActlabDataModule`.
    """

    name: ClassVar[str] = "synthetic"

    def __init__(
        self,
        input_shape: tuple[int, ...] = (3, 32, 32),
        num_classes: int = 10,
        train_samples: int = 5000,
        test_samples: int = 1000,
        noise: float = 2.0,
        batch_size: int = 128,
        **kwargs: Any,
    ) -> None:
        self.stored_shape = tuple(int(d) for d in input_shape)
        super().__init__(batch_size=batch_size, **kwargs)
        self._num_classes = num_classes
        self.train_samples = train_samples
        self.test_samples = test_samples
        self.noise = noise

    @property
    def num_classes(self) -> int:
        return self._num_classes

    @property
    def class_names(self) -> list[str]:  # type: ignore[override]
        return [f"class_{i}" for i in range(self._num_classes)]

    def load_splits(self) -> Splits:
        generator = torch.Generator().manual_seed(self.seed)
        dim = math.prod(self.stored_shape)
        patterns = torch.randn(self._num_classes, dim, generator=generator)

        def draw(n: int) -> tuple[torch.Tensor, torch.Tensor]:
            y = torch.randint(self._num_classes, (n,), generator=generator)
            x = patterns[y] + self.noise * torch.randn(n, dim, generator=generator)
            return x.view(n, *self.stored_shape), y

        return Splits(train=draw(self.train_samples), test=draw(self.test_samples))
