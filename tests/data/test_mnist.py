"""MNISTDataModule and FashionMNISTDataModule on fake IDX files in torchvision's layout."""

from __future__ import annotations

import gzip

import pytest
import torch

from actlab.data import (
    CorruptDatasetError,
    DatasetNotFoundError,
    FashionMNISTDataModule,
    MNISTDataModule,
)
from actlab.data.mnist import read_idx
from actlab.errors import ActlabError


def _loaded(root, cls=MNISTDataModule, **kwargs) -> MNISTDataModule:
    dm = cls(root=root, **kwargs)
    dm.setup("fit")
    return dm


@pytest.mark.parametrize("gz", [False, True])
def test_reads_idx_shapes_dtypes_labels(make_fake, gz):
    root = make_fake("mnist", gz=gz)
    dm = _loaded(root, val_fraction=0.2, batch_size=16)
    assert dm.num_classes == 10 and dm.input_shape == (1, 28, 28)
    assert dm.train_set.inputs.dtype == torch.float32 and dm.train_set.targets.dtype == torch.long
    assert len(dm.train_set) == 80 and len(dm.val_set) == 20 and len(dm.test_set) == 30
    assert torch.bincount(dm.train_set.targets).tolist() == [8] * 10
    assert torch.bincount(dm.test_set.targets).tolist() == [3] * 10
    x, y = next(iter(dm.train_dataloader()))
    assert x.shape == (16, 1, 28, 28) and y.shape == (16,)


def test_labels_and_pixels_match_files(make_fake):
    root = make_fake("mnist")
    raw = root / "MNIST" / "raw"
    images = read_idx(raw / "t10k-images-idx3-ubyte", 3)
    labels = read_idx(raw / "t10k-labels-idx1-ubyte", 1)
    dm = _loaded(root, normalize=False)
    assert torch.equal(dm.test_set.targets, labels.long())
    assert torch.allclose(dm.test_set.inputs[:, 0], images.float() / 255)
    normed = _loaded(root)
    expected = (images.float() / 255 - 0.1307) / 0.3081
    assert torch.allclose(normed.test_set.inputs[:, 0], expected, atol=1e-6)


def test_validation_split_disjoint_and_deterministic(make_fake):
    root = make_fake("mnist")
    a, b = _loaded(root, seed=3), _loaded(root, seed=3)
    assert torch.equal(a.val_set.inputs, b.val_set.inputs)
    assert torch.equal(a.train_set.targets, b.train_set.targets)
    train_rows = {tuple(r.tolist()) for r in a.train_set.inputs.flatten(1)}
    assert not any(tuple(r.tolist()) in train_rows for r in a.val_set.inputs.flatten(1))
    other = _loaded(root, seed=4)
    assert not torch.equal(a.val_set.inputs, other.val_set.inputs)


def test_samples_per_class_balanced_subset(make_fake):
    root = make_fake("mnist")
    dm = _loaded(root, samples_per_class=5, val_fraction=0.1)
    assert torch.bincount(dm.train_set.targets).tolist() == [5] * 10
    with pytest.raises(ActlabError, match="samples_per_class=20 exceeds class"):
        _loaded(root, samples_per_class=20)


def test_flatten_and_pca_fitted_on_train(make_fake):
    root = make_fake("mnist")
    flat = _loaded(root, flatten=True)
    assert flat.input_shape == (784,) and flat.train_set.inputs.shape[1:] == (784,)
    dm = _loaded(root, standardize=True, pca_components=16, pca_reshape=[1, 4, 4])
    assert dm.input_shape == (1, 4, 4)
    for ds in (dm.train_set, dm.val_set, dm.test_set):
        assert ds.inputs.shape[1:] == (1, 4, 4)
    # training features are centred (PCA fitted on train) and the variance is ordered
    z = dm.train_set.inputs.flatten(1)
    assert z.mean(0).abs().max() < 1e-3
    var = z.var(0)
    assert torch.all(var[:-1] >= var[1:] - 1e-4)
    assert dm.pca[1].shape == (784, 16)
    assert _loaded(root, pca_components=8).input_shape == (8,)


