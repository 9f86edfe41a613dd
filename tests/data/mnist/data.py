"""Write a tiny MNIST in torchvision's layout: ``<root>/MNIST/raw/*-ubyte`` IDX files (or ``.gz``).

Run ``python tests/data/mnist/data.py OUT`` to write one by hand.
"""

from __future__ import annotations

import gzip
import sys
from pathlib import Path

import numpy as np

FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def write_idx(path: Path, array: np.ndarray, gz: bool = False) -> Path:
    """Write a uint8 array as IDX: magic ``0x000008<ndim>``, big-endian uint32 sizes, bytes."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = (0x0800 | array.ndim).to_bytes(4, "big")
    header += b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    data = header + array.tobytes()
    if gz:
        path = path.with_name(path.name + ".gz")
        with gzip.open(path, "wb") as f:
            f.write(data)
    else:
        path.write_bytes(data)
    return path


def write_mnist_like(
    raw: Path, seed: int, train_per_class: int, test_per_class: int, gz: bool
) -> None:
    """Class-balanced random 28x28 digits whose brightness depends on the label."""
    raw.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for split, per_class in (("train", train_per_class), ("test", test_per_class)):
        labels = np.repeat(np.arange(10, dtype=np.uint8), per_class)
        rng.shuffle(labels)
        images = rng.integers(0, 256, size=(len(labels), 28, 28), dtype=np.uint8)
        images[:, :4, :4] = labels[:, None, None] * 25  # a label-dependent patch
        write_idx(raw / FILES[split][0], images, gz)
        write_idx(raw / FILES[split][1], labels, gz)


def make(
    root: Path, seed: int = 0, train_per_class: int = 10, test_per_class: int = 3, gz: bool = False
) -> Path:
    """Write ``<root>/MNIST/raw/`` and return ``root``."""
    write_mnist_like(Path(root) / "MNIST" / "raw", seed, train_per_class, test_per_class, gz)
    return Path(root)


if __name__ == "__main__":
    print(make(Path(sys.argv[1] if len(sys.argv) > 1 else "mnist-fake")))
