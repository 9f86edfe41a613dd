"""ImageNetInsectsDataModule on a fake ILSVRC-style folder of JPEGs."""

from __future__ import annotations

import pytest
import torch
from timm.data import ImageNetInfo

from actlab.data import CorruptDatasetError, DatasetNotFoundError, ImageNetInsectsDataModule
from actlab.errors import ActlabError


def _loaded(root, **kwargs) -> ImageNetInsectsDataModule:
    kwargs = {"image_size": 16, "val_per_class": 2, "num_workers": 0, "batch_size": 8} | kwargs
    dm = ImageNetInsectsDataModule(root=root, **kwargs)
    dm.setup("fit")
    return dm


def test_27_classes_are_imagenet_300_to_326():
    info = ImageNetInfo()
    dm = ImageNetInsectsDataModule(root="unused")
    assert dm.num_classes == 27
    assert dm.wnids == [info.index_to_label_name(i) for i in range(300, 327)]
    assert dm.class_names == [info.index_to_description(i) for i in range(300, 327)]
    assert dm.wnids[0] == "n02165105" and dm.wnids[-1] == "n02281787"
    assert dm.input_shape == (3, 256, 256)


def test_per_class_split_counts_files_on_disk(make_fake):
    root = make_fake("imagenet_insects")
    dm = _loaded(root, val_on_test=True)
    counts = [5 + label % 3 for label in range(27)]  # what the generator wrote
    assert torch.bincount(dm.test_set.targets).tolist() == [2] * 27
    assert torch.bincount(dm.train_set.targets).tolist() == [c - 2 for c in counts]
    assert dm.test_set.samples == dm.val_set.samples  # 000 selects on the set it reports
    train_files = {p for p, _ in dm.train_set.samples}
    assert not train_files & {p for p, _ in dm.test_set.samples}
    assert all("n01440764" not in str(p) for p in train_files)  # a non-insect folder is ignored
    again = _loaded(root, val_on_test=True)
    assert again.test_set.samples == dm.test_set.samples
    assert _loaded(root, seed=1, val_on_test=True).test_set.samples != dm.test_set.samples


def test_validation_is_carved_from_train_by_default(make_fake):
    """18.7: by default the insects validate on part of train/, not on the set test/* reports."""
    root = make_fake("imagenet_insects")
    dm = _loaded(root, val_fraction=0.25)
    val = {p for p, _ in dm.val_set.samples}
    test = {p for p, _ in dm.test_set.samples}
    train = {p for p, _ in dm.train_set.samples}
    assert val and not val & test and not val & train and not train & test
    assert len(train) + len(val) + len(test) == sum(5 + label % 3 for label in range(27))
    with pytest.raises(ActlabError, match="val_fraction=0 leaves no validation split"):
        ImageNetInsectsDataModule(root=root, val_fraction=0)


def test_folds_pca_and_on_device_come_from_the_base(make_fake):
    root = make_fake("imagenet_insects")
    folds = [_loaded(root, folds=3, fold=k) for k in range(3)]
    held = [p for f in folds for p, _ in f.val_set.samples]
    assert len(held) == len(set(held)) == len(folds[0].train_set) + len(folds[0].val_set)
    dm = _loaded(root, image_size=8, standardize=True, pca_components=16, pca_reshape=[1, 4, 4])
    assert dm.input_shape == (1, 4, 4) and dm.train_set.inputs.shape[1:] == (1, 4, 4)
    assert dm.pca[1].shape == (3 * 8 * 8, 16)
    x, y = next(iter(dm.val_dataloader()))
    assert x.shape == (8, 1, 4, 4) and y.dtype == torch.long
    on_device = _loaded(root, image_size=8, on_device=True)
    assert isinstance(on_device.train_set.inputs, torch.Tensor)
    assert on_device.train_set.inputs.shape[1:] == (3, 8, 8)


def test_batches_shapes_normalised_and_augmented(make_fake):
    dm = _loaded(make_fake("imagenet_insects"), image_size=24, augment=True)
    x, y = next(iter(dm.val_dataloader()))
    assert x.shape == (8, 3, 24, 24) and x.dtype == torch.float32 and y.dtype == torch.long
    assert x.min() < 0  # normalised with ImageNet's mean/std
    torch.manual_seed(0)
    a = dm.train_set[0][0]
    b = dm.train_set[0][0]
    assert a.shape == (3, 24, 24) and not torch.equal(a, b)  # random-resized crop / flip
    plain = _loaded(dm.root, image_size=24)
    assert torch.equal(plain.train_set[0][0], plain.train_set[0][0])


def test_presplit_val_folder_is_the_test_split(make_fake):
    dm = _loaded(make_fake("imagenet_insects", presplit=True), val_on_test=True)
    assert len(dm.test_set) == 2 * 27
    assert all("/val/" in str(p) for p, _ in dm.test_set.samples)
    assert len(dm.train_set) == sum(5 + label % 3 for label in range(27))


def test_samples_per_class_and_too_few_images(make_fake):
    root = make_fake("imagenet_insects")
    dm = _loaded(root, samples_per_class=3, val_on_test=True)
    assert torch.bincount(dm.train_set.targets).tolist() == [3] * 27
    with pytest.raises(ActlabError, match="samples_per_class=4 exceeds class 0, which has 3"):
        _loaded(root, samples_per_class=4, val_on_test=True)
    with pytest.raises(ActlabError, match="holds 5 images, not more than val_per_class=5"):
        _loaded(root, val_per_class=5)


def test_missing_root_and_missing_class(make_fake, tmp_path):
    with pytest.raises(DatasetNotFoundError, match="train does not exist.*<wnid>/\\*.JPEG"):
        _loaded(tmp_path / "nowhere")
    root = make_fake("imagenet_insects")
    for f in (root / "train" / "n02281787").iterdir():
        f.unlink()
    (root / "train" / "n02281787").rmdir()
    with pytest.raises(
        DatasetNotFoundError, match="lacks 1 of the 27 insect class folders: n02281787"
    ):
        _loaded(root)


def test_download_is_refused_with_instructions(tmp_path):
    dm = ImageNetInsectsDataModule(root=tmp_path, download=True)
    with pytest.raises(ActlabError, match="cannot be downloaded automatically"):
        dm.prepare_data()


def test_unreadable_jpeg_named(make_fake):
    dm = _loaded(make_fake("imagenet_insects"))
    path, _ = dm.train_set.samples[0]
    path.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    with pytest.raises(CorruptDatasetError, match=f"cannot decode image {path}"):
        dm.train_set[0]


@pytest.mark.slow
def test_fit_imagenet_insects_cli(make_fake, fit_cli):
    fit_cli(
        "ImageNetInsectsDataModule", make_fake("imagenet_insects"), "--model.backbone", "small_cnn",
        "--data.image_size", "16", "--data.val_per_class", "2", "--data.num_workers", "0",
        "--data.batch_size", "8", "--data.augment", "true", "--data.val_fraction", "0.3",
    )  # fmt: skip
