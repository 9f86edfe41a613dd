"""The 27 insect classes of ImageNet-1k (indices 300-326) from an ILSVRC-style folder (000)."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch.utils.data import Dataset

from actlab.data.base import Splits
from actlab.data.vision import (
    CorruptDatasetError,
    DatasetNotFoundError,
    VisionDataModule,
    not_found_message,
)
from actlab.errors import ActlabError

#: ImageNet-1k class indices of the insects, tiger beetle (300) to lycaenid (326).
INSECT_INDICES = range(300, 327)
#: File suffixes read as images (ILSVRC ships ``.JPEG``).
IMAGE_SUFFIXES = (".jpeg", ".jpg", ".png")


@lru_cache(maxsize=1)
def insect_classes() -> tuple[tuple[str, str], ...]:
    """``(wnid, name)`` of ImageNet-1k classes 300-326, from timm's shipped ``ImageNetInfo``."""
    from timm.data import ImageNetInfo

    info = ImageNetInfo("imagenet-1k")
    return tuple(
        (info.index_to_label_name(i), info.index_to_description(i)) for i in INSECT_INDICES
    )


def _image_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


class ImageFiles:
    """A list of image files that an index tensor can subscript, as the base splits inputs.

    :meth:`ActlabDataModule.setup` picks folds, validation and ``samples_per_class`` subsets
    with ``inputs[indices]``; this makes a list of paths take part without decoding anything.
    """

    def __init__(self, paths: Sequence[Path]) -> None:
        self.paths = list(paths)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: torch.Tensor | Sequence[int]) -> ImageFiles:
        return ImageFiles([self.paths[i] for i in torch.as_tensor(index).tolist()])


