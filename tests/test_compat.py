"""actlab/compat.py: every private Lightning hook actlab relies on exists, and a missing one
fails loudly, naming itself, instead of silently losing metrics or checkpoints."""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace

import lightning
import pytest
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import MLFlowLogger

from actlab import compat
from tests.helpers import REPO


def test_installed_lightning_has_every_hook() -> None:
    compat.check()


def test_the_pin_is_the_tested_range_and_holds_the_installed_version() -> None:
    from packaging.specifiers import SpecifierSet

    pyproject = (REPO / "pyproject.toml").read_text()
    (pin,) = re.findall(r'"lightning([<>=!~][^"]*)"', pyproject)
    assert pin == compat.LIGHTNING_TESTED
    assert lightning.__version__ in SpecifierSet(pin)


@pytest.mark.parametrize(
    ("owner", "name"),
    [
        (ModelCheckpoint, "_save_last_checkpoint"),
        (ModelCheckpoint, "_monitor_candidates"),
        (ModelCheckpoint, "_should_skip_saving_checkpoint"),
        (ModelCheckpoint, "_should_save_on_train_epoch_end"),
        (MLFlowLogger, "_scan_and_log_checkpoints"),
    ],
)
def test_a_missing_hook_is_named(owner: type, name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(owner, name)
    with pytest.raises(compat.CompatError, match=rf"{owner.__name__}\.{name}.*lightning>=2\.6"):
        compat.check()


def test_a_missing_logger_attribute_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    init = MLFlowLogger.__init__

    def without_client(self, *args, **kwargs) -> None:
        init(self, *args, **kwargs)
        del self._mlflow_client

    monkeypatch.setattr(MLFlowLogger, "__init__", without_client)
    with pytest.raises(compat.CompatError, match=r"MLFlowLogger\._mlflow_client"):
        compat.check()


def test_an_override_of_a_renamed_hook_fails_at_import() -> None:
    class Base:
        def _renamed(self) -> None: ...

    with pytest.raises(compat.CompatError, match=r"Base\._gone"):

        @compat.overrides(Base, "_gone")
        class Sub(Base):
            def _gone(self) -> None: ...

    assert compat.overrides(Base, "_renamed")(type("Ok", (Base,), {}))


def test_unlogged_metrics_fail_loudly_when_the_connector_changes() -> None:
    trainer = SimpleNamespace(training=True, _results=None, _logger_connector=SimpleNamespace())
    with pytest.raises(compat.CompatError, match="_first_loop_iter"):
        compat.unlogged_train_epoch_metrics(trainer)
    trainer._logger_connector._first_loop_iter = True  # mid-epoch: nothing to hand over
    assert compat.unlogged_train_epoch_metrics(trainer) == {}


def test_no_private_lightning_access_outside_compat() -> None:
    """The seam is the only place: other modules name no private Lightning hook."""
    names = [
        "_logger_connector", "_first_loop_iter", "trainer._results", "_save_last_checkpoint(",
        "_should_skip_saving_checkpoint", "_monitor_candidates", "experiment.fget",
        "_get_resolve_tags", "_flatten_dict", "_convert_params", "_scan_and_log_checkpoints",
    ]  # fmt: skip
    offenders = []
    for path in sorted((REPO / "actlab").rglob("*.py")):
        if path.name == "compat.py":
            continue
        text = path.read_text()
        offenders += [f"{path.relative_to(REPO)}: {n}" for n in names if n in text]
    # ResumableCheckpoint's override (checked by compat.overrides) calls its super once.
    allowed = {f"{Path('actlab/fit/last_checkpoint.py')}: _save_last_checkpoint("}
    assert set(offenders) <= allowed, offenders


def test_the_mlflow_loggers_private_state_is_named_only_in_compat() -> None:
    """``MLFlowLogger``'s private attributes (``_run_id``, ``_mlflow_client``, ...) are reached
    only through ``compat.MLFlowLoggerState``; each is checked on a real logger by ``check``."""
    import re

    from actlab import compat

    assert set(compat.MLFLOW_STATE_NAMES) == set(compat.MLFLOW_LOGGER_STATE)
    for ours in compat.MLFLOW_STATE_NAMES.values():
        assert isinstance(getattr(compat.MLFlowLoggerState, ours), property), ours
    private = re.compile(r"\.(" + "|".join(compat.MLFLOW_LOGGER_STATE) + r")\b")
    offenders = [
        f"{path.relative_to(REPO)}:{number}: {line.strip()}"
        for path in sorted((REPO / "actlab").rglob("*.py"))
        if path.name != "compat.py"
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if private.search(line)
    ]
    assert offenders == []
