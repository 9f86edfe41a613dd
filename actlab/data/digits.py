"""Digits: scikit-learn's 1,797 8x8 handwritten digits as 1x8x8 images, real data that works offline."""

from __future__ import annotations

from typing import ClassVar

import torch

from actlab.data.base import ActlabDataModule, Splits, stratified_split


class DigitsDataModule(ActlabDataModule):
    """The UCI 8x8 digits (scikit-learn's ``load_digits``), pixel values scaled to [0, 1].

    Args:
        test_fraction: part of the samples held out for testing, per class.
        batch_size, num_workers, val_fraction, seed, samples_per_class, folds, fold, flatten,
            standardize, pca_components, pca_reshape, on_device: see :class:`ActlabDataModule`.
    """

    name: ClassVar[str] = "digits"
    class_names: ClassVar[list[str]] = [str(d) for d in range(10)]

    def __init__(
        self,
        test_fraction: float = 0.2,
        batch_size: int = 64,
        num_workers: int = 0,
        val_fraction: float = 0.1,
        seed: int = 0,
        samples_per_class: int | None = None,
        folds: int | None = None,
        fold: int = 0,
        flatten: bool = False,
        standardize: bool = False,
        pca_components: int | None = None,
        pca_reshape: tuple[int, ...] | None = None,
        on_device: bool = False,
    ) -> None:
        super().__init__(
            batch_size,
            num_workers,
            val_fraction,
            seed,
            samples_per_class=samples_per_class,
            folds=folds,
            fold=fold,
            flatten=flatten,
            standardize=standardize,
            pca_components=pca_components,
            pca_reshape=pca_reshape,
            on_device=on_device,
        )
        self.test_fraction = test_fraction

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return (1, 8, 8)

    def load_splits(self) -> Splits:
        from sklearn.datasets import load_digits

        data = load_digits()
        x = torch.as_tensor(data.images, dtype=torch.float32).unsqueeze(1) / 16.0
        y = torch.as_tensor(data.target, dtype=torch.long)
        train, test = stratified_split(y, self.test_fraction, self.seed)
        return Splits(train=(x[train], y[train]), test=(x[test], y[test]))
