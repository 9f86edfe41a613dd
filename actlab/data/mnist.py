"""MNIST and Fashion-MNIST from their IDX files, in torchvision's layout or side by side (002, 003, 004)."""

from __future__ import annotations

import gzip
import math
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch

from actlab.data.base import Splits
from actlab.data.vision import CorruptDatasetError, DatasetNotFoundError, VisionDataModule

#: IDX magic numbers: 0x0000 08 <ndim> (unsigned byte data).
IDX_MAGIC = {1: 2049, 3: 2051}

#: File stems of the four IDX files, by split.
IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def read_idx(path: str | Path, ndim: int) -> torch.Tensor:
    """Read an IDX file of unsigned bytes (``.gz`` or plain) into a uint8 tensor.

    The header is the big-endian magic ``0x000008<ndim>`` (2049 for labels, 2051 for images)
    followed by ``ndim`` big-endian uint32 sizes.

    Raises:
        CorruptDatasetError: wrong magic, short header, or fewer bytes than the sizes promise.
    """
    path = Path(path)
    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as err:
        msg = f"cannot read IDX file {path}: {err}; delete it and download again"
        raise CorruptDatasetError(msg) from err
    header = 4 + 4 * ndim
    if len(data) < header:
        msg = f"IDX file {path} is truncated: {len(data)} bytes, shorter than its header"
        raise CorruptDatasetError(msg)
    magic = int.from_bytes(data[:4], "big")
    if magic != IDX_MAGIC[ndim]:
        msg = (
            f"IDX file {path} has magic number {magic}, expected {IDX_MAGIC[ndim]} "
            f"({ndim}-d unsigned bytes); the file is corrupt or not an MNIST-style IDX file"
        )
        raise CorruptDatasetError(msg)
    dims = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    expected = math.prod(dims)
    if len(data) - header != expected:
        msg = (
            f"IDX file {path} is truncated or padded: header says {dims} = {expected} bytes, "
            f"file holds {len(data) - header}; delete it and download again"
        )
        raise CorruptDatasetError(msg)
    array = np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)
    return torch.from_numpy(array.copy())


