"""SHA-256 fingerprints of what a data module serves, to prove a refactor changes no tensor.

``fingerprint(dm)`` digests every split (inputs and targets, or the file list of a file-backed
split) and the first training and validation batch. ``GOLDEN`` in ``test_fingerprints.py`` holds
the digests the code gave before the data modules became constants plus ``super().__init__``
(issue 18.4), computed with ``python tests/data/fingerprint.py`` on that commit; the fake data
comes from ``tests/data/<name>/data.py`` with fixed seeds.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
import tempfile
from pathlib import Path
from typing import Any

import torch

HERE = Path(__file__).resolve().parent

#: case id -> (data class in actlab.data, fake dataset generator or None, generator kwargs,
#: data module kwargs). ``val_on_test`` is spelled ``val_fraction: 0`` for the old code.
CASES: dict[str, tuple[str, str | None, dict[str, Any], dict[str, Any]]] = {
    "mnist": ("MNISTDataModule", "mnist", {}, {"batch_size": 16}),
    "mnist-val-on-test": ("MNISTDataModule", "mnist", {}, {"val_on_test": True}),
    "mnist-folds": ("MNISTDataModule", "mnist", {}, {"folds": 5, "fold": 2, "seed": 3}),
    "mnist-subset-flat": (
        "MNISTDataModule", "mnist", {}, {"samples_per_class": 4, "flatten": True, "normalize": False},
    ),
    "fashion-pca": (
        "FashionMNISTDataModule", "fashion_mnist", {"train_per_class": 30},
        {"standardize": True, "pca_components": 16, "pca_reshape": [1, 4, 4], "folds": 10, "fold": 1},
    ),
    "cifar10": ("CIFAR10DataModule", "cifar10", {}, {"val_fraction": 0.2, "batch_size": 8}),
    "cifar100-std": ("CIFAR100DataModule", "cifar100", {}, {"standardize": True, "seed": 1}),
    "digits": ("DigitsDataModule", None, {}, {"test_fraction": 0.3, "seed": 2}),
    "wdbc": ("WDBCDataModule", None, {}, {"folds": 10, "fold": 4}),
    "synthetic": (
        "SyntheticDataModule", None, {},
        {"input_shape": [1, 6, 6], "num_classes": 3, "train_samples": 60, "test_samples": 12},
    ),
    "insects": (
        "ImageNetInsectsDataModule", "imagenet_insects", {},
        {"image_size": 16, "val_per_class": 2, "num_workers": 0, "batch_size": 8, "val_on_test": True},
    ),
    "insects-presplit": (
        "ImageNetInsectsDataModule", "imagenet_insects", {"presplit": True},
        {"image_size": 12, "num_workers": 0, "batch_size": 4, "seed": 5, "val_on_test": True},
    ),
}  # fmt: skip


def _digest(*tensors: torch.Tensor) -> str:
    h = hashlib.sha256()
    for t in tensors:
        t = t.detach().cpu().contiguous()
        h.update(str((t.dtype, tuple(t.shape))).encode())
        h.update(t.numpy().tobytes())
    return h.hexdigest()[:16]


def _split_digest(dataset: Any, root: Path) -> str:
    if hasattr(dataset, "inputs"):
        return _digest(dataset.inputs, dataset.targets)
    files = [(Path(p).relative_to(root).as_posix(), int(y)) for p, y in dataset.samples]
    return hashlib.sha256(repr(files).encode()).hexdigest()[:16]


def fingerprint(dm: Any, root: Path | None = None) -> dict[str, str]:
    """Digests of the train/val/test splits and the first train and val batch of ``dm``."""
    dm.setup("fit")
    root = Path(root) if root is not None else Path(".")
    out = {
        split: _split_digest(getattr(dm, f"{split}_set"), root)
        for split in ("train", "val", "test")
    }
    torch.manual_seed(0)  # file-backed loaders draw their transforms from the global generator
    out["train_batch"] = _digest(*next(iter(dm.train_dataloader())))
    out["val_batch"] = _digest(*next(iter(dm.val_dataloader())))
    out["input_shape"] = str(list(dm.input_shape))
    return out


def _generator(name: str) -> Any:
    spec = importlib.util.spec_from_file_location(f"fake_{name}", HERE / name / "data.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def build(case: str, tmp: Path, old_api: bool = False) -> tuple[Any, Path | None]:
    """The data module of ``case`` over fake data written under ``tmp``, and its root."""
    import actlab.data

    cls_name, generator, gen_kwargs, kwargs = CASES[case]
    kwargs = dict(kwargs)
    if old_api:  # the API before issue 18: no val_on_test, sample_shape for synthetic data
        if kwargs.pop("val_on_test", False) and not cls_name.startswith("ImageNet"):
            kwargs["val_fraction"] = 0.0
        if "input_shape" in kwargs:
            kwargs["sample_shape"] = kwargs.pop("input_shape")
    root = None
    if generator is not None:
        root = _generator(generator).make(tmp / case, seed=0, **gen_kwargs)
        kwargs["root"] = root
    return getattr(actlab.data, cls_name)(**kwargs), root


def main() -> None:
    old_api = "--old-api" in sys.argv
    with tempfile.TemporaryDirectory() as tmp:
        for case in CASES:
            dm, root = build(case, Path(tmp), old_api=old_api)
            print(f"    {case!r}: {fingerprint(dm, root)!r},")


if __name__ == "__main__":
    main()
