"""The papers' and showcase configs: run counts, every config parses, each smoke sweep runs.

The paper configs use the vision data modules (issue 4), the paper models and activations
(issue 3) and the time-to-accuracy options (issue 5): their parse and smoke tests pass once those
are merged. The fake datasets come from ``tests/data/<name>/data.py`` (``make(root, ...)``).
"""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
import yaml
from mlflow.tracking import MlflowClient

from actlab.sweep.runner import run_config
from actlab.sweep.spec import SweepSpec
from tests.helpers import CONFIGS, run_actlab, tracking_uri

#: sweep file -> (runs, smoke runs)
EXPECTED_RUNS = {
    "papers/000_insects/sweep.yaml": (20, 4),  # 4 models x 5 activations
    "papers/001_cifar/sweep.yaml": (24, 4),  # 2 datasets x 2 regularisations x 2 models x 3
    "papers/002_agile/sweep.yaml": (12, 2),  # 4 conv x 3 FC activations
    # split 2x2x2x2 frameworks x3 seeds + cv10 2x2x2x10 + WDBC 2x2 frameworks x10
    "papers/003_dlrelu/sweep.yaml": (168, 3),
    "papers/004_cpaf/sweep.yaml": (52, 3),  # 4.1: 4, 4.2: 4 x 2 frameworks x 3 seeds, 4.3: 2x3x4
    "showcase/wdbc_heads.yaml": (40, 2),  # 2 heads x 2 frameworks x 10 seeds
    "showcase/digits_activations.yaml": (15, 2),
}

#: paper -> fake datasets its smoke sweep reads: (generator module, root under the test dir, kwargs)
SMOKE_DATA = {
    "000_insects": [("imagenet_insects", "data/imagenet", {})],
    "001_cifar": [("cifar10", "data", {}), ("cifar100", "data", {})],
    "002_agile": [("mnist", "data", {})],
    "003_dlrelu": [("fashion_mnist", "data", {"train_per_class": 30})],  # PCA 256 needs > 256
    "004_cpaf": [("mnist", "data", {}), ("fashion_mnist", "data", {}), ("cifar10", "data", {})],
}


def is_sweep(path: Path) -> bool:
    content = yaml.safe_load(path.read_text()) or {}
    return isinstance(content, dict) and "experiment" in content and "grid" in content


ALL_YAML = sorted(CONFIGS.rglob("*.yaml"))
SWEEPS = [p for p in ALL_YAML if is_sweep(p)]
BASES = [p for p in ALL_YAML if not is_sweep(p)]


def rel(path: Path) -> str:
    return path.relative_to(CONFIGS).as_posix()


def test_every_sweep_file_has_an_expected_count() -> None:
    assert sorted(rel(p) for p in SWEEPS) == sorted(EXPECTED_RUNS)
    assert {f"papers/{paper}/sweep.yaml" for paper in SMOKE_DATA} <= set(EXPECTED_RUNS)


@pytest.mark.parametrize("sweep", SWEEPS, ids=rel)
def test_dry_run_counts(sweep: Path, capsys: pytest.CaptureFixture) -> None:
    runs, smoke = EXPECTED_RUNS[rel(sweep)]
    spec = SweepSpec.load(sweep)
    assert len(spec.runs()) == runs
    assert len({r.key for r in spec.runs()}) == runs
    assert len(spec.runs(smoke=True)) == smoke
    assert run_actlab(["sweep", str(sweep), "--dry-run"]) == 0
    assert f"{runs} runs in experiment '{spec.experiment}'" in capsys.readouterr().out
    if spec.references:  # every reference names a row and column the grid produces
        rows = {
            label
            for axes in spec.grids
            for axis in axes
            if axis.name in spec.report.rows
            for label in axis.labels
        }
        assert set(spec.references) <= rows, set(spec.references) - rows


def print_config(config_file: Path) -> dict:
    from contextlib import redirect_stdout
    from io import StringIO

    out = StringIO()
    with redirect_stdout(out):
        code = run_actlab(["fit", "--config", str(config_file), "--print_config"])
    assert code == 0, f"{config_file} does not parse"
    return yaml.safe_load(out.getvalue())


