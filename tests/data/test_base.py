"""The base pipeline helpers (k-fold, balanced subset, PCA) and their use by WDBC and digits."""

from __future__ import annotations

import pytest
import torch

from actlab.data import DigitsDataModule, WDBCDataModule, balanced_subset, fit_pca, kfold_split
from actlab.errors import ActlabError


def test_kfold_split_partitions_and_stratifies():
    targets = torch.tensor([0] * 23 + [1] * 17 + [2] * 10)
    held = [kfold_split(targets, 5, k, seed=0)[1] for k in range(5)]
    assert torch.equal(torch.sort(torch.cat(held)).values, torch.arange(50))
    for k, h in enumerate(held):
        rest = kfold_split(targets, 5, k, seed=0)[0]
        assert len(set(rest.tolist()) & set(h.tolist())) == 0 and len(rest) + len(h) == 50
        counts = torch.bincount(targets[h], minlength=3)
        assert (counts - torch.tensor([23, 17, 10]) / 5).abs().max() < 1
    assert torch.equal(kfold_split(targets, 5, 2, seed=0)[1], held[2])
    assert not torch.equal(kfold_split(targets, 5, 2, seed=1)[1], held[2])
    with pytest.raises(ActlabError, match="folds=5, fold=5"):
        kfold_split(targets, 5, 5, seed=0)


def test_balanced_subset():
    targets = torch.tensor([0] * 8 + [1] * 5)
    chosen = balanced_subset(targets, 5, seed=0)
    assert torch.bincount(targets[chosen]).tolist() == [5, 5]
    with pytest.raises(ActlabError, match="samples_per_class=6 exceeds class 1, which has 5"):
        balanced_subset(targets, 6, seed=0)


def test_fit_pca_matches_svd_subspace():
    x = torch.randn(200, 6) @ torch.randn(6, 6)
    mean, components = fit_pca(x, 3)
    _, _, vh = torch.linalg.svd(x - x.mean(0), full_matrices=False)
    for i in range(3):
        assert torch.isclose(components[:, i].dot(vh[i]).abs(), torch.tensor(1.0), atol=1e-4)
    assert torch.allclose(components.T @ components, torch.eye(3), atol=1e-5)
    with pytest.raises(ActlabError, match="pca_components=7"):
        fit_pca(x, 7)


def test_digits_with_folds_and_pca():
    dm = DigitsDataModule(folds=10, fold=3, pca_components=16, pca_reshape=[1, 4, 4])
    assert dm.input_shape == (1, 4, 4)
    dm.setup("fit")
    assert dm.train_set.inputs.shape[1:] == (1, 4, 4)
    assert abs(len(dm.val_set) - len(dm.train_set) / 9) < 10
    assert DigitsDataModule(flatten=True).input_shape == (64,)


def test_wdbc_folds_and_standardize():
    dm = WDBCDataModule(folds=10, fold=0, samples_per_class=100)
    dm.setup("fit")
    assert torch.bincount(dm.train_set.targets).tolist() == [100, 100]
    assert len(dm.test_set) == 171
    x = WDBCDataModule()
    x.setup("fit")
    assert x.train_set.inputs.mean(0).abs().max() < 1e-4


def test_val_fraction_zero_is_an_error_unless_val_on_test():
    """18.7: validating on the test split is never a silent fallback."""
    with pytest.raises(ActlabError, match="val_fraction=0 leaves no validation split.*val_on_test"):
        DigitsDataModule(val_fraction=0)
    with pytest.raises(ActlabError, match="folds=5 validates on fold 0 but val_on_test=true"):
        DigitsDataModule(folds=5, val_on_test=True)
    dm = DigitsDataModule(val_on_test=True)
    dm.setup("fit")
    assert torch.equal(dm.val_set.inputs, dm.test_set.inputs)
    assert len(dm.train_set) + len(dm.test_set) == 1797  # the whole training split trains
    carved = DigitsDataModule(val_fraction=0.1)
    carved.setup("fit")
    assert len(carved.train_set) + len(carved.val_set) == len(dm.train_set)
    assert DigitsDataModule(val_fraction=0, folds=5).folds == 5  # folds say where validation runs


def test_option_names_walk_the_mro():
    """The subclasses pass the base options on through **kwargs; option_names lists them all."""
    from actlab.data import CIFAR10DataModule, ImageNetInsectsDataModule, SyntheticDataModule

    base = [
        "batch_size", "num_workers", "val_fraction", "seed", "samples_per_class", "folds",
        "fold", "val_on_test", "flatten", "standardize", "pca_components", "pca_reshape",
        "on_device",
    ]  # fmt: skip
    vision = ["root", "download", "normalize", "augment", "crop_padding"]
    assert CIFAR10DataModule.option_names() == vision + base
    assert WDBCDataModule.option_names() == ["test_fraction", "standardize", "batch_size"] + [
        b for b in base if b not in ("standardize", "batch_size")
    ]
    assert ImageNetInsectsDataModule.option_names()[:5] == [
        "root", "image_size", "resize_size", "val_per_class", "num_workers",
    ]  # fmt: skip
    assert set(ImageNetInsectsDataModule.option_names()) == {
        "image_size", "resize_size", "val_per_class", *vision, *base,
    }  # fmt: skip
    assert SyntheticDataModule.option_names()[:2] == ["input_shape", "num_classes"]
