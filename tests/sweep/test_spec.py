"""Sweep files: validation messages, grid expansion, seeds, smoke variant and config hashes."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from actlab.errors import ActlabError
from actlab.sweep.spec import SweepSpec, config_hash, deep_merge, set_key
from tests.helpers import CONFIGS

BASE = {
    "seed_everything": 0,
    "trainer": {"max_epochs": 5},
    "model": {"class_path": "actlab.tasks.ClassificationModule", "init_args": {"head": "softmax"}},
    "data": {"class_path": "actlab.data.WDBCDataModule", "init_args": {"test_fraction": 0.3}},
}


def write_sweep(tmp_path: Path, **sweep) -> Path:
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(BASE))
    sweep = {"experiment": "exp", "base": "base.yaml", **sweep}
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(sweep))
    return path


def test_grid_times_seeds_in_file_order(tmp_path: Path) -> None:
    path = write_sweep(
        tmp_path,
        seeds=[0, 1],
        grid={"model.init_args.head": ["softmax", "relu"], "trainer.max_epochs": [1, 2, 3]},
    )
    runs = SweepSpec.load(path).runs()
    assert len(runs) == 12
    assert [r.name for r in runs[:3]] == ["softmax 1 seed0", "softmax 1 seed1", "softmax 2 seed0"]
    first = runs[0].config
    assert first["model"]["init_args"]["head"] == "softmax"
    assert first["trainer"]["max_epochs"] == 1
    assert first["seed_everything"] == 0 and first["data"]["init_args"]["seed"] == 0
    assert runs[1].config["data"]["init_args"]["seed"] == 1
    assert runs[0].tags("exp") == {
        "sweep": "exp",
        "seed": "0",
        "axis.head": "softmax",
        "axis.max_epochs": "1",
    }
    assert len({r.key for r in runs}) == 12


def test_hash_is_stable_and_changes_with_any_value(tmp_path: Path) -> None:
    path = write_sweep(tmp_path, seeds=[0], grid={"model.init_args.head": ["softmax"]})
    again = SweepSpec.load(path).runs()[0].key
    assert SweepSpec.load(path).runs()[0].key == again
    other = SweepSpec.load(path).runs(overrides={"data.init_args.test_fraction": 0.25})
    assert other[0].key != again
    assert config_hash({"a": 1, "b": 2}) == config_hash({"b": 2, "a": 1})


def test_labelled_axis_sets_several_keys_and_class_path_replaces(tmp_path: Path) -> None:
    dataset = [
        {"label": "wdbc", "data.init_args.test_fraction": 0.2},
        {
            "label": "digits",
            "data": {"class_path": "actlab.data.DigitsDataModule", "init_args": {"batch_size": 8}},
            "model.backbone": "small_cnn",
        },
    ]
    path = write_sweep(tmp_path, grid={"dataset": dataset})
    wdbc, digits = SweepSpec.load(path).runs()
    assert wdbc.labels == {"dataset": "wdbc"} and wdbc.seed is None
    assert wdbc.config["data"]["init_args"] == {"test_fraction": 0.2}
    # a new class_path drops the old class's init_args; model.backbone goes via init_args
    assert digits.config["data"] == dataset[1]["data"]
    assert digits.config["model"]["init_args"] == {"head": "softmax", "backbone": "small_cnn"}


def test_grid_list_is_a_union_and_smoke_applies_overrides_seeds_only(tmp_path: Path) -> None:
    path = write_sweep(
        tmp_path,
        seeds=[0, 1, 2],
        grid=[{"model.head": ["softmax", "relu"]}, {"trainer.max_epochs": [7]}],
        fixed={"trainer.max_epochs": 9},
        smoke={"overrides": {"trainer.max_epochs": 1}, "seeds": [4], "only": {"head": "relu"}},
    )
    spec = SweepSpec.load(path)
    runs = spec.runs()
    assert len(runs) == 9
    assert runs[0].config["trainer"]["max_epochs"] == 9
    assert runs[-1].labels == {"max_epochs": "7"}
    smoke = spec.runs(smoke=True)
    assert [(r.labels, r.seed) for r in smoke] == [({"head": "relu"}, 4), ({"max_epochs": "7"}, 4)]
    assert all(r.config["trainer"]["max_epochs"] == 1 for r in smoke)
    assert spec.experiment_name(smoke=True) == "exp-smoke"


def test_set_key_and_deep_merge() -> None:
    config: dict = {}
    set_key(config, "trainer.logger.init_args.tags", {"a": "1"})
    assert config == {"trainer": {"logger": {"init_args": {"tags": {"a": "1"}}}}}
    merged = deep_merge(BASE, {"model": {"init_args": {"activation": "relu"}}})
    assert merged["model"]["init_args"] == {"head": "softmax", "activation": "relu"}
    assert BASE["model"]["init_args"] == {"head": "softmax"}


@pytest.mark.parametrize(
    ("sweep", "message"),
    [
        ({"experimnt": "x"}, "unknown sweep key 'experimnt'; did you mean 'experiment'"),
        ({"experiment": ""}, "'experiment' must be a non-empty name"),
        ({"base": "missing.yaml"}, "base config not found"),
        ({"seeds": ["a"]}, "'seeds' must be an integer or a non-empty list of integers"),
        ({"grid": {"head": ["softmax"]}}, "axis 'head' is not a dotted config key"),
        ({"grid": {"model.head": []}}, "axis 'model.head' must be a non-empty list"),
        ({"grid": {"model.head": ["a", "a"]}}, "repeated labels ['a']"),
        ({"smoke": {"only": {"nope": ["x"]}}}, "unknown axis in smoke.only 'nope'"),
        ({"report": {"rowz": "x"}}, "unknown report key 'rowz'; did you mean 'rows'"),
        ({"report": {"mode": "best"}}, "'report.mode' must be max or min"),
        (
            {
                "grid": {"model.head": ["softmax", "relu"]},
                "report": {"rows": "head", "baseline": "relux"},
            },
            "unknown report.baseline (a label of head) 'relux'; did you mean 'relu'? valid: relu, softmax",
        ),
        ({"report": {"alpha": 1.5}}, "'report.alpha' must be a number between 0 and 1, got 1.5"),
        ({"references": {"relu": {"wdbc": "high"}}}, "reference relu/wdbc must be a number"),
    ],
)
def test_errors_are_one_line_and_say_what_is_valid(
    tmp_path: Path, sweep: dict, message: str
) -> None:
    path = write_sweep(tmp_path, **sweep)
    with pytest.raises(ActlabError) as info:
        SweepSpec.load(path)
    assert message in str(info.value)
    assert "\n" not in str(info.value) and str(path) in str(info.value)


def test_report_baseline_and_alpha(tmp_path: Path) -> None:
    grid = [{"model.head": ["softmax", "relu"], "data.fold": [0, 1]}, {"model.head": ["relu"]}]
    path = write_sweep(tmp_path, grid=grid, report={"rows": "head", "baseline": "softmax"})
    assert SweepSpec.load(path).report.baseline == "softmax"
    assert SweepSpec.load(path).report.alpha == 0.05
    two = {"rows": ["head", "fold"], "baseline": "relu/1", "alpha": 0.01}
    path = write_sweep(tmp_path, grid=grid[:1], report=two)
    assert (SweepSpec.load(path).report.baseline, SweepSpec.load(path).report.alpha) == (
        "relu/1",
        0.01,
    )
    # a row field that is a tag, not an axis: the labels are known only to the report
    path = write_sweep(tmp_path, grid=grid, report={"rows": "activation", "baseline": "gelu"})
    assert SweepSpec.load(path).report.baseline == "gelu"


def test_missing_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(ActlabError, match="file not found"):
        SweepSpec.load(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("experiment: [\n")
    with pytest.raises(ActlabError, match="invalid YAML"):
        SweepSpec.load(bad)


def test_dry_run_lists_runs_and_count(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from tests.helpers import run_actlab

    path = write_sweep(tmp_path, seeds=[0, 1], grid={"model.head": ["softmax", "relu"]})
    assert run_actlab(["sweep", str(path), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "4 runs in experiment 'exp'" in out
    assert "relu seed1" in out
    assert run_actlab(["sweep", str(path), "--dry-run", "--smoke"]) == 0
    assert "4 runs in experiment 'exp-smoke'" in capsys.readouterr().out
    assert run_actlab(["sweep", str(tmp_path / "missing.yaml"), "--dry-run"]) == 2
    assert "file not found" in capsys.readouterr().err


def test_grid_parts_have_their_own_base_seeds_and_fixed(tmp_path: Path) -> None:
    (tmp_path / "other.yaml").write_text(yaml.safe_dump({"trainer": {"max_epochs": 3}}))
    path = write_sweep(
        tmp_path,
        seeds=[0, 1],
        grid=[
            {"model.head": ["softmax"]},
            {
                "base": "other.yaml",
                "seeds": [5],
                "fixed": {"trainer.accelerator": "cpu"},
                "trainer.max_epochs": [4],
            },
        ],
    )
    runs = SweepSpec.load(path).runs()
    assert [(r.labels, r.seed) for r in runs] == [
        ({"head": "softmax"}, 0),
        ({"head": "softmax"}, 1),
        ({"max_epochs": "4"}, 5),
    ]
    assert runs[2].config == {
        "trainer": {"max_epochs": 4, "accelerator": "cpu"},
        "seed_everything": 5,
        "data": {"init_args": {"seed": 5}},
    }


def test_a_mapping_value_replaces_the_mapping_as_on_the_command_line(tmp_path: Path) -> None:
    """``fixed: {backbone_kwargs: {...}}`` merged into the base's ``backbone_kwargs`` (its
    ``hidden_sizes`` stayed) where ``--model.init_args.backbone_kwargs '{...}'`` replaces them."""
    (tmp_path / "base.yaml").write_text((CONFIGS / "quickstart.yaml").read_text())
    sweep = {"experiment": "exp", "base": "base.yaml", "grid": {"model.init_args.head": ["relu"]}}
    sweep["fixed"] = {
        "model.init_args.backbone_kwargs": {"drop_rate": 0.5},
        "model.init_args.optimizer": {"init_args": {"lr": 0.1}},  # a class: its init_args merge
    }
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(sweep))
    model = SweepSpec.load(path).runs()[0].config["model"]["init_args"]
    assert model["backbone_kwargs"] == {"drop_rate": 0.5}
    assert model["optimizer"] == {"class_path": "torch.optim.Adam", "init_args": {"lr": 0.1}}
