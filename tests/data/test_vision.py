"""Batch-wise augmentation and on-device serving of the in-memory vision modules."""

from __future__ import annotations

from types import SimpleNamespace

import torch
import torch.nn.functional as F

from actlab.data import MNISTDataModule
from actlab.data.vision import random_crop_flip


def _windows(x: torch.Tensor, padding: int, fill: float) -> list[torch.Tensor]:
    padded = F.pad(x, (padding,) * 4, value=fill)
    h, w = x.shape[-2:]
    out = []
    for dy in range(2 * padding + 1):
        for dx in range(2 * padding + 1):
            crop = padded[..., dy : dy + h, dx : dx + w]
            out += [crop, crop.flip(-1)]
    return out


def test_random_crop_flip_is_a_padded_window_or_its_mirror():
    x = torch.rand(16, 3, 8, 8)
    generator = torch.Generator().manual_seed(0)
    fill = torch.tensor([-1.0, -2.0, -3.0])
    out = random_crop_flip(x, 2, generator, fill)
    assert out.shape == x.shape
    for i in range(len(x)):
        candidates = [
            torch.cat([_windows(x[i, c : c + 1], 2, float(fill[c]))[k] for c in range(3)])
            for k in range(50)
        ]
        assert any(torch.equal(out[i], cand) for cand in candidates)
    assert not torch.equal(out, x)  # 16 samples: some moved or flipped


def test_random_crop_flip_seeded():
    x = torch.rand(8, 1, 6, 6)
    a = random_crop_flip(x, 4, torch.Generator().manual_seed(1))
    b = random_crop_flip(x, 4, torch.Generator().manual_seed(1))
    assert torch.equal(a, b)
    flip_only = random_crop_flip(x, 0, torch.Generator().manual_seed(1))
    assert all(
        torch.equal(f, s) or torch.equal(f, s.flip(-1)) for f, s in zip(flip_only, x, strict=True)
    )


def test_augmentation_only_on_training_batches(make_fake):
    dm = MNISTDataModule(root=make_fake("mnist"), augment=True)
    dm.setup("fit")
    batch = next(iter(dm.train_dataloader()))
    dm.trainer = SimpleNamespace(training=False)
    assert dm.on_after_batch_transfer(batch, 0)[0] is batch[0]
    dm.trainer = SimpleNamespace(training=True)
    x, y = dm.on_after_batch_transfer(batch, 0)
    assert x.shape == batch[0].shape and torch.equal(y, batch[1])
    assert not torch.equal(x, batch[0])
    # padding uses the normalised value of black, as torchvision pads before normalising
    black = (0 - 0.1307) / 0.3081
    assert torch.isclose(x.min(), torch.tensor(black)) or x.min() >= black


def test_on_device_moves_tensors_to_trainer_device(make_fake):
    dm = MNISTDataModule(root=make_fake("mnist"), on_device=True, num_workers=2)
    dm.trainer = SimpleNamespace(strategy=SimpleNamespace(root_device=torch.device("cpu")))
    dm.setup("fit")
    assert dm.train_set.inputs.device.type == "cpu"
    loader = dm.train_dataloader()
    x, y = next(iter(loader))
    assert x.shape == (64, 1, 28, 28) and len(y) == 64
