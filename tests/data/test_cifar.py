"""CIFAR10DataModule and CIFAR100DataModule on fake pickles in the real layout."""

from __future__ import annotations

import pickle

import pytest
import torch

from actlab.data import (
    CIFAR10DataModule,
    CIFAR100DataModule,
    CorruptDatasetError,
    DatasetNotFoundError,
)


def _loaded(root, cls=CIFAR10DataModule, **kwargs):
    dm = cls(root=root, **kwargs)
    dm.setup("fit")
    return dm


def test_cifar10_shapes_labels_and_meta_names(make_fake):
    root = make_fake("cifar10")
    dm = _loaded(root, val_fraction=0.2, normalize=False)
    assert dm.num_classes == 10 and dm.input_shape == (3, 32, 32)
    assert len(dm.train_set) == 80 and len(dm.val_set) == 20 and len(dm.test_set) == 30
    assert dm.train_set.inputs.dtype == torch.float32
    assert torch.bincount(dm.test_set.targets).tolist() == [3] * 10
    assert dm.class_names[0] == "airplane" and dm.class_names[9] == "truck"
    with open(root / "cifar-10-batches-py" / "test_batch", "rb") as f:
        entry = pickle.load(f, encoding="bytes")
    first = torch.as_tensor(entry[b"data"][0]).float().view(3, 32, 32) / 255
    assert torch.allclose(dm.test_set.inputs[0], first)
    assert dm.test_set.targets.tolist() == entry[b"labels"]


def test_cifar10_normalisation_constants(make_fake):
    root = make_fake("cifar10")
    raw = _loaded(root, normalize=False).test_set.inputs
    normed = _loaded(root).test_set.inputs
    mean = torch.tensor(CIFAR10DataModule.mean).view(1, 3, 1, 1)
    std = torch.tensor(CIFAR10DataModule.std).view(1, 3, 1, 1)
    assert torch.allclose(normed, (raw - mean) / std, atol=1e-5)


def test_cifar100_fine_labels_and_names(make_fake):
    root = make_fake("cifar100")
    dm = CIFAR100DataModule(root=root, val_fraction=0.25)
    assert dm.num_classes == 100  # known before the files are read
    dm.setup("fit")
    assert len(dm.class_names) == 100 and dm.class_names[7] == "fine_007"
    assert len(dm.train_set) == 300 and len(dm.val_set) == 100 and len(dm.test_set) == 100
    assert torch.bincount(dm.val_set.targets, minlength=100).tolist() == [1] * 100
    assert int(dm.test_set.targets.max()) == 99


def test_missing_batch_names_layout(make_fake):
    root = make_fake("cifar10")
    (root / "cifar-10-batches-py" / "data_batch_3").unlink()
    with pytest.raises(DatasetNotFoundError, match="data_batch_3 does not exist.*download: true"):
        _loaded(root)


def test_truncated_pickle_named(make_fake):
    root = make_fake("cifar100")
    path = root / "cifar-100-python" / "train"
    path.write_bytes(path.read_bytes()[:500])
    with pytest.raises(CorruptDatasetError, match=f"{path}.*truncated or corrupt"):
        _loaded(root, cls=CIFAR100DataModule)


def test_wrong_row_length_named(make_fake):
    root = make_fake("cifar10")
    path = root / "cifar-10-batches-py" / "test_batch"
    with open(path, "rb") as f:
        entry = pickle.load(f, encoding="bytes")
    entry[b"data"] = entry[b"data"][:, :1000]
    with open(path, "wb") as f:
        pickle.dump(entry, f, protocol=2)
    with pytest.raises(CorruptDatasetError, match="expected N x 3072"):
        _loaded(root)


def test_download_uses_torchvision(tmp_path, monkeypatch):
    import torchvision.datasets

    calls = []
    monkeypatch.setattr(
        torchvision.datasets, "CIFAR100", lambda root, train, download: calls.append(root)
    )
    CIFAR100DataModule(root=tmp_path, download=True).prepare_data()
    assert calls == [str(tmp_path)]


@pytest.mark.slow
def test_fit_cifar10_augment_on_device_cli(make_fake, fit_cli):
    fit_cli(
        "CIFAR10DataModule", make_fake("cifar10"), "--model.backbone", "small_cnn",
        "--data.augment", "true", "--data.on_device", "true",
    )  # fmt: skip


@pytest.mark.slow
def test_fit_cifar100_cli(make_fake, fit_cli):
    fit_cli("CIFAR100DataModule", make_fake("cifar100"), "--model.backbone", "small_cnn")
