"""WDBC: the Wisconsin Diagnostic Breast Cancer set (569 x 30), shipped with scikit-learn (003)."""

from __future__ import annotations

from typing import Any, ClassVar

import torch

from actlab.data.base import ActlabDataModule, Splits, stratified_split


class WDBCDataModule(ActlabDataModule):
    """WDBC with a stratified, seeded train/val/test split and standardisation fitted on train.

    Agarap (003, §3.1) used a 70/30 stratified split; ``test_fraction`` defaults to that.
    Labels follow scikit-learn: 0 = malignant (212), 1 = benign (357).

    Args:
        test_fraction: part of the samples held out for testing, per class.
        standardize: as in :class:`ActlabDataModule`, here on by default (003).
        batch_size: as in :class:`ActlabDataModule`, here 32 by default.
        **kwargs: the other options of :class:`ActlabDataModule`.
    """

    name: ClassVar[str] = "wdbc"
    class_names: ClassVar[list[str]] = ["malignant", "benign"]
    stored_shape = (30,)

    def __init__(
        self,
        test_fraction: float = 0.3,
        standardize: bool = True,
        batch_size: int = 32,
        **kwargs: Any,
    ) -> None:
        super().__init__(standardize=standardize, batch_size=batch_size, **kwargs)
        self.test_fraction = test_fraction

    def load_splits(self) -> Splits:
        from sklearn.datasets import load_breast_cancer

        data = load_breast_cancer()
        x = torch.as_tensor(data.data, dtype=torch.float32)
        y = torch.as_tensor(data.target, dtype=torch.long)
        train, test = stratified_split(y, self.test_fraction, self.seed)
        return Splits(train=(x[train], y[train]), test=(x[test], y[test]))
