"""WDBC: the Wisconsin Diagnostic Breast Cancer set (569 x 30), shipped with scikit-learn (003)."""

from __future__ import annotations

from typing import ClassVar

import torch

from actlab.data.base import ActlabDataModule, Splits, stratified_split


class WDBCDataModule(ActlabDataModule):
    """WDBC with a stratified, seeded train/val/test split and standardisation fitted on train.

    Agarap (003, §3.1) used a 70/30 stratified split; ``test_fraction`` defaults to that.
    Labels follow scikit-learn: 0 = malignant (212), 1 = benign (357).

    Args:
        test_fraction: part of the samples held out for testing, per class.
        standardize: subtract the training mean and divide by the training std, per feature.
        batch_size, num_workers, val_fraction, seed, samples_per_class, folds, fold,
            on_device: see :class:`ActlabDataModule`.
    """

    name: ClassVar[str] = "wdbc"
    class_names: ClassVar[list[str]] = ["malignant", "benign"]

    def __init__(
        self,
        test_fraction: float = 0.3,
        standardize: bool = True,
        batch_size: int = 32,
        num_workers: int = 0,
        val_fraction: float = 0.1,
        seed: int = 0,
        samples_per_class: int | None = None,
        folds: int | None = None,
        fold: int = 0,
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
            standardize=standardize,
            on_device=on_device,
        )
        self.test_fraction = test_fraction

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return (30,)

    def load_splits(self) -> Splits:
        from sklearn.datasets import load_breast_cancer

        data = load_breast_cancer()
        x = torch.as_tensor(data.data, dtype=torch.float32)
        y = torch.as_tensor(data.target, dtype=torch.long)
        train, test = stratified_split(y, self.test_fraction, self.seed)
        return Splits(train=(x[train], y[train]), test=(x[test], y[test]))
