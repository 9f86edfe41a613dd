"""Data modules, one per dataset, over the shared :class:`ActlabDataModule` base."""

from actlab.data.base import ActlabDataModule, Splits, TensorDataset, stratified_split
from actlab.data.digits import DigitsDataModule
from actlab.data.wdbc import WDBCDataModule

__all__ = [
    "ActlabDataModule",
    "DigitsDataModule",
    "Splits",
    "TensorDataset",
    "WDBCDataModule",
    "stratified_split",
]
