"""Pretrained weights (``model.init_args.weights``): local files into timm's and actlab's nets, the
hub path, and one-line errors for missing, foreign and mismatched files."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import timm
import torch
from safetensors.torch import save_file

from actlab.models.weights import WeightsError, load_weights_file, read_state_dict
from actlab.tasks import ClassificationModule
from actlab.tasks.classification import create_backbone


def _resnet(num_classes: int = 7, in_chans: int = 3) -> torch.nn.Module:
    torch.manual_seed(1)
    return create_backbone("test_resnet", num_classes, (in_chans, 32, 32))


def _same(a: dict, b: dict, skip: tuple[str, ...] = ()) -> None:
    for key, value in a.items():
        if not key.startswith(skip):
            torch.testing.assert_close(b[key], value, rtol=0, atol=0, msg=key)


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_timm_model_loads_a_local_file_with_a_new_classifier(tmp_path: Path, suffix: str) -> None:
    source = _resnet(num_classes=7).state_dict()
    path = tmp_path / f"w{suffix}"
    if suffix == ".safetensors":
        save_file({k: v.contiguous() for k, v in source.items()}, str(path))
    else:
        torch.save(source, path)
    same = _resnet(num_classes=7)
    torch.manual_seed(5)
    target = create_backbone("test_resnet", 7, (3, 32, 32))
    info = load_weights_file(target, path, "test_resnet", 7, 3)
    _same(source, target.state_dict())
    assert info.adapted == [] and info.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert info.params()["model.weights_from"] == f"file:{path.resolve()}"
    del same

    torch.manual_seed(5)
    other = create_backbone("test_resnet", 4, (1, 32, 32))  # 4 classes, grey images
    built_fc = other.fc.weight.detach().clone()
    info = load_weights_file(other, path, "test_resnet", 4, 1)
    state = other.state_dict()
    _same(source, state, skip=("fc.", "conv1.0.weight"))
    assert state["fc.weight"].shape == (4, built_fc.shape[1])
    torch.testing.assert_close(state["fc.weight"], built_fc)  # re-created: left as built
    # timm's adapt_input_conv: three RGB filters summed into one grey filter
    torch.testing.assert_close(state["conv1.0.weight"], source["conv1.0.weight"].sum(1, True))
    assert any("classifier fc re-created for 4 classes" in a for a in info.adapted)
    assert any("from 3 to 1 channels" in a for a in info.adapted)


def _small_cnn_module(**kwargs) -> ClassificationModule:
    defaults = dict(
        backbone="small_cnn",
        num_classes=3,
        input_shape=(1, 8, 8),
        backbone_kwargs={"channels": [4, 8]},
    )
    return ClassificationModule(**{**defaults, **kwargs})


def test_actlab_net_loads_an_actlab_checkpoint_and_records_it(tmp_path: Path) -> None:
    """An actlab checkpoint: the ``backbone.`` prefix is found, plain data only, new classifier."""
    torch.manual_seed(0)
    trained = _small_cnn_module()
    content = {
        "epoch": 3,
        "state_dict": {f"backbone.{k}": v for k, v in trained.backbone.state_dict().items()},
        "actlab_config": {"hash": "x", "config": {"model.backbone": "small_cnn"}},
    }
    path = tmp_path / "last.ckpt"
    torch.save(content, path)
    torch.manual_seed(1)
    loaded = _small_cnn_module(weights=str(path), activation="prelu")
    assert loaded.weights_source.kind == "file" and loaded.weights_source.adapted == []
    ours = {k: v for k, v in loaded.backbone.state_dict().items() if not k.endswith(".a")}
    _same(trained.backbone.state_dict(), ours)  # the swap keeps every loaded weight

    five = _small_cnn_module(weights=str(path), num_classes=5)
    assert five.backbone.classifier.out_features == 5
    assert (
        "classifier classifier re-created" in five.weights_source.params()["model.weights_adapted"]
    )


def test_mismatched_missing_and_foreign_files_are_one_line(tmp_path: Path) -> None:
    torch.save(_small_cnn_module().backbone.state_dict(), tmp_path / "cnn.pth")
    with pytest.raises(WeightsError) as err:
        _small_cnn_module(weights=str(tmp_path / "cnn.pth"), backbone_kwargs={"channels": [4, 6]})
    msg = str(err.value)
    assert "cnn.pth" in msg and "do not fit model 'small_cnn'" in msg and "\n" not in msg
    assert "features.7.weight (8, 4, 3, 3) in the file, (6, 4, 3, 3) here" in msg

    with pytest.raises(WeightsError, match=r"key\(s\) not in the model: .*extra.weight"):
        torch.save({**_small_cnn_module().backbone.state_dict(), "extra.weight": torch.ones(1)},
                   tmp_path / "extra.pth")  # fmt: skip
        _small_cnn_module(weights=str(tmp_path / "extra.pth"))
    partial = dict(_small_cnn_module().backbone.state_dict())
    partial.pop("features.0.weight")
    torch.save(partial, tmp_path / "partial.pth")
    with pytest.raises(WeightsError, match=r"missing from the file: features.0.weight"):
        _small_cnn_module(weights=str(tmp_path / "partial.pth"))

    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "empty.pth").write_bytes(b"")
    (tmp_path / "bad.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}")
    torch.save({"model": torch.nn.Linear(2, 2)}, tmp_path / "pickled.pth")
    cases = {
        "nope.pth": "no such file",
        "notes.txt": "not a PyTorch file",
        "empty.pth": "is empty",
        "bad.safetensors": "not a readable .safetensors file",
        "pickled.pth": "holds Python objects beyond tensors",
    }
    for name, expected in cases.items():
        with pytest.raises(WeightsError) as err:
            read_state_dict(tmp_path / name)
        assert name in str(err.value) and expected in str(err.value), str(err.value)


def test_weights_true_asks_timm_for_the_hub_weights(monkeypatch: pytest.MonkeyPatch) -> None:
    """Offline: timm's hub download is replaced by an ImageNet-shaped state dict; timm's own
    pretrained path then re-creates the classifier and adapts the stem to one channel."""
    import timm.models._builder as builder

    torch.manual_seed(2)
    hub = timm.create_model("test_resnet", pretrained=False).state_dict()  # 1000 classes, RGB
    asked = []

    def fake_hub(hub_id, *args, **kwargs):
        asked.append(hub_id)
        return {k: v.clone() for k, v in hub.items()}

    monkeypatch.setattr(builder, "load_state_dict_from_hf", fake_hub)
    monkeypatch.setattr(builder, "load_state_dict_from_url", fake_hub)
    module = ClassificationModule(
        backbone="test_resnet", num_classes=4, input_shape=(1, 32, 32), weights=True
    )
    assert asked and "test_resnet" in str(asked[0])
    assert module.weights_source.params() == {
        "model.weights_from": "hub:timm/test_resnet.r160_in1k"
    }
    state = module.backbone.state_dict()
    _same(hub, state, skip=("fc.", "conv1.0.weight"))
    assert state["fc.weight"].shape[0] == 4 and state["conv1.0.weight"].shape[1] == 1

    def offline(*args, **kwargs):
        raise OSError("We couldn't connect to 'https://huggingface.co'")

    monkeypatch.setattr(builder, "load_state_dict_from_hf", offline)
    monkeypatch.setattr(builder, "load_state_dict_from_url", offline)
    with pytest.raises(WeightsError, match="could not fetch .* give weights: PATH"):
        ClassificationModule(
            backbone="test_resnet", num_classes=4, input_shape=(3, 32, 32), weights=True
        )
    with pytest.raises(WeightsError, match="no pretrained weights for model 'small_cnn'"):
        _small_cnn_module(weights=True)
