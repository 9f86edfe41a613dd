"""WDBCDataModule: scikit-learn's breast-cancer set, stratified seeded splits, train-only scaling."""

from __future__ import annotations

import pytest
import torch

from actlab.data import WDBCDataModule
from actlab.errors import ActlabError


def _setup(**kwargs) -> WDBCDataModule:
    dm = WDBCDataModule(**kwargs)
    dm.setup("fit")
    return dm


def test_shapes_classes_and_split_sizes() -> None:
    dm = _setup()
    assert dm.num_classes == 2 and dm.input_shape == (30,)
    assert dm.class_names == ["malignant", "benign"]
    sizes = [len(s) for s in (dm.train_set, dm.val_set, dm.test_set)]
    assert sum(sizes) == 569
    assert sizes[2] == pytest.approx(0.3 * 569, abs=2)
    x, y = dm.train_set[0]
    assert x.dtype == torch.float32 and y.dtype == torch.long


def test_split_is_stratified() -> None:
    dm = _setup()
    for subset in (dm.train_set, dm.val_set, dm.test_set):
        frac_benign = subset.targets.float().mean().item()
        assert frac_benign == pytest.approx(357 / 569, abs=0.03)


def test_splits_are_disjoint_and_seeded() -> None:
    a, b, c = _setup(seed=0), _setup(seed=0), _setup(seed=1)
    assert torch.equal(a.test_set.inputs, b.test_set.inputs)
    assert not torch.equal(a.test_set.inputs, c.test_set.inputs)
    rows = [tuple(r.tolist()) for s in (a.train_set, a.val_set, a.test_set) for r in s.inputs]
    assert len(set(rows)) == len(rows)


def test_standardisation_fitted_on_train_only() -> None:
    dm = _setup()
    train = dm.train_set.inputs
    assert torch.allclose(train.mean(0), torch.zeros(30), atol=1e-5)
    assert torch.allclose(train.std(0), torch.ones(30), atol=1e-4)
    # The test part is scaled with the training statistics, so its mean is not exactly zero.
    assert dm.test_set.inputs.mean(0).abs().max() > 1e-3
    raw = _setup(standardize=False)
    assert raw.train_set.inputs.mean().item() > 10


def test_batches_come_whole_from_one_gather() -> None:
    dm = _setup(batch_size=50)
    x, y = next(iter(dm.train_dataloader()))
    assert x.shape == (50, 30) and y.shape == (50,)


@pytest.mark.parametrize("kwargs", [{"batch_size": 0}, {"val_fraction": 1.5}])
def test_bad_options_are_rejected(kwargs) -> None:
    with pytest.raises(ActlabError):
        WDBCDataModule(**kwargs)