class MNISTDataModule(VisionDataModule):
    """MNIST (LeCun et al. 1998): 60,000 training and 10,000 test 28x28 digits.

    Reads the four IDX files ``{train,t10k}-{images-idx3,labels-idx1}-ubyte`` (plain or ``.gz``)
    from the first of these folders that holds all four:

    - ``<root>/MNIST/raw/``, the layout ``torchvision.datasets.MNIST(root, download=True)``
      writes (``download: true`` fills it);
    - ``<root>/`` itself: the files side by side, as LeCun's site and the zalando repository's
      ``data/fashion/`` ship them, as a Keras cache holds them, and as Debian's
      ``dataset-fashion-mnist`` installs them (``/usr/share/datasets/fashion-mnist``).

    002 trains on 500 images per digit (``samples_per_class: 500``); 003 standardises, projects
    onto 256 principal components and feeds its CNN 16x16x1 images (``standardize: true,
    pca_components: 256, pca_reshape: [1, 16, 16]``) with 10-fold CV (``folds: 10``).

    Options: those of :class:`VisionDataModule` and :class:`ActlabDataModule`.
    """

    name: ClassVar[str] = "mnist"
    class_names: ClassVar[list[str]] = [str(d) for d in range(10)]
    mean: ClassVar[tuple[float, ...]] = (0.1307,)
    std: ClassVar[tuple[float, ...]] = (0.3081,)
    stored_shape = (1, 28, 28)
    #: Folder under ``root`` (torchvision's class name).
    folder: ClassVar[str] = "MNIST"
    #: How to get the files without ``download: true`` (named when they are missing).
    offline_hint: ClassVar[str] = "copy the four IDX files into one of those folders"

    @property
    def raw_dir(self) -> Path:
        """torchvision's folder, ``<root>/<folder>/raw``."""
        return self.root / self.folder / "raw"

    @property
    def search_dirs(self) -> tuple[Path, Path]:
        """The folders looked in, in order: torchvision's layout, then the flat one."""
        return (self.raw_dir, self.root)

    @staticmethod
    def _find_in(folder: Path, stem: str) -> Path | None:
        for candidate in (folder / stem, folder / f"{stem}.gz"):
            if candidate.is_file():
                return candidate
        return None

    def data_dir(self) -> Path | None:
        """The first of :attr:`search_dirs` that holds all four IDX files, else None."""
        stems = [stem for pair in IDX_FILES.values() for stem in pair]
        for folder in self.search_dirs:
            if all(self._find_in(folder, stem) for stem in stems):
                return folder
        return None

    def files_present(self) -> bool:
        return self.data_dir() is not None

    def download_files(self) -> None:
        from torchvision import datasets

        for train in (True, False):
            getattr(datasets, self.folder)(str(self.root), train=train, download=True)

    def not_found(self) -> DatasetNotFoundError:
        """The one-line error naming both layouts and the ways to get the files."""
        stems = "{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]"
        missing = [
            f"{stem} in {folder}"
            for folder in self.search_dirs
            for stem in (s for pair in IDX_FILES.values() for s in pair)
            if self._find_in(folder, stem) is None
        ]
        msg = (
            f"{self.name} not found: neither {self.raw_dir}/ (torchvision's layout) nor "
            f"{self.root}/ (the files side by side) holds all four IDX files {stems} "
            f"(root={self.root}, download=false; first missing: {missing[0]}); set "
            f"`download: true` (--data.download true) with a network, or {self.offline_hint}"
        )
        return DatasetNotFoundError(msg)

    def _read_split(self, folder: Path, split: str) -> tuple[torch.Tensor, torch.Tensor]:
        paths = [self._find_in(folder, stem) for stem in IDX_FILES[split]]
        images, labels = read_idx(paths[0], 3), read_idx(paths[1], 1)
        if len(images) != len(labels):
            msg = f"{paths[0]} holds {len(images)} images but {paths[1]} holds {len(labels)} labels"
            raise CorruptDatasetError(msg)
        if tuple(images.shape[1:]) != self.stored_shape[1:]:
            msg = f"{paths[0]} holds {list(images.shape[1:])} images, expected {list(self.stored_shape[1:])}"
            raise CorruptDatasetError(msg)
        if len(labels) and int(labels.max()) >= self.num_classes:
            msg = f"{paths[1]} holds label {int(labels.max())}; valid labels are 0..{self.num_classes - 1}"
            raise CorruptDatasetError(msg)
        return self.to_float(images.unsqueeze(1)), labels.long()

    def load_splits(self) -> Splits:
        folder = self.data_dir()
        if folder is None:
            raise self.not_found()
        return Splits(
            train=self._read_split(folder, "train"), test=self._read_split(folder, "test")
        )


class FashionMNISTDataModule(MNISTDataModule):
    """Fashion-MNIST (Xiao et al. 2017): 28x28 clothing images, MNIST's format and sizes.

    MNIST's file names and layouts, with torchvision's folder ``<root>/FashionMNIST/raw/``. The
    real data installs offline on Debian and Ubuntu: ``scripts/get-data.sh fashion_mnist``
    (package ``dataset-fashion-mnist``), then ``root: /usr/share/datasets/fashion-mnist``. Used
    by 003 (PCA 256) and 004 §4.2.

    Options: those of :class:`VisionDataModule` and :class:`ActlabDataModule`.
    """

    name: ClassVar[str] = "fashion_mnist"
    class_names: ClassVar[list[str]] = [
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
        "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
    ]  # fmt: skip
    mean: ClassVar[tuple[float, ...]] = (0.2860,)
    std: ClassVar[tuple[float, ...]] = (0.3530,)
    folder: ClassVar[str] = "FashionMNIST"
    offline_hint: ClassVar[str] = (
        "install it offline with `scripts/get-data.sh fashion_mnist` (Debian/Ubuntu package "
        "dataset-fashion-mnist) and set root: /usr/share/datasets/fashion-mnist, or copy the "
        "four IDX files into one of those folders"
    )
