"""A key given twice in one YAML mapping is an error naming the key and both lines (PyYAML kept
the last one silently: a second ``grid:`` made 1 run of a sweep of 3)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from actlab.errors import ActlabError
from actlab.sweep.spec import SweepSpec
from actlab.yamlfile import safe_load
from tests.helpers import CONFIGS, run_actlab

SWEEP = f"""experiment: twice
base: {CONFIGS / "quickstart.yaml"}
grid:
  model.init_args.head: [softmax, relu]
seeds: [0]
grid:
  trainer.max_epochs: [1]
"""


def test_a_repeated_key_names_itself_and_both_lines(tmp_path: Path) -> None:
    path = tmp_path / "sweep.yaml"
    path.write_text(SWEEP)
    with pytest.raises(ActlabError, match=r"invalid YAML: duplicate key 'grid' at lines 3 and 6"):
        SweepSpec.load(path)
    assert safe_load("base: &b {a: 1, b: 2}\nother:\n  <<: *b\n  a: 3\n")["other"] == {
        "a": 3,
        "b": 2,
    }  # a merge key may be overridden
    assert safe_load("a: {x: 1}\nb: {x: 2}\n") == yaml.safe_load("a: {x: 1}\nb: {x: 2}\n")


def test_a_fit_config_with_a_repeated_key_is_one_line(
    mlruns: Path, capsys: pytest.CaptureFixture
) -> None:
    config = mlruns.parent / "twice.yaml"
    config.write_text("trainer:\n  max_epochs: 1\nseed_everything: 1\ntrainer:\n  max_epochs: 2\n")
    assert run_actlab(["fit", "--config", str(config)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        f"actlab: error: config {config} is not valid YAML at line 4, column 1: duplicate key "
        "'trainer' at lines 1 and 4 (YAML would keep only the last; give each key once)"
    )
