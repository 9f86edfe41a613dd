"""Write a tiny ILSVRC-style folder: ``<root>/train/<wnid>/<wnid>_<n>.JPEG`` for the 27 insects.

Class sizes differ on purpose (the module must count files), and one non-insect WNID folder is
added that the module must ignore. ``presplit=True`` also writes ``<root>/val/<wnid>/``.
Run ``python tests/data/imagenet_insects/data.py OUT`` to write one by hand.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image
from timm.data import ImageNetInfo

#: ImageNet-1k class 0 (tench): present on disk, not an insect.
OTHER_WNID = "n01440764"


def insect_wnids() -> list[str]:
    info = ImageNetInfo()
    return [info.index_to_label_name(i) for i in range(300, 327)]


def write_images(folder: Path, wnid: str, count: int, rng: np.random.Generator) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for n in range(count):
        h, w = rng.integers(20, 48, size=2)
        pixels = rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"{wnid}_{n}.JPEG", format="JPEG", quality=90)


def make(root: Path, seed: int = 0, base_count: int = 5, presplit: bool = False) -> Path:
    """Write ``base_count + label % 3`` images per insect class; return ``root``."""
    root = Path(root)
    rng = np.random.default_rng(seed)
    for label, wnid in enumerate(insect_wnids()):
        write_images(root / "train" / wnid, wnid, base_count + label % 3, rng)
        if presplit:
            write_images(root / "val" / wnid, wnid, 2, rng)
    write_images(root / "train" / OTHER_WNID, OTHER_WNID, 3, rng)
    return root


if __name__ == "__main__":
    print(make(Path(sys.argv[1] if len(sys.argv) > 1 else "imagenet-insects-fake")))
