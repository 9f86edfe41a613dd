"""Shared base of the image data modules: root/download, per-channel normalisation, GPU-side augmentation."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import torch

from actlab.data.base import ActlabDataModule
from actlab.errors import ActlabError


class DatasetNotFoundError(ActlabError):
    """A dataset's files are not under ``root`` and ``download`` is false."""


class CorruptDatasetError(ActlabError):
    """A dataset file exists but cannot be read (truncated, wrong format, undecodable)."""


def not_found_message(name: str, root: Path, missing: Path, layout: str) -> str:
    """One line: what is missing, the expected layout, and how to fix it."""
    return (
        f"{name} not found: {missing} does not exist (root={root}, download=false); "
        f"expected {layout}; set `download: true` (--data.download true) or point `root` at it"
    )


def random_crop_flip(
    x: torch.Tensor,
    padding: int,
    generator: torch.Generator | None = None,
    fill: Sequence[float] | torch.Tensor | None = None,
    flip: bool = True,
) -> torch.Tensor:
    """Random ``H x W`` crop after ``padding`` pixels of padding, then a random horizontal flip.

    The standard CIFAR augmentation (001: "random 32x32 crop after 4-pixel padding" and
    horizontal flip), done for a whole batch on its own device without materialising the padded
    batch: every output pixel's source index (crop offset, mirrored for flipped samples) is
    computed per sample, then one ``gather`` reads them and one ``where`` writes the padding.

    Args:
        x: batch ``(B, C, H, W)``.
        padding: pixels added on every side before cropping back to ``H x W``.
        generator: source of the offsets and flips (on ``x``'s device).
        fill: per-channel padding value ``(C,)``; zeros when None. For normalised images pass
            the normalised value of black, ``-mean / std``, to pad as torchvision does.
        flip: also flip each sample horizontally with probability 1/2.
    """
    b, c, h, w = x.shape
    device = x.device
    rows = torch.arange(h, device=device).expand(b, h)
    cols = torch.arange(w, device=device).expand(b, w)
    if padding > 0:
        oy = torch.randint(0, 2 * padding + 1, (b, 1), device=device, generator=generator)
        ox = torch.randint(0, 2 * padding + 1, (b, 1), device=device, generator=generator)
        rows, cols = rows + oy - padding, cols + ox - padding
    if flip:  # a flipped crop reads its columns right to left
        mirrored = torch.rand(b, 1, device=device, generator=generator) < 0.5
        cols = torch.where(mirrored, cols.flip(1), cols)
    if padding == 0 and not flip:
        return x
    source = rows.clamp(0, h - 1)[:, :, None] * w + cols.clamp(0, w - 1)[:, None, :]
    index = source.view(b, 1, h * w).expand(b, c, h * w)
    out = x.flatten(2).gather(2, index).view(b, c, h, w)
    if padding > 0:
        inside = ((rows >= 0) & (rows < h))[:, :, None] & ((cols >= 0) & (cols < w))[:, None, :]
        value = torch.zeros(c) if fill is None else torch.as_tensor(fill, dtype=torch.float32)
        value = value.to(device, x.dtype).view(1, c, 1, 1)
        out = torch.where(inside[:, None], out, value)
    return out


class VisionDataModule(ActlabDataModule):
    """In-memory image datasets read from their real files under ``root``.

    Images are stored once as float tensors in ``[0, 1]``, normalised per channel with the
    dataset's constants (``normalize``). Augmentation (``augment``) runs batch-wise in
    :meth:`on_after_batch_transfer`, i.e. on the trainer's device and for training batches only,
    so with ``on_device: true`` a GPU run never waits for a CPU loader.

    Args:
        root: folder holding the dataset (see each subclass for the layouts it reads).
        download: fetch the files with torchvision's downloader when they are missing.
        normalize: subtract the per-channel mean and divide by the std (class constants).
        augment: random crop after ``crop_padding`` pixels of padding plus horizontal flip on
            training batches (001); needs image-shaped samples (no ``flatten``/PCA).
        crop_padding: padding of the random crop (001: 4); 0 leaves only the flip.
        **kwargs: the options of :class:`ActlabDataModule` (``batch_size``, ``val_fraction``,
            ``seed``, ``folds``, ``pca_components``, ...).
    """

    #: Per-channel mean and std of the training images in [0, 1].
    mean: ClassVar[tuple[float, ...]] = ()
    std: ClassVar[tuple[float, ...]] = ()

    def __init__(
        self,
        root: str | Path = "data",
        download: bool = False,
        normalize: bool = True,
        augment: bool = False,
        crop_padding: int = 4,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if augment and self.flatten:
            msg = (
                "augment=true needs image-shaped samples, but flatten/pca_components is set; "
                "turn augmentation off for MLP or PCA inputs"
            )
            raise ActlabError(msg)
        if crop_padding < 0:
            msg = f"crop_padding must be >= 0, got {crop_padding}"
            raise ActlabError(msg)
        self.root = Path(root).expanduser()
        self.download = download
        self.normalize = normalize
        self.augment = augment
        self.crop_padding = crop_padding
        self._generators: dict[str, torch.Generator] = {}

    def prepare_data(self) -> None:
        """Download the files with torchvision when ``download`` is true and they are missing."""
        if self.download and not self.files_present():
            self.download_files()

    def files_present(self) -> bool:
        """Whether every file the dataset needs exists under ``root``."""
        raise NotImplementedError

    def download_files(self) -> None:
        """Fetch the dataset into ``root`` (torchvision's downloaders)."""
        raise NotImplementedError

    def to_float(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 ``(N, C, H, W)`` -> float in ``[0, 1]``, normalised when ``normalize``."""
        x = images.to(torch.float32).div_(255.0)
        if self.normalize:
            mean = torch.tensor(self.mean).view(1, -1, 1, 1)
            std = torch.tensor(self.std).view(1, -1, 1, 1)
            x = x.sub_(mean).div_(std)
        return x

    def augment_batch(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the training augmentation to a batch on its device (seeded per device)."""
        key = str(x.device)
        if key not in self._generators:
            self._generators[key] = torch.Generator(device=x.device).manual_seed(self.seed)
        fill = (
            [-m / s for m, s in zip(self.mean, self.std, strict=True)] if self.normalize else None
        )
        return random_crop_flip(x, self.crop_padding, self._generators[key], fill)

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        trainer = getattr(self, "trainer", None)
        if self.augment and trainer is not None and trainer.training:
            x, y = batch
            return self.augment_batch(x), y
        return batch
