"""Learned shapes side by side: real fits of two trainable activations x two seeds log their
shapes; ``actlab report --html`` overlays every seed per activation and the activations' means on
shared axes, and logs them with the page to the summary run the MLflow UI shows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from actlab.report.load import load_records
from actlab.report.shapes import SUMMARY_RUN, read_shapes, row_shapes, shape_figures
from actlab.tracking.plots import CURVES_ARTIFACT
from tests.helpers import CONFIGS, run_actlab, tracking_uri

#: Four fits: about 90 s wall on 2 loaded cores.
pytestmark = pytest.mark.slow

ACTIVATIONS = ("prelu", "cpaf_relu")


@pytest.fixture(scope="module")
def fitted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """Four one-epoch WDBC fits (two activations x seeds 0 and 1) in a fresh store."""
    mlruns = tmp_path_factory.mktemp("shapes") / "mlruns"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ACTLAB_MLRUNS", str(mlruns))
        mp.delenv("MLFLOW_TRACKING_URI", raising=False)
        mp.chdir(mlruns.parent)
        for activation in ACTIVATIONS:
            for seed in (0, 1):
                args = ["fit", "--config", str(CONFIGS / "quickstart.yaml"),
                        "--trainer.max_epochs", "1", "--trainer.enable_progress_bar", "false",
                        "--trainer.enable_model_summary", "false", "--seed_everything", str(seed),
                        "--model.init_args.activation", activation,
                        "--tracking.confusion_every_n_epochs", "0"]  # fmt: skip
                assert run_actlab(args) == 0
    return mlruns, tracking_uri(mlruns)


def test_each_fit_logs_its_learned_shapes(fitted) -> None:
    _, uri = fitted
    client = MlflowClient(uri)
    for record in load_records(uri, "quickstart"):
        x, layers = read_shapes(client, record.run_id)
        assert x.shape == (201,) and x[0] == -4.0 and x[-1] == 4.0
        assert len(layers) == 3, sorted(layers)  # keys as the z_act metrics: 00.<layer>, ...
        key = sorted(layers)[0]
        assert key.startswith("00.") and layers[key].shape == (201,)
        if record.tags["activation"] == "prelu":  # f(x) = x for x > 0 at every site
            assert np.allclose(layers[key][x > 0], x[x > 0], atol=1e-5)


def test_overlays_share_axes_one_line_per_seed_and_per_activation(fitted) -> None:
    _, uri = fitted
    records = load_records(uri, "quickstart")
    by_row = {a: [r for r in records if r.tags["activation"] == a] for a in ACTIVATIONS}
    found = row_shapes(MlflowClient(uri), by_row, lambda r: f"seed {r.tags['seed']}")
    per_row, means = shape_figures(found)
    assert sorted(per_row) == sorted(ACTIVATIONS)
    all_axes = [ax for fig in [*per_row.values(), means] for ax in fig.axes]
    assert len(all_axes) == 3 * 3  # three layers in each of three figures
    assert len({ax.get_ylim() for ax in all_axes}) == 1
    assert len({ax.get_xlim() for ax in all_axes}) == 1
    for fig in per_row.values():
        for ax in fig.axes:
            assert sorted(
                line.get_label() for line in ax.lines if not line.get_label().startswith("_")
            ) == ["seed 0", "seed 1"]
    for ax in means.axes:
        labels = [line.get_label() for line in ax.lines if not line.get_label().startswith("_")]
        assert labels == ["prelu (n=2)", "cpaf_relu (n=2)"]


def test_report_html_shows_them_and_logs_the_summary_run(fitted, tmp_path, capsys) -> None:
    mlruns, uri = fitted
    page = tmp_path / "report.html"
    args = ["report", "quickstart", "--rows", "activation", "--columns", "dataset",
            "--html", str(page), "--tracking-uri", uri]  # fmt: skip
    assert run_actlab(args) == 0
    out = capsys.readouterr().out
    html = page.read_text()
    assert html.count('<img class="shapes"') == 2 and html.count('<img class="means"') == 1
    assert "logged the page and 3 learned-shape figures to the summary run: http://" in out
    client = MlflowClient(uri)
    summary = client.get_experiment_by_name("quickstart-summary")
    [run] = client.search_runs([summary.experiment_id])
    assert run.info.run_name == SUMMARY_RUN and run.info.status == "FINISHED"
    files = {f.path for f in client.list_artifacts(run.info.run_id, "learned_shapes")}
    assert files == {f"learned_shapes/{n}.png" for n in ("prelu", "cpaf_relu", "means")}
    assert "report.html" in {f.path for f in client.list_artifacts(run.info.run_id)}
    assert run_actlab(args) == 0  # a second report updates the same run
    assert len(client.search_runs([summary.experiment_id])) == 1
    assert CURVES_ARTIFACT.endswith(".npz")