def test_stratified_folds_partition_training_data(make_fake):
    root = make_fake("mnist")
    folds = [_loaded(root, folds=5, fold=k) for k in range(5)]
    held = torch.cat([f.val_set.inputs.flatten(1) for f in folds])
    assert len(held) == 100 and len({tuple(r.tolist()) for r in held}) == 100
    for f in folds:
        assert torch.bincount(f.val_set.targets).tolist() == [2] * 10
        assert len(f.train_set) == 80 and len(f.test_set) == 30
    again = _loaded(root, folds=5, fold=2)
    assert torch.equal(again.val_set.inputs, folds[2].val_set.inputs)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"folds": 10, "fold": 10}, "fold must be in"),
        ({"folds": 1}, "folds >= 2"),
        ({"fold": 3}, "folds is null"),
        ({"samples_per_class": 0}, "samples_per_class must be"),
        ({"pca_components": 10, "pca_reshape": [1, 4, 4]}, "product must match"),
        ({"pca_reshape": [1, 4, 4]}, "needs pca_components"),
        ({"pca_components": 1000}, "exceeds the 784 features"),
        ({"flatten": True, "augment": True}, "augment=true needs image-shaped"),
    ],
)
def test_bad_options_rejected_at_construction(tmp_path, kwargs, match):
    with pytest.raises(ActlabError, match=match):
        MNISTDataModule(root=tmp_path, **kwargs)


def test_missing_root_names_path_and_download(tmp_path):
    dm = MNISTDataModule(root=tmp_path / "nowhere")
    with pytest.raises(DatasetNotFoundError) as err:
        dm.setup("fit")
    text = str(err.value)
    assert str(tmp_path / "nowhere" / "MNIST" / "raw") in text
    assert "download: true" in text and "train-images-idx3-ubyte" in text


def test_wrong_magic_and_truncated_file_named(make_fake):
    root = make_fake("mnist")
    path = root / "MNIST" / "raw" / "train-images-idx3-ubyte"
    data = bytearray(path.read_bytes())
    path.write_bytes(bytes(data[:-100]))
    with pytest.raises(CorruptDatasetError, match=f"{path}.*truncated"):
        _loaded(root)
    data[3] = 1  # 2049 (a label file's magic) in an image file
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptDatasetError, match=f"{path} has magic number 2049, expected 2051"):
        _loaded(root)


def test_corrupt_gzip_named(make_fake):
    root = make_fake("mnist", gz=True)
    path = root / "MNIST" / "raw" / "t10k-labels-idx1-ubyte.gz"
    path.write_bytes(gzip.compress(b"\x00\x00\x08\x01")[:-6])
    with pytest.raises(CorruptDatasetError, match=str(path)):
        _loaded(root)


def test_download_uses_torchvision(tmp_path, monkeypatch):
    import torchvision.datasets

    calls = []

    def fake(root, train, download):
        calls.append((root, train, download))

    monkeypatch.setattr(torchvision.datasets, "FashionMNIST", fake)
    FashionMNISTDataModule(root=tmp_path, download=True).prepare_data()
    assert calls == [(str(tmp_path), True, True), (str(tmp_path), False, True)]


def test_fashion_mnist_reads_its_folder(make_fake):
    root = make_fake("fashion_mnist")
    assert (root / "FashionMNIST" / "raw" / "train-images-idx3-ubyte.gz").is_file()
    dm = _loaded(root, cls=FashionMNISTDataModule, val_fraction=0.1)
    assert dm.name == "fashion_mnist" and dm.class_names[9] == "Ankle boot"
    assert len(dm.train_set) + len(dm.val_set) == 100 and len(dm.test_set) == 30
    with pytest.raises(DatasetNotFoundError, match="FashionMNIST"):
        _loaded(make_fake("mnist"), cls=FashionMNISTDataModule)