class ImageFileDataset(Dataset):
    """``(path, label)`` pairs decoded with PIL and transformed on the fly (in loader workers).

    Args:
        samples: image files and their labels.
        transform: maps an RGB ``PIL.Image`` to a tensor.
        draft_size: JPEGs are decoded at the smallest scale that keeps both sides at least
            this long (PIL's ``draft``), which makes large photos several times cheaper.
    """

    def __init__(self, samples: list[tuple[Path, int]], transform: Any, draft_size: int) -> None:
        self.samples = samples
        self.transform = transform
        self.draft_size = draft_size
        self.targets = torch.tensor([label for _, label in samples], dtype=torch.long)

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        from PIL import Image

        path, label = self.samples[index]
        try:
            with Image.open(path) as image:
                image.draft("RGB", (self.draft_size, self.draft_size))
                image = image.convert("RGB")
        except (OSError, SyntaxError, ValueError) as err:
            msg = f"cannot decode image {path} ({type(err).__name__}: {err}); remove or replace the file"
            raise CorruptDatasetError(msg) from err
        return self.transform(image), label

    def __getitems__(self, indices: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        images = [self[i][0] for i in indices]
        return torch.stack(images), self.targets[torch.as_tensor(indices, dtype=torch.long)]


class ImageNetInsectsDataModule(VisionDataModule):
    """000's forest insects: ImageNet-1k classes 300-326 (27 classes), images from disk.

    Reads an ILSVRC-style folder ``<root>/train/<wnid>/*.JPEG`` (other WNIDs in it are ignored);
    the 27 WNIDs and names come from ``timm.data.ImageNetInfo``. The test split is 000's
    validation set: ``<root>/val/<wnid>/*.JPEG`` when that folder exists, else
    ``val_per_class`` images of every class of ``train/`` (sorted, shuffled with ``seed``; 000:
    200 per class, the rest, about 1,100, train; the images on disk are counted, not assumed).
    Validation, folds and ``samples_per_class`` then come from the base like for every dataset:
    ``val_fraction`` of the training images by default; 000 selects its best epoch on the set
    it reports, which is ``val_on_test: true``.

    Training images get a random-resized crop of ``image_size`` and a horizontal flip
    (``augment``); evaluation images are resized (shorter side ``resize_size``) and
    center-cropped to ``image_size``. Images are decoded on the fly in loader workers (35,100
    photos do not fit in memory), so set ``num_workers``. ``flatten``, ``standardize``, PCA and
    ``on_device`` need the pixels in memory: then every image is decoded once with the
    evaluation transform and ``augment`` becomes the base's batch-wise random crop
    (``crop_padding``) and flip.

    Args:
        root: folder holding ``train/`` (and optionally ``val/``).
        download: ImageNet cannot be downloaded automatically; ``true`` is an error.
        image_size: side of the square crops (000: 256).
        resize_size: shorter side before the evaluation center crop; None uses ``image_size``.
        val_per_class: test images per class carved from ``train/`` when there is no ``val/``
            (000: 200).
        num_workers: as in :class:`ActlabDataModule`, here 4 by default (JPEG decoding).
        **kwargs: the other options of :class:`VisionDataModule` and :class:`ActlabDataModule`.
    """

    name: ClassVar[str] = "imagenet_insects"
    class_names: ClassVar[list[str]] = [name for _, name in insect_classes()]
    #: WordNet IDs in label order (label ``i`` is ImageNet-1k class ``300 + i``).
    wnids: ClassVar[list[str]] = [wnid for wnid, _ in insect_classes()]
    mean: ClassVar[tuple[float, ...]] = (0.485, 0.456, 0.406)
    std: ClassVar[tuple[float, ...]] = (0.229, 0.224, 0.225)

    def __init__(
        self,
        root: str | Path = "data/imagenet",
        image_size: int = 256,
        resize_size: int | None = None,
        val_per_class: int = 200,
        num_workers: int = 4,
        **kwargs: Any,
    ) -> None:
        if image_size < 1 or (resize_size is not None and resize_size < image_size):
            msg = f"need image_size >= 1 and resize_size >= image_size, got {image_size}, {resize_size}"
            raise ActlabError(msg)
        if val_per_class < 1:
            msg = f"val_per_class must be >= 1, got {val_per_class}"
            raise ActlabError(msg)
        self.stored_shape = (3, image_size, image_size)
        super().__init__(root=root, num_workers=num_workers, **kwargs)
        self.image_size = image_size
        self.resize_size = resize_size or image_size
        self.val_per_class = val_per_class

    @property
    def in_memory(self) -> bool:
        """Whether the pixels are decoded once into tensors (flatten, standardize, PCA, on_device)."""
        return self.flatten or self.standardize or self.on_device

    def files_present(self) -> bool:
        return (self.root / "train").is_dir()

    def download_files(self) -> None:
        msg = (
            "ImageNet cannot be downloaded automatically (its licence needs a login at "
            f"image-net.org); extract ILSVRC2012_img_train.tar so that {self.root}/train/<wnid>/*.JPEG "
            "exists and set `download: false`"
        )
        raise ActlabError(msg)

    def _class_dirs(self, split_dir: Path) -> list[Path]:
        missing = [w for w in self.wnids if not (split_dir / w).is_dir()]
        if missing:
            shown = ", ".join(missing[:5]) + (
                f" (and {len(missing) - 5} more)" if len(missing) > 5 else ""
            )
            msg = (
                f"{split_dir} lacks {len(missing)} of the 27 insect class folders: {shown}; "
                f"expected {split_dir}/<wnid>/*.JPEG for ImageNet-1k classes 300-326"
            )
            raise DatasetNotFoundError(msg)
        return [split_dir / w for w in self.wnids]

    def list_splits(self) -> tuple[list[tuple[Path, int]], list[tuple[Path, int]]]:
        """``(train, test)`` lists of ``(file, label)``, deterministic for a given ``seed``."""
        train_dir, val_dir = self.root / "train", self.root / "val"
        if not train_dir.is_dir():
            if self.download:
                self.download_files()
            layout = f"{train_dir}/<wnid>/*.JPEG for the 27 insect WNIDs (n02165105 ... n02281787)"
            raise DatasetNotFoundError(not_found_message(self.name, self.root, train_dir, layout))
        val_dirs = self._class_dirs(val_dir) if val_dir.is_dir() else None
        generator = torch.Generator().manual_seed(self.seed)
        train, test = [], []
        for label, folder in enumerate(self._class_dirs(train_dir)):
            files = _image_files(folder)
            if val_dirs is not None:
                held = _image_files(val_dirs[label])
            else:
                if len(files) <= self.val_per_class:
                    msg = (
                        f"{folder} holds {len(files)} images, not more than val_per_class="
                        f"{self.val_per_class}; lower val_per_class"
                    )
                    raise ActlabError(msg)
                order = torch.randperm(len(files), generator=generator).tolist()
                held = sorted(files[i] for i in order[: self.val_per_class])
                files = sorted(files[i] for i in order[self.val_per_class :])
            train += [(f, label) for f in files]
            test += [(f, label) for f in held]
        return train, test

    def load_splits(self) -> Splits:
        train, test = self.list_splits()

        def split(samples: list[tuple[Path, int]]) -> tuple[ImageFiles, torch.Tensor]:
            files = ImageFiles([path for path, _ in samples])
            return files, torch.tensor([label for _, label in samples], dtype=torch.long)

        return Splits(train=split(train), test=split(test))

    def transforms(self, train: bool) -> Any:
        """torchvision v2 pipeline: PIL image -> normalised float tensor ``(3, S, S)``."""
        from torchvision.transforms import v2

        if train and self.augment:
            geometry = [v2.RandomResizedCrop(self.image_size), v2.RandomHorizontalFlip()]
        else:
            geometry = [v2.Resize(self.resize_size), v2.CenterCrop(self.image_size)]
        steps = [v2.ToImage(), *geometry, v2.ToDtype(torch.float32, scale=True)]
        if self.normalize:
            steps.append(v2.Normalize(list(self.mean), list(self.std)))
        return v2.Compose(steps)

    def _decode(self, files: ImageFiles) -> torch.Tensor:
        dataset = self.make_dataset(files, torch.zeros(len(files), dtype=torch.long), train=False)
        return dataset.__getitems__(list(range(len(files))))[0]

    def fit_preprocessing(
        self, x_train: Any, x_val: Any, x_test: Any
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Decode every image once (evaluation transform) when the options need tensors."""
        if not self.in_memory:
            return x_train, x_val, x_test
        return self._decode(x_train), self._decode(x_val), self._decode(x_test)

    def make_dataset(self, inputs: Any, targets: torch.Tensor, train: bool) -> Dataset:
        if isinstance(inputs, ImageFiles):
            samples = list(zip(inputs.paths, targets.tolist(), strict=True))
            return ImageFileDataset(samples, self.transforms(train), self.resize_size)
        return super().make_dataset(inputs, targets, train)

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        if self.in_memory:  # decoded pixels: the base's batch-wise crop and flip
            return super().on_after_batch_transfer(batch, dataloader_idx)
        return batch  # augmentation runs per image in the loader workers
