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
    dm = _loaded(root)
    counts = [5 + label % 3 for label in range(27)]  # what the generator wrote
    assert torch.bincount(dm.val_set.targets).tolist() == [2] * 27
    assert torch.bincount(dm.train_set.targets).tolist() == [c - 2 for c in counts]
    assert dm.test_set is dm.val_set
    train_files = {p for p, _ in dm.train_set.samples}
    assert not train_files & {p for p, _ in dm.val_set.samples}
    assert all("n01440764" not in str(p) for p in train_files)  # a non-insect folder is ignored
    again = _loaded(root)
    assert again.val_set.samples == dm.val_set.samples
    assert _loaded(root, seed=1).val_set.samples != dm.val_set.samples


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


def test_presplit_val_folder_is_used(make_fake):
    dm = _loaded(make_fake("imagenet_insects", presplit=True))
    assert len(dm.val_set) == 2 * 27
    assert all("/val/" in str(p) for p, _ in dm.val_set.samples)
    assert len(dm.train_set) == sum(5 + label % 3 for label in range(27))


def test_samples_per_class_and_too_few_images(make_fake):
    root = make_fake("imagenet_insects")
    dm = _loaded(root, samples_per_class=3)
    assert torch.bincount(dm.train_set.targets).tolist() == [3] * 27
    with pytest.raises(ActlabError, match="samples_per_class=4 exceeds the 3 training images"):
        _loaded(root, samples_per_class=4)
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
        "--data.batch_size", "8", "--data.augment", "true",
    )  # fmt: skip