@pytest.mark.parametrize("config", BASES, ids=rel)
def test_every_config_parses(config: Path) -> None:
    printed = print_config(config)
    assert printed["model"]["class_path"] == "actlab.tasks.ClassificationModule"


@pytest.mark.slow
@pytest.mark.parametrize("sweep", SWEEPS, ids=rel)
def test_every_run_of_every_sweep_parses(sweep: Path, tmp_path: Path) -> None:
    """Each distinct run config (folds and seeds aside) parses with ``--print_config``."""
    spec = SweepSpec.load(sweep)
    seen: set[tuple] = set()
    for run in spec.runs():
        key = tuple(sorted((k, v) for k, v in run.labels.items() if k != "fold"))
        if key in seen:
            continue
        seen.add(key)
        path = tmp_path / f"{run.key}.yaml"
        path.write_text(yaml.safe_dump(run_config(run, spec.experiment, spec.experiment)))
        printed = print_config(path)
        tags = printed["trainer"]["logger"]["init_args"]["tags"]
        assert {k: str(v) for k, v in tags.items()} == run.tags(spec.experiment)


@pytest.mark.slow
@pytest.mark.parametrize("paper", sorted(SMOKE_DATA))
def test_paper_smoke_sweep_runs_end_to_end(paper: str, mlruns: Path) -> None:
    root = mlruns.parent  # the mlruns fixture changed into it: configs read ./data
    for name, subdir, kwargs in SMOKE_DATA[paper]:
        generator = importlib.import_module(f"tests.data.{name}.data")
        generator.make(root / subdir, seed=0, **kwargs)
    sweep = CONFIGS / "papers" / paper / "sweep.yaml"
    assert run_actlab(["sweep", str(sweep), "--smoke", "--workers", "2", "--no-progress"]) == 0
    spec = SweepSpec.load(sweep)
    client = MlflowClient(tracking_uri(mlruns))
    exp = client.get_experiment_by_name(spec.experiment_name(smoke=True))
    runs = client.search_runs([exp.experiment_id])
    assert len(runs) == EXPECTED_RUNS[f"papers/{paper}/sweep.yaml"][1]
    assert all(r.info.status == "FINISHED" and "test/acc" in r.data.metrics for r in runs)


def test_004_fashion_net_sites_and_why_not_14790() -> None:
    """12.3: the §4.2 config's net has 14,754 element-wise sites, and no reading has 14,790.

    004 Fig. 14 counts 14,790 (a1, b1) pairs in the net of Fig. 12 (convs with 16, 32 and 4
    filters, one hidden FC layer of 30 nodes). With the FC layer's 30 sites the convs would have
    to hold 14,760 = 16 a^2 + 32 b^2 + 4 c^2 sites for square feature maps a x a, b x b, c x c
    of a 28 x 28 input: no integers solve that, whatever the kernels, padding or pooling.
    """
    import timm
    import torch

    import actlab.models  # noqa: F401  (registers the nets)
    from actlab.activations import swap_activations

    config = yaml.safe_load((CONFIGS / "papers" / "004_cpaf" / "fashion.yaml").read_text())
    kwargs = config["model"]["init_args"]["backbone_kwargs"]
    net = timm.create_model("cpaf_fashion_cnn", num_classes=10, **kwargs)
    swap_activations(net, "cpaf_relu(k=2, granularity=element, backend=reference)")
    net(torch.zeros(2, 1, 28, 28))
    sites = [
        m.a.shape[1:].numel()
        for m in net.modules()
        if isinstance(getattr(m, "a", None), torch.Tensor)
    ]
    assert sites == [16 * 26 * 26, 32 * 11 * 11, 4 * 3 * 3, 30] and sum(sites) == 14_754
    solutions = [
        (a, b, c)
        for a in range(29)
        for b in range(29)
        for c in range(29)
        if 16 * a * a + 32 * b * b + 4 * c * c == 14_790 - 30
    ]
    assert solutions == []
