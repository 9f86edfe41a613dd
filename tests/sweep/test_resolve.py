"""A run's config hash (:func:`actlab.sweep.resolve.grid_identities`,
:func:`actlab.sweep.spec.resolved_hash`): what an included file holds counts, how a union resolved
a number does not."""

from __future__ import annotations

from pathlib import Path

import yaml

from actlab.sweep.resolve import grid_identities
from actlab.sweep.spec import SweepSpec
from tests.helpers import CONFIGS


def test_an_included_file_works_in_a_sweep_and_its_content_counts(tmp_path: Path) -> None:
    """A base config that includes ``data: data.yaml`` failed every run once the sweep wrote its
    config elsewhere, and the hash ignored what data.yaml held."""
    quickstart = yaml.safe_load((CONFIGS / "quickstart.yaml").read_text())
    (tmp_path / "data.yaml").write_text(yaml.safe_dump(quickstart.pop("data")))
    (tmp_path / "base.yaml").write_text(yaml.safe_dump({**quickstart, "data": "data.yaml"}))
    path = tmp_path / "sweep.yaml"
    sweep = {"experiment": "inc", "base": "base.yaml", "grid": {"model.init_args.head": ["relu"]}}
    path.write_text(yaml.safe_dump(sweep))
    (run,) = SweepSpec.load(path).runs()
    assert run.config["data"]["init_args"]["batch_size"] == 32
    before = grid_identities(SweepSpec.load(path))[0].config_hash  # it parses
    data = yaml.safe_load((tmp_path / "data.yaml").read_text())
    data["init_args"]["batch_size"] = 16
    (tmp_path / "data.yaml").write_text(yaml.safe_dump(data))
    assert grid_identities(SweepSpec.load(path))[0].config_hash != before


def test_the_config_hash_does_not_depend_on_how_a_union_resolved_a_number() -> None:
    """``int | float`` options parse to 2 or 2.0 depending on what the process imported first
    (typing caches the two orders of the union as one object): the sweep's child process and an
    in-process fit then disagreed on a run's hash."""
    import typing

    from actlab.sweep.spec import resolved_hash

    trainer = {"limit_train_batches": 2, "callbacks": [{"init_args": {"patience": 3}}]}
    as_float = {"limit_train_batches": 2.0, "callbacks": [{"init_args": {"patience": 3.0}}]}
    assert resolved_hash({"trainer": trainer}) == resolved_hash({"trainer": as_float})
    assert resolved_hash({"trainer": {"limit_train_batches": 0.5}}) != resolved_hash(
        {"trainer": {"limit_train_batches": 2}}
    )
    # the cause, as CPython has it: one cached object for both orders
    first = typing.Optional[typing.Union[float, int]]  # noqa: UP007, UP045 (as Lightning writes it)
    assert typing.Optional[typing.Union[int, float]] is first  # noqa: UP007, UP045
