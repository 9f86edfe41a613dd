"""Shared base for actlab's data modules: in-memory tensors, seeded splits and fast batch loaders."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from lightning import LightningDataModule
from torch.utils.data import DataLoader, Dataset

from actlab.errors import ActlabError


class TensorDataset(Dataset):
    """Samples held as two tensors; ``__getitems__`` fetches a whole batch with one index op.

    PyTorch's fetcher calls ``__getitems__`` with the sampler's list of indices, so a batch costs
    one gather instead of ``batch_size`` item reads plus a collate. Works with any sampler,
    Lightning's ``DistributedSampler`` included.
    """

    def __init__(self, inputs: torch.Tensor, targets: torch.Tensor) -> None:
        if len(inputs) != len(targets):
            msg = f"inputs ({len(inputs)}) and targets ({len(targets)}) differ in length"
            raise ValueError(msg)
        self.inputs = inputs
        self.targets = targets

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.inputs[index], self.targets[index]

    def __getitems__(self, indices: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        index = torch.as_tensor(indices, dtype=torch.long)
        return self.inputs[index], self.targets[index]


def collate_batch(batch: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Collate for :class:`TensorDataset`: ``__getitems__`` already returns a stacked batch."""
    return batch


@dataclass
class Splits:
    """Train/validation/test tensors of one dataset (``val`` may be carved from train later)."""

    train: tuple[torch.Tensor, torch.Tensor]
    test: tuple[torch.Tensor, torch.Tensor]
    val: tuple[torch.Tensor, torch.Tensor] | None = None


def stratified_split(
    targets: torch.Tensor, fraction: float, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Split indices into (rest, held-out) with ``fraction`` of every class held out, seeded.

    Deterministic for a given ``seed``: the same call always returns the same indices.
    """
    if not 0.0 < fraction < 1.0:
        msg = f"split fraction must be in (0, 1), got {fraction}"
        raise ActlabError(msg)
    generator = torch.Generator().manual_seed(seed)
    rest, held = [], []
    for cls in torch.unique(targets):
        idx = torch.nonzero(targets == cls, as_tuple=True)[0]
        idx = idx[torch.randperm(len(idx), generator=generator)]
        n_held = int(round(len(idx) * fraction))
        n_held = min(max(n_held, 1), len(idx) - 1) if len(idx) > 1 else 0
        held.append(idx[:n_held])
        rest.append(idx[n_held:])
    return torch.sort(torch.cat(rest)).values, torch.sort(torch.cat(held)).values


class ActlabDataModule(LightningDataModule):
    """Base of every actlab data module.

    Subclasses set the class constants and implement :meth:`load_splits`; the base carves a
    seeded, stratified validation split from the training part when the dataset has none, and
    serves all splits from memory. ``num_classes`` and ``input_shape`` are known at construction
    time, so the CLI links them into the model before any data is read.

    Args:
        batch_size: samples per training batch (evaluation uses the same).
        num_workers: loader worker processes; 0 loads in the main process (fastest in memory).
        val_fraction: part of the training split held out for validation, per class.
        seed: seed of every split this module draws.
    """

    #: Short dataset name used in run names and tags.
    name: ClassVar[str] = "dataset"
    #: Class names in label order, for confusion-matrix axes.
    class_names: ClassVar[list[str]] = []

    def __init__(
        self,
        batch_size: int = 64,
        num_workers: int = 0,
        val_fraction: float = 0.1,
        seed: int = 0,
    ) -> None:
        super().__init__()
        if batch_size < 1:
            msg = f"batch_size must be >= 1, got {batch_size}"
            raise ActlabError(msg)
        if not 0.0 <= val_fraction < 1.0:
            msg = f"val_fraction must be in [0, 1), got {val_fraction}"
            raise ActlabError(msg)
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.val_fraction = val_fraction
        self.seed = seed
        self.train_set: TensorDataset | None = None
        self.val_set: TensorDataset | None = None
        self.test_set: TensorDataset | None = None

    @property
    def num_classes(self) -> int:
        """Number of classes (linked to ``model.num_classes``)."""
        return len(self.class_names)

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one input sample without the batch dimension (linked to the model)."""
        raise NotImplementedError

    def load_splits(self) -> Splits:
        """Read the dataset and return its splits as tensors (inputs float, targets long)."""
        raise NotImplementedError

    def setup(self, stage: str | None = None) -> None:
        """Load once, carve the validation split if needed and build the datasets."""
        if self.train_set is not None:
            return
        splits = self.load_splits()
        x_train, y_train = splits.train
        if splits.val is None:
            if self.val_fraction > 0:
                rest, held = stratified_split(y_train, self.val_fraction, self.seed)
                splits.val = (x_train[held], y_train[held])
                x_train, y_train = x_train[rest], y_train[rest]
            else:
                splits.val = splits.test
        x_train, x_val, x_test = self.fit_preprocessing(x_train, splits.val[0], splits.test[0])
        self.train_set = TensorDataset(x_train, y_train)
        self.val_set = TensorDataset(x_val, splits.val[1])
        self.test_set = TensorDataset(x_test, splits.test[1])

    def fit_preprocessing(
        self, x_train: torch.Tensor, x_val: torch.Tensor, x_test: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Fit preprocessing on the training inputs only and apply it to every split."""
        return x_train, x_val, x_test

    def _loader(self, dataset: TensorDataset | None, shuffle: bool) -> DataLoader:
        if dataset is None:
            msg = f"{type(self).__name__}.setup() has not run"
            raise RuntimeError(msg)
        generator = torch.Generator().manual_seed(self.seed) if shuffle else None
        return DataLoader(
            dataset,
            batch_size=self.batch_size,
            shuffle=shuffle,
            num_workers=self.num_workers,
            collate_fn=collate_batch,
            generator=generator,
            persistent_workers=self.num_workers > 0,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_set, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_set, shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.test_set, shuffle=False)

    def predict_dataloader(self) -> DataLoader:
        return self._loader(self.test_set, shuffle=False)
