"""Data modules, one per dataset, over the shared :class:`ActlabDataModule` base."""

from actlab.data.base import ActlabDataModule, Splits, TensorDataset, stratified_split
from actlab.data.digits import DigitsDataModule
from actlab.data.synthetic import SyntheticDataModule
from actlab.data.wdbc import WDBCDataModule

__all__ = [
    "ActlabDataModule",
    "DigitsDataModule",
    "Splits",
    "SyntheticDataModule",
    "TensorDataset",
    "WDBCDataModule",
    "stratified_split",
]