@pytest.mark.slow
def test_fit_mnist_cli(make_fake, fit_cli):
    fit_cli("MNISTDataModule", make_fake("mnist"), "--model.backbone", "small_cnn")


@pytest.mark.slow
def test_fit_fashion_mnist_pca_cnn_cli(make_fake, fit_cli):
    root = make_fake("fashion_mnist")
    fit_cli(
        "FashionMNISTDataModule", root, "--model.backbone", "small_cnn",
        "--data.standardize", "true", "--data.pca_components", "16",
        "--data.pca_reshape", "[1, 4, 4]", "--data.folds", "5", "--data.fold", "1",
    )  # fmt: skip


@pytest.mark.slow
def test_fit_mnist_mlp_subset_cli(make_fake, fit_cli):
    root = make_fake("mnist")
    fit_cli(
        "MNISTDataModule", root, "--model.backbone", "mlp",
        "--data.flatten", "true", "--data.samples_per_class", "5",
    )  # fmt: skip


def test_cli_reports_bad_option_and_missing_root_in_one_line(tmp_path, fit_cli, capsys):
    fit_cli("MNISTDataModule", tmp_path, "--data.folds", "10", "--data.fold", "10", code=2)
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err == "actlab: error: fold must be in [0, folds) with folds >= 2; got folds=10, fold=10"
    fit_cli("MNISTDataModule", tmp_path / "nowhere", "--model.backbone", "small_cnn", code=2)
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("actlab: error: mnist not found:") and "download: true" in err


@pytest.mark.parametrize("gz", [False, True])
def test_reads_the_four_files_side_by_side(make_fake, gz):
    """12.1: the Debian package's, zalando's ``data/fashion/`` and Keras' flat layout."""
    nested = make_fake("fashion_mnist", gz=gz)
    flat = nested.parent / f"flat-{gz}"
    (nested / "FashionMNIST" / "raw").rename(flat)
    dm = _loaded(flat, cls=FashionMNISTDataModule)
    assert dm.data_dir() == flat
    reference = _loaded(make_fake("fashion_mnist", gz=gz), cls=FashionMNISTDataModule)
    for split in ("train_set", "val_set", "test_set"):
        assert torch.equal(getattr(dm, split).inputs, getattr(reference, split).inputs)
        assert torch.equal(getattr(dm, split).targets, getattr(reference, split).targets)


def test_torchvision_layout_wins_and_folders_are_not_mixed(make_fake):
    root = make_fake("mnist")
    raw = root / "MNIST" / "raw"
    for path in raw.iterdir():  # a second copy, side by side in root
        (root / path.name).write_bytes(path.read_bytes())
    assert MNISTDataModule(root=root).data_dir() == raw
    (raw / "t10k-labels-idx1-ubyte").unlink()  # torchvision's folder incomplete: flat one, whole
    assert MNISTDataModule(root=root).data_dir() == root
    (root / "train-images-idx3-ubyte").unlink()
    with pytest.raises(DatasetNotFoundError) as err:
        _loaded(root)
    assert "first missing: t10k-labels-idx1-ubyte in " + str(raw) in str(err.value)


def test_missing_files_error_names_both_layouts_and_ways_to_get_them(tmp_path):
    with pytest.raises(DatasetNotFoundError) as err:
        _loaded(tmp_path / "nowhere", cls=FashionMNISTDataModule)
    text = str(err.value)
    assert "\n" not in text
    assert f"{tmp_path / 'nowhere' / 'FashionMNIST' / 'raw'}/ (torchvision's layout)" in text
    assert f"nor {tmp_path / 'nowhere'}/ (the files side by side)" in text
    assert "`download: true`" in text and "scripts/get-data.sh fashion_mnist" in text
    assert "root: /usr/share/datasets/fashion-mnist" in text and "copy the four IDX files" in text
    with pytest.raises(DatasetNotFoundError) as err:
        _loaded(tmp_path / "nowhere")
    assert "get-data.sh" not in str(err.value) and "copy the four IDX files" in str(err.value)
