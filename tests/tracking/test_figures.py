"""Unit tests of the figures, CSVs and parameter dumps behind the tracking callback."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from torch import nn

from actlab.tasks.classification import _metrics
from actlab.tracking import activation_params as ap
from actlab.tracking.confusion import confusion_csv, confusion_image
from actlab.tracking.features import project_2d


class ABAct(nn.Module):
    """``a_0 * relu(x - b_0) + a_1 * x`` with ``a``, ``b`` shaped ``(2, *site)``."""

    def __init__(self, site: tuple[int, ...]) -> None:
        super().__init__()
        self.a = nn.Parameter(torch.randn(2, *site))
        self.b = nn.Parameter(torch.randn(2, *site))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.a[0] * torch.relu(x - self.b[0]) + self.a[1] * x


@pytest.mark.parametrize("site", [(), (4,), (3, 2, 2)], ids=["layer", "channel", "element"])
def test_activation_params_for_every_granularity(site: tuple[int, ...]) -> None:
    model = nn.Sequential(nn.Linear(2, 2), ABAct(site), nn.ReLU())
    acts = ap.trainable_activations(model)
    assert list(acts) == ["1"]
    metrics = ap.summary_metrics(acts)
    a = model[1].a.detach()
    assert metrics["act/1/a_mean"] == pytest.approx(a.mean().item())
    assert metrics["act/1/a_max"] == pytest.approx(a.max().item())
    x = torch.linspace(-1, 1, 5)
    y = ap.curve(model[1], x)
    assert y.shape == (5, max(1, int(np.prod(site))))
    expected = model[1](x.view(-1, *([1] * len(site))).expand(5, *site))
    assert torch.allclose(y, expected.reshape(5, -1))
    initial = ap.snapshot(acts)
    with torch.no_grad():
        model[1].a.add_(1.0)
    assert not torch.equal(initial["1"].a, model[1].a)
    for image in (ap.scatter_image(acts, initial, "t"), ap.curves_image(acts, initial, "t")):
        assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
    arrays = np.load(io.BytesIO(ap.params_npz(acts)))
    assert arrays["1.a"].shape == (2, *site)
    assert np.allclose(arrays["1.b"], model[1].b.detach().numpy())


def test_confusion_csv_and_image() -> None:
    counts = torch.tensor([[5, 1], [2, 7]])
    text = confusion_csv(counts, ["malignant", "benign"])
    assert text.splitlines() == ["true\\predicted,malignant,benign", "malignant,5,1", "benign,2,7"]
    assert confusion_csv(counts, [])[:18] == "true\\predicted,0,1"
    assert confusion_image(counts, ["m", "b"], "x").shape[2] == 3


def test_top5_only_above_ten_classes() -> None:
    assert "val/acc_top5" not in _metrics(10, "val/").keys()
    metrics = _metrics(12, "val/")
    assert "val/acc_top5" in metrics.keys()
    scores = torch.eye(12)[[1, 2, 3]] + torch.linspace(0, 0.5, 12)
    metrics.update(scores, torch.tensor([1, 11, 0]))
    result = metrics.compute()
    assert result["val/acc"] == pytest.approx(1 / 3)
    assert result["val/acc_top5"] == pytest.approx(2 / 3)


def test_project_2d_keeps_2d_and_projects_wider() -> None:
    points, projected = project_2d(torch.randn(50, 2))
    assert not projected and points.shape == (50, 2)
    points, projected = project_2d(torch.randn(50, 7))
    assert projected and points.shape == (50, 2)
