"""The data modules as constants plus ``super().__init__(**kwargs)`` (issue 18.4) serve the very
tensors they served before: splits and first batches of every module on the fake data, digested
with ``tests/data/fingerprint.py`` at commit 3146abf (before the refactor) and now.

Deliberate changes, not covered here: ``val_fraction: 0`` is an error unless ``val_on_test`` (18.7;
the cases spell it ``val_on_test: true``), and the insects' ``samples_per_class`` is now the
base's balanced subset (another seeded draw than the module's own copy of it drew).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.data.fingerprint import CASES, build, fingerprint

#: ``python tests/data/fingerprint.py --old-api`` at 3146abf.
GOLDEN = {
    "mnist": {
        "train": "cfafc17285e6f325",
        "val": "60e369cfe47ac722",
        "test": "6c999873c86816e0",
        "train_batch": "7e94c52a6c61cce2",
        "val_batch": "60e369cfe47ac722",
        "input_shape": "[1, 28, 28]",
    },
    "mnist-val-on-test": {
        "train": "c6d5df54274d56e1",
        "val": "6c999873c86816e0",
        "test": "6c999873c86816e0",
        "train_batch": "8a459ee0516a21cb",
        "val_batch": "6c999873c86816e0",
        "input_shape": "[1, 28, 28]",
    },
    "mnist-folds": {
        "train": "913aebe5317b432d",
        "val": "4733e9ee1d99cea3",
        "test": "6c999873c86816e0",
        "train_batch": "fed87b4c9bdceeab",
        "val_batch": "4733e9ee1d99cea3",
        "input_shape": "[1, 28, 28]",
    },
    "mnist-subset-flat": {
        "train": "26a88226c0d61fad",
        "val": "11b48837ddc867cb",
        "test": "63b3c90dd7161954",
        "train_batch": "451c44d98b9312b6",
        "val_batch": "11b48837ddc867cb",
        "input_shape": "[784]",
    },
    "fashion-pca": {
        "train": "9f36e22f52de7de7",
        "val": "4ad9ae321bf77caf",
        "test": "950f9888996c261e",
        "train_batch": "1ed1aadcf73e157e",
        "val_batch": "4ad9ae321bf77caf",
        "input_shape": "[1, 4, 4]",
    },
    "cifar10": {
        "train": "9410c31b1683be0f",
        "val": "d8458d9dce30b17d",
        "test": "d91ab20a7992ad3a",
        "train_batch": "371784ae147030b1",
        "val_batch": "0dfd2c6bb3659409",
        "input_shape": "[3, 32, 32]",
    },
    "cifar100-std": {
        "train": "e45514c847a85321",
        "val": "c5b9f0ea40c20ab0",
        "test": "96a2eab35d635695",
        "train_batch": "355374e12bc159c9",
        "val_batch": "32dd71acfd2ff4f2",
        "input_shape": "[3, 32, 32]",
    },
    "digits": {
        "train": "ff237f7c32c4c8c3",
        "val": "08d3261045561816",
        "test": "629697e44debe7ca",
        "train_batch": "eb8887ed2bc8d50f",
        "val_batch": "50cd1410325bb2eb",
        "input_shape": "[1, 8, 8]",
    },
    "wdbc": {
        "train": "946242e455308b23",
        "val": "4f3e2e92f5aa446e",
        "test": "f6d3b1b6e945b808",
        "train_batch": "603c2ae2dfe1f766",
        "val_batch": "f07473d02ddbe98f",
        "input_shape": "[30]",
    },
    "synthetic": {
        "train": "b8c26036f6f7c3e0",
        "val": "37269b7d5a45c444",
        "test": "98a4f4f2ce5fbc61",
        "train_batch": "cb87f06969ebbe5c",
        "val_batch": "37269b7d5a45c444",
        "input_shape": "[1, 6, 6]",
    },
    "insects": {
        "train": "b0f91bd3c0b722c1",
        "val": "67c6d0997dd012d6",
        "test": "67c6d0997dd012d6",
        "train_batch": "43a08fa2cc2551bc",
        "val_batch": "f989ca70cfc0f149",
        "input_shape": "[3, 16, 16]",
    },
    "insects-presplit": {
        "train": "510b97824b6e62ab",
        "val": "2aef6c3a7e753f52",
        "test": "2aef6c3a7e753f52",
        "train_batch": "54921c8e2da6a718",
        "val_batch": "2dd5ae6b947d5d2e",
        "input_shape": "[3, 12, 12]",
    },
}


def test_every_case_has_a_golden_digest() -> None:
    assert sorted(GOLDEN) == sorted(CASES)


@pytest.mark.parametrize("case", sorted(CASES))
def test_refactor_changes_no_tensor(case: str, tmp_path: Path) -> None:
    dm, root = build(case, tmp_path)
    assert fingerprint(dm, root) == GOLDEN[case]
