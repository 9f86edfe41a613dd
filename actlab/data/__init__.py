"""Data modules, one per dataset, over the shared :class:`ActlabDataModule` base."""

from actlab.data.base import (
    ActlabDataModule,
    Splits,
    TensorDataset,
    balanced_subset,
    fit_pca,
    kfold_split,
    stratified_split,
)
from actlab.data.cifar import CIFAR10DataModule, CIFAR100DataModule
from actlab.data.digits import DigitsDataModule
from actlab.data.imagenet_insects import ImageNetInsectsDataModule
from actlab.data.mnist import FashionMNISTDataModule, MNISTDataModule
from actlab.data.synthetic import SyntheticDataModule
from actlab.data.vision import CorruptDatasetError, DatasetNotFoundError, VisionDataModule
from actlab.data.wdbc import WDBCDataModule

__all__ = [
    "ActlabDataModule",
    "CIFAR10DataModule",
    "CIFAR100DataModule",
    "CorruptDatasetError",
    "DatasetNotFoundError",
    "DigitsDataModule",
    "FashionMNISTDataModule",
    "ImageNetInsectsDataModule",
    "MNISTDataModule",
    "Splits",
    "SyntheticDataModule",
    "TensorDataset",
    "VisionDataModule",
    "WDBCDataModule",
    "balanced_subset",
    "fit_pca",
    "kfold_split",
    "stratified_split",
]
