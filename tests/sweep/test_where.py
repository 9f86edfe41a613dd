"""``actlab sweep FILE --where AXIS=LABEL``: run one part of a sweep (issue 12.2)."""

from __future__ import annotations

from pathlib import Path

import pytest

import actlab.sweep.command as command
from actlab.errors import ActlabError
from actlab.sweep.spec import SweepSpec, parse_where
from tests.helpers import CONFIGS, run_actlab

CPAF = CONFIGS / "papers" / "004_cpaf" / "sweep.yaml"
DLRELU = CONFIGS / "papers" / "003_dlrelu" / "sweep.yaml"


def _labels(runs, axis: str) -> set[str]:
    return {r.labels.get(axis) for r in runs}


def test_select_one_section_of_004() -> None:
    spec = SweepSpec.load(CPAF)
    assert len(spec.select(spec.runs(), parse_where(["section=4.2"], CPAF))) == 24  # 2 frameworks
    runs = spec.select(spec.runs(), parse_where(["section=4.2", "framework=torch"], CPAF))
    assert len(runs) == 12 and _labels(runs, "section") == {"4.2"}
    assert _labels(runs, "framework") == {"torch"}
    assert _labels(runs, "activation") == {"prelu", "elu", "cpaf_sigmoid", "cpaf_relu"}
    assert {r.seed for r in runs} == {0, 1, 2}
    # the selected runs are the very runs of the full sweep (same index, hash, config)
    full = {r.key: r for r in spec.runs()}
    assert all(full[r.key] == r for r in runs)


def test_axes_all_match_and_labels_of_one_axis_are_alternatives() -> None:
    spec = SweepSpec.load(DLRELU)
    where = parse_where(
        ["protocol=split", "dataset=fashion_mnist", "head=relu", "head=softmax", "framework=keras"],
        DLRELU,
    )
    runs = spec.select(spec.runs(), where)
    assert len(runs) == 12  # 2 models x 2 heads x 3 seeds
    assert _labels(runs, "dataset") == {"fashion_mnist"} and _labels(runs, "protocol") == {"split"}
    assert _labels(runs, "head") == {"relu", "softmax"}
    seeds = spec.select(
        spec.runs(), parse_where(["dataset=wdbc", "seed=3", "framework=keras"], DLRELU)
    )
    assert [(r.seed, r.labels["head"]) for r in seeds] == [(3, "softmax"), (3, "relu")]


@pytest.mark.parametrize(
    ("where", "message"),
    [
        (
            ["section=4.4"],
            "unknown label of axis 'section' in --where '4.4'; did you mean '4.3', '4.2', '4.1'? "
            "valid: 4.1, 4.2, 4.3",
        ),
        (["sectoin=4.2"], "unknown axis in --where 'sectoin'; did you mean 'section'?"),
        (["section=4.1", "dataset=cifar10"], "no run matches --where section=4.1 dataset=cifar10"),
        (["section"], "--where takes AXIS=LABEL, got 'section'"),
    ],
)
def test_bad_where_is_one_line(where: list[str], message: str) -> None:
    spec = SweepSpec.load(CPAF)
    with pytest.raises(ActlabError, match="^" + str(CPAF)) as err:
        spec.select(spec.runs(), parse_where(where, CPAF))
    assert message in str(err.value) and "\n" not in str(err.value)


def test_cli_dry_run_shows_the_selection(capsys: pytest.CaptureFixture) -> None:
    assert run_actlab(["sweep", str(CPAF), "--dry-run", "--where", "section=4.2"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-1] == "24 runs in experiment 'paper-004-cpaf' (--where section=4.2: 24 of 52)"
    assert all(" 4.2 " in line for line in out[:-1]) and len(out) == 25
    assert run_actlab(["sweep", str(CPAF), "--dry-run", "--where", "section=9"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "valid: 4.1, 4.2, 4.3" in err[0]


def test_cli_runs_only_the_selection(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The runner is handed the selected runs only (no fit is started here)."""
    seen = []

    def fake_run_sweep(runner):
        seen.extend(runner.runs)
        return []

    monkeypatch.setattr(command, "run_sweep", fake_run_sweep)
    monkeypatch.setenv("ACTLAB_MLRUNS", str(tmp_path / "mlruns"))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    args = ["sweep", str(CPAF), "--where", "section=4.2", "--where", "activation=elu"]
    args += ["--where", "framework=torch"]
    assert run_actlab(args) == 0
    assert [(r.labels["activation"], r.seed) for r in seen] == [("elu", 0), ("elu", 1), ("elu", 2)]
