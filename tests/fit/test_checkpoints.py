"""Checkpoint choice and checks: the fit config stamp, its hash, and what a file is instead."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
import torch
from lightning import Trainer

from actlab.fit import checkpoints as ck


def test_fit_config_leaves_out_only_how_long_where_and_how_visibly() -> None:
    flat = {
        "model.backbone": "mlp", "data.batch_size": 32, "seed_everything": 0,
        "trainer.max_epochs": 5, "trainer.callbacks": [{"class_path": "x"}],
        "trainer.logger.class_path": "A", "trainer.logger.experiment_name": "e",
        "trainer.logger.tags.seed": "1", "tracking.thresholds": [0.5], "ckpt_path": "last",
        "trainer.precision": "32-true", "checkpoint.monitor": "val/acc",
    }  # fmt: skip
    config = ck.fit_config(flat)
    assert sorted(config) == [
        "data.batch_size", "model.backbone", "seed_everything", "trainer.logger.experiment_name",
        "trainer.precision",
    ]  # fmt: skip
    longer = ck.fit_config({**flat, "trainer.max_epochs": 50, "ckpt_path": None})
    assert ck.fit_hash(longer) == ck.fit_hash(config)
    other = ck.fit_config({**flat, "data.batch_size": 64})
    assert ck.fit_hash(other) != ck.fit_hash(config)
    assert ck.differing_keys(config, other) == ["data.batch_size"]


def test_a_different_class_is_reported_without_its_options() -> None:
    ours = {"data.class_path": '"A"', "data.flatten": "false", "model.head": '"relu"'}
    theirs = {"data.class_path": '"B"', "data.root": '"x"', "model.head": '"softmax"'}
    text = ck.describe_differences(ours, theirs)
    assert text == (
        'data.class_path: "A" here, "B" in the checkpoint; '
        'model.head: "relu" here, "softmax" in the checkpoint'
    )


def lightning_like(path: Path, **extra) -> Path:
    torch.save({"state_dict": {"w": torch.ones(3)}, "epoch": 2, **extra}, path)
    return path


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("empty", b"", r"is empty \(0 bytes\)"),
        ("random", bytes(range(1, 256)) * 8, "is not a PyTorch checkpoint"),
        ("text", b"epoch: 3\n", "is not a PyTorch checkpoint"),
    ],
)
def test_read_checkpoint_says_what_a_file_is(name, content, expected, tmp_path: Path) -> None:
    path = tmp_path / f"{name}.ckpt"
    path.write_bytes(content)
    with pytest.raises(ck.CheckpointError, match=expected):
        ck.read_checkpoint(path)


def test_read_checkpoint_truncated_unsafe_and_foreign(tmp_path: Path) -> None:
    whole = lightning_like(tmp_path / "whole.ckpt")
    assert ck.read_checkpoint(whole)["epoch"] == 2
    cut = tmp_path / "cut.ckpt"
    cut.write_bytes(whole.read_bytes()[:-40])
    with pytest.raises(ck.CheckpointError, match="is truncated or damaged"):
        ck.read_checkpoint(cut)
    unsafe = lightning_like(tmp_path / "unsafe.ckpt", hook=Path("x"))
    with pytest.raises(ck.CheckpointError, match="weights_only=True") as err:
        ck.read_checkpoint(unsafe)
    assert "weights_only=False" not in str(err.value)
    torch.save({"weights": torch.zeros(1)}, tmp_path / "plain.ckpt")
    with pytest.raises(ck.CheckpointError, match="not a Lightning checkpoint"):
        ck.read_checkpoint(tmp_path / "plain.ckpt")


def test_last_is_the_newest_checkpoint_of_this_experiment_and_hash(tmp_path: Path) -> None:
    def write(run: str, experiment: str, fit_hash: str, age: float, legacy: bool = False) -> Path:
        folder = tmp_path / "1" / run / "checkpoints"
        folder.mkdir(parents=True)
        if legacy:  # earlier versions: the fit config in a second entry
            entry = {ck.LEGACY_CONFIG_KEY: {"experiment": experiment, "hash": fit_hash}}
        else:
            entry = {ck.CHECKPOINT_KEY: {"experiment": experiment, "fit_hash": fit_hash}}
        path = lightning_like(folder / "last.ckpt", **entry)
        os.utime(path, (time.time() - age, time.time() - age))
        return path

    old = write("a", "e", "h1", age=100)
    newest_other_hash = write("b", "e", "h2", age=1)
    write("c", "other", "h1", age=2)
    (tmp_path / "1" / "d" / "checkpoints").mkdir(parents=True)
    (tmp_path / "1" / "d" / "checkpoints" / "last.ckpt").write_bytes(b"")  # damaged: skipped
    assert ck.find_last_checkpoint("e", "h1", root=tmp_path) == old
    assert ck.find_last_checkpoint("e", "h2", root=tmp_path) == newest_other_hash
    assert ck.find_last_checkpoint("e", "h3", root=tmp_path) is None
    legacy = write("f", "e", "h4", age=3, legacy=True)
    assert ck.find_last_checkpoint("e", "h4", root=tmp_path) == legacy


def test_a_checkpoint_has_one_actlab_entry_and_older_ones_still_read() -> None:
    """What ``CheckpointStamp`` writes is one entry; a checkpoint of earlier versions (the fit
    config under ``actlab_config`` beside ``actlab``) reads the same through ``entry_of``."""
    stamp = ck.CheckpointStamp("e", {"model.backbone": '"mlp"'}, "c" * 16, {"epoch": 2})
    written: dict = {}
    stamp.on_save_checkpoint(Trainer(logger=False, enable_progress_bar=False), None, written)
    assert list(written) == [ck.CHECKPOINT_KEY]
    entry = written[ck.CHECKPOINT_KEY]
    assert entry["fit_hash"] == ck.fit_hash({"model.backbone": '"mlp"'})
    legacy = {
        "actlab": {"mlflow_run_id": "r1", "tracking_uri": "sqlite:///x.db"},
        ck.LEGACY_CONFIG_KEY: {
            "experiment": "e",
            "hash": entry["fit_hash"],
            "config": entry["fit_config"],
            "config_hash": "c" * 16,
            "continued_from": {"epoch": 2},
        },
        "epoch": 4,
    }
    assert ck.checkpoint_fit_config(legacy) == ck.checkpoint_fit_config(written)
    found = ck.checkpoint_of(Path("x.ckpt"), legacy)
    assert (found.run_id, found.config_hash, found.continued_from) == ("r1", "c" * 16, {"epoch": 2})
