"""Write a tiny CIFAR-10 in the real layout: ``<root>/cifar-10-batches-py/`` pickles.

The pickles carry the real keys (``b'data'`` uint8 N x 3072 row-major RGB planes, ``b'labels'``,
``b'batch_label'``, ``b'filenames'``; ``batches.meta`` with ``b'label_names'``) and protocol 2.
Run ``python tests/data/cifar10/data.py OUT`` to write one by hand.
"""

from __future__ import annotations

import pickle
import sys
from pathlib import Path

import numpy as np

NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def batch(rng: np.random.Generator, labels: np.ndarray, label_key: bytes, name: str) -> dict:
    data = rng.integers(0, 256, size=(len(labels), 3072), dtype=np.uint8)
    return {
        b"batch_label": name.encode(),
        label_key: [int(v) for v in labels],
        b"data": data,
        b"filenames": [f"img_{i:05d}.png".encode() for i in range(len(labels))],
    }


def dump(path: Path, entry: dict) -> None:
    with open(path, "wb") as f:
        pickle.dump(entry, f, protocol=2)


def make(root: Path, seed: int = 0, per_class_per_batch: int = 2, test_per_class: int = 3) -> Path:
    """Write five training batches, ``test_batch`` and ``batches.meta``; return ``root``."""
    base = Path(root) / "cifar-10-batches-py"
    base.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(1, 6):
        labels = rng.permutation(np.repeat(np.arange(10), per_class_per_batch))
        dump(base / f"data_batch_{i}", batch(rng, labels, b"labels", f"training batch {i} of 5"))
    labels = rng.permutation(np.repeat(np.arange(10), test_per_class))
    dump(base / "test_batch", batch(rng, labels, b"labels", "testing batch 1 of 1"))
    meta = {
        b"num_cases_per_batch": 10 * per_class_per_batch,
        b"label_names": [n.encode() for n in NAMES],
        b"num_vis": 3072,
    }
    dump(base / "batches.meta", meta)
    return Path(root)


if __name__ == "__main__":
    print(make(Path(sys.argv[1] if len(sys.argv) > 1 else "cifar10-fake")))
