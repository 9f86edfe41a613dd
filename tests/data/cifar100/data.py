"""Write a tiny CIFAR-100 in the real layout: ``<root>/cifar-100-python/{train,test,meta}``.

Real keys: ``b'data'`` uint8 N x 3072, ``b'fine_labels'``, ``b'coarse_labels'``,
``b'batch_label'``, ``b'filenames'``; ``meta`` holds ``b'fine_label_names'`` and
``b'coarse_label_names'``. Run ``python tests/data/cifar100/data.py OUT`` to write one by hand.
"""

from __future__ import annotations

import pickle
import sys
from pathlib import Path

import numpy as np


def split(rng: np.random.Generator, per_class: int, name: str) -> dict:
    fine = rng.permutation(np.repeat(np.arange(100), per_class))
    return {
        b"filenames": [f"img_{i:05d}.png".encode() for i in range(len(fine))],
        b"batch_label": name.encode(),
        b"fine_labels": [int(v) for v in fine],
        b"coarse_labels": [int(v) // 5 for v in fine],
        b"data": rng.integers(0, 256, size=(len(fine), 3072), dtype=np.uint8),
    }


def make(root: Path, seed: int = 0, train_per_class: int = 4, test_per_class: int = 1) -> Path:
    """Write ``train``, ``test`` and ``meta``; return ``root``."""
    base = Path(root) / "cifar-100-python"
    base.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    entries = {
        "train": split(rng, train_per_class, "training batch 1 of 1"),
        "test": split(rng, test_per_class, "testing batch 1 of 1"),
        "meta": {
            b"fine_label_names": [f"fine_{i:03d}".encode() for i in range(100)],
            b"coarse_label_names": [f"coarse_{i:02d}".encode() for i in range(20)],
        },
    }
    for name, entry in entries.items():
        with open(base / name, "wb") as f:
            pickle.dump(entry, f, protocol=2)
    return Path(root)


if __name__ == "__main__":
    print(make(Path(sys.argv[1] if len(sys.argv) > 1 else "cifar100-fake")))
