"""``actlab report --curves``: the mean curve of a metric per row value."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from tests.helpers import tracking_uri
from tests.report.helpers import make_experiment


@pytest.mark.slow
def test_plot_curves_means_per_row_value(mlruns: Path) -> None:
    from actlab.report.curves import plot_curves
    from actlab.report.load import load_records

    uri = tracking_uri(mlruns)
    mlruns.mkdir(parents=True, exist_ok=True)
    make_experiment(uri, "curves")
    curves = plot_curves(
        uri,
        load_records(uri, "curves"),
        "activation",
        "val/acc",
        mlruns / "c.png",
        {"model": "mlp"},
    )
    assert sorted(curves) == ["prelu", "relu"]
    assert [s for s, _ in curves["relu"]] == [0, 1, 2]
    assert curves["relu"][2][1] == pytest.approx(0.91)
    assert not math.isnan(curves["prelu"][0][1])
