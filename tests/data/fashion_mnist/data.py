"""Write a tiny Fashion-MNIST in torchvision's layout: ``<root>/FashionMNIST/raw/*-ubyte[.gz]``.

Run ``python tests/data/fashion_mnist/data.py OUT`` to write one by hand.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

_spec = importlib.util.spec_from_file_location(
    "_mnist_data", Path(__file__).resolve().parents[1] / "mnist" / "data.py"
)
_mnist = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_mnist)


def make(
    root: Path, seed: int = 0, train_per_class: int = 10, test_per_class: int = 3, gz: bool = True
) -> Path:
    """Write ``<root>/FashionMNIST/raw/`` (gzipped by default) and return ``root``."""
    raw = Path(root) / "FashionMNIST" / "raw"
    _mnist.write_mnist_like(raw, seed, train_per_class, test_per_class, gz)
    return Path(root)


if __name__ == "__main__":
    print(make(Path(sys.argv[1] if len(sys.argv) > 1 else "fashion-mnist-fake")))
