"""DigitsDataModule: scikit-learn's 8x8 digits as 1x8x8 images."""

from __future__ import annotations

import torch

from actlab.data import DigitsDataModule


def test_images_labels_and_splits() -> None:
    dm = DigitsDataModule(batch_size=16)
    assert dm.num_classes == 10 and dm.input_shape == (1, 8, 8)
    dm.setup("fit")
    total = sum(len(s) for s in (dm.train_set, dm.val_set, dm.test_set))
    assert total == 1797
    x, y = next(iter(dm.train_dataloader()))
    assert x.shape == (16, 1, 8, 8) and x.dtype == torch.float32
    assert 0.0 <= x.min() and x.max() <= 1.0
    assert set(dm.test_set.targets.tolist()) == set(range(10))


def test_shuffling_is_seeded() -> None:
    first = []
    for _ in range(2):
        dm = DigitsDataModule(seed=3)
        dm.setup("fit")
        first.append(next(iter(dm.train_dataloader()))[1])
    assert torch.equal(first[0], first[1])
