"""Digits: scikit-learn's 1,797 8x8 handwritten digits as 1x8x8 images, real data that works offline."""

from __future__ import annotations

from typing import Any, ClassVar

import torch

from actlab.data.base import ActlabDataModule, Splits, stratified_split


class DigitsDataModule(ActlabDataModule):
    """The UCI 8x8 digits (scikit-learn's ``load_digits``), pixel values scaled to [0, 1].

    Args:
        test_fraction: part of the samples held out for testing, per class.
        **kwargs: the options of :class:`ActlabDataModule`.
    """

    name: ClassVar[str] = "digits"
    class_names: ClassVar[list[str]] = [str(d) for d in range(10)]
    stored_shape = (1, 8, 8)

    def __init__(self, test_fraction: float = 0.2, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.test_fraction = test_fraction

    def load_splits(self) -> Splits:
        from sklearn.datasets import load_digits

        data = load_digits()
        x = torch.as_tensor(data.images, dtype=torch.float32).unsqueeze(1) / 16.0
        y = torch.as_tensor(data.target, dtype=torch.long)
        train, test = stratified_split(y, self.test_fraction, self.seed)
        return Splits(train=(x[train], y[train]), test=(x[test], y[test]))
