"""CIFAR-10 and CIFAR-100 from the official python pickles (001)."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from actlab.data.base import Splits
from actlab.data.vision import (
    CorruptDatasetError,
    DatasetNotFoundError,
    VisionDataModule,
    not_found_message,
)


def _text(value: Any) -> Any:
    return value.decode("latin1") if isinstance(value, bytes) else value


def read_cifar_pickle(path: str | Path) -> dict[str, Any]:
    """Load one CIFAR pickle (written by Python 2) with ``str`` keys and ``str`` names.

    Raises:
        CorruptDatasetError: the file is truncated or not a pickled dict.
    """
    path = Path(path)
    try:
        with open(path, "rb") as f:
            entry = pickle.load(f, encoding="latin1")
    except (OSError, EOFError, pickle.UnpicklingError, ValueError, AttributeError) as err:
        msg = f"cannot read CIFAR pickle {path} ({type(err).__name__}: {err}); the file is truncated or corrupt, delete it and download again"
        raise CorruptDatasetError(msg) from err
    if not isinstance(entry, dict):
        msg = f"CIFAR pickle {path} holds a {type(entry).__name__}, expected a dict"
        raise CorruptDatasetError(msg)
    return {_text(k): v for k, v in entry.items()}


def read_cifar_batch(path: str | Path, label_key: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Images ``(N, 3, 32, 32)`` uint8 and labels ``(N,)`` long of one CIFAR data pickle."""
    entry = read_cifar_pickle(path)
    for key in ("data", label_key):
        if key not in entry:
            msg = f"CIFAR pickle {path} has no {key!r} entry (keys: {sorted(entry)})"
            raise CorruptDatasetError(msg)
    data = np.asarray(entry["data"], dtype=np.uint8)
    labels = np.asarray(entry[label_key], dtype=np.int64)
    if data.ndim != 2 or data.shape[1] != 3072 or len(data) != len(labels):
        msg = (
            f"CIFAR pickle {path} holds data {list(data.shape)} and {len(labels)} labels; "
            "expected N x 3072 bytes and N labels"
        )
        raise CorruptDatasetError(msg)
    images = torch.from_numpy(data.reshape(-1, 3, 32, 32).copy())
    return images, torch.from_numpy(labels)


class CIFAR10DataModule(VisionDataModule):
    """CIFAR-10 (Krizhevsky 2009): 50,000 training and 10,000 test 32x32 colour images.

    Reads ``<root>/cifar-10-batches-py/{data_batch_1..5, test_batch, batches.meta}``, the folder
    ``torchvision.datasets.CIFAR10(root, download=True)`` extracts (torchvision checks the MD5
    sums when it downloads). Class names come from ``batches.meta``. 001 normalises per channel
    and augments with a random 32x32 crop after 4-pixel padding plus a horizontal flip
    (``augment: true``).

    Options: those of :class:`VisionDataModule` and :class:`ActlabDataModule`.
    """

    name: ClassVar[str] = "cifar10"
    #: Label names in label order; :meth:`load_splits` checks them against the meta file.
    class_names: ClassVar[list[str]] = [
        "airplane", "automobile", "bird", "cat", "deer",
        "dog", "frog", "horse", "ship", "truck",
    ]  # fmt: skip
    mean: ClassVar[tuple[float, ...]] = (0.4914, 0.4822, 0.4465)
    std: ClassVar[tuple[float, ...]] = (0.2470, 0.2435, 0.2616)
    stored_shape = (3, 32, 32)
    folder: ClassVar[str] = "cifar-10-batches-py"
    train_files: ClassVar[tuple[str, ...]] = tuple(f"data_batch_{i}" for i in range(1, 6))
    test_files: ClassVar[tuple[str, ...]] = ("test_batch",)
    meta_file: ClassVar[str] = "batches.meta"
    label_key: ClassVar[str] = "labels"
    names_key: ClassVar[str] = "label_names"
    torchvision_class: ClassVar[str] = "CIFAR10"
    #: Number of classes, known before the meta file is read (linked to the model).
    num_classes: ClassVar[int] = 10  # type: ignore[misc]  # a constant where the base computes it

    @property
    def base_dir(self) -> Path:
        return self.root / self.folder

    def _all_files(self) -> tuple[str, ...]:
        return (*self.train_files, *self.test_files, self.meta_file)

    def files_present(self) -> bool:
        return all((self.base_dir / f).is_file() for f in self._all_files())

    def download_files(self) -> None:
        from torchvision import datasets

        getattr(datasets, self.torchvision_class)(str(self.root), train=True, download=True)

    def _path(self, file: str) -> Path:
        path = self.base_dir / file
        if not path.is_file():
            layout = f"{self.base_dir}/{{{', '.join(self._all_files())}}}"
            raise DatasetNotFoundError(not_found_message(self.name, self.root, path, layout))
        return path

    def _read(self, files: tuple[str, ...]) -> tuple[torch.Tensor, torch.Tensor]:
        parts = [read_cifar_batch(self._path(f), self.label_key) for f in files]
        images = torch.cat([p[0] for p in parts])
        labels = torch.cat([p[1] for p in parts])
        if len(labels) and (int(labels.min()) < 0 or int(labels.max()) >= self.num_classes):
            msg = (
                f"{self.base_dir} holds labels in [{int(labels.min())}, {int(labels.max())}]; "
                f"{self.name} has labels 0..{self.num_classes - 1}"
            )
            raise CorruptDatasetError(msg)
        return self.to_float(images), labels

    def read_class_names(self) -> list[str]:
        """Label names from the meta file, checked against the class count."""
        path = self._path(self.meta_file)
        meta = read_cifar_pickle(path)
        names = [_text(n) for n in meta.get(self.names_key, [])]
        if len(names) != self.num_classes:
            msg = f"{path} lists {len(names)} {self.names_key}, expected {self.num_classes}"
            raise CorruptDatasetError(msg)
        return names

    def load_splits(self) -> Splits:
        self.class_names = self.read_class_names()
        return Splits(train=self._read(self.train_files), test=self._read(self.test_files))


class CIFAR100DataModule(CIFAR10DataModule):
    """CIFAR-100 (Krizhevsky 2009): CIFAR-10's sizes with 100 fine classes.

    Reads ``<root>/cifar-100-python/{train, test, meta}`` (torchvision's layout) and uses the
    fine labels; the 100 class names come from ``meta``'s ``fine_label_names``, read by
    :meth:`setup` (the class count, 100, is known before that).

    Options: those of :class:`VisionDataModule` and :class:`ActlabDataModule`.
    """

    name: ClassVar[str] = "cifar100"
    #: Filled from ``meta`` by :meth:`setup`.
    class_names: ClassVar[list[str]] = []
    mean: ClassVar[tuple[float, ...]] = (0.5071, 0.4865, 0.4409)
    std: ClassVar[tuple[float, ...]] = (0.2673, 0.2564, 0.2762)
    folder: ClassVar[str] = "cifar-100-python"
    train_files: ClassVar[tuple[str, ...]] = ("train",)
    test_files: ClassVar[tuple[str, ...]] = ("test",)
    meta_file: ClassVar[str] = "meta"
    label_key: ClassVar[str] = "fine_labels"
    names_key: ClassVar[str] = "fine_label_names"
    torchvision_class: ClassVar[str] = "CIFAR100"
    num_classes: ClassVar[int] = 100  # type: ignore[misc]
