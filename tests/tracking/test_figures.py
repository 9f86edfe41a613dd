"""Unit tests of the figures, CSVs and parameter dumps behind the tracking callback."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from torch import nn

from actlab.tasks.classification import _metrics
from actlab.tracking import activation_params as ap
from actlab.tracking.confusion import (
    confusion_csv,
    confusion_figure,
    confusion_image,
    confusion_title,
)
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
    assert sorted(ap.summary_metrics(acts)) == ["z_act/00.1/a_mean", "z_act/00.1/b_mean"]
    metrics = ap.summary_metrics(acts, ap.ALL_STATS)
    a = model[1].a.detach()
    assert metrics["z_act/00.1/a_mean"] == pytest.approx(a.mean().item())
    assert metrics["z_act/00.1/a_max"] == pytest.approx(a.max().item())
    assert len(metrics) == 8
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


def deep_net(layers: int) -> nn.Sequential:
    return nn.Sequential(*[m for _ in range(layers) for m in (nn.Linear(3, 3), ABAct((3,)))])


def test_metric_names_sort_in_network_order_after_the_headline_metrics() -> None:
    acts = ap.trainable_activations(deep_net(13))
    keys = [k for k in ap.summary_metrics(acts) if k.endswith("/a_mean")]
    layers = [k.split("/")[1].split(".", 1)[1] for k in sorted(keys)]
    assert layers == [str(2 * i + 1) for i in range(13)]  # 1, 3, ..., 25: not "11" before "3"
    assert keys == sorted(keys)
    assert all(k > "val/" and k > "train/" and k > "time/" for k in keys)


@pytest.mark.parametrize(("layers", "shape"), [(1, (1, 1)), (2, (1, 2)), (3, (2, 2)), (17, (2, 2))])
def test_activation_figures_have_at_most_two_columns_and_stay_near_square(
    layers: int, shape: tuple[int, int]
) -> None:
    acts = ap.trainable_activations(deep_net(layers))
    shown = ap.shown_layers(list(acts))
    assert len(shown) == min(layers, ap.MAX_PANELS) and ap._grid(len(shown)) == shape
    assert shown[0] == next(iter(acts)) and shown[-1] == list(acts)[-1]
    for draw in (ap.scatter_image, ap.curves_image):
        image = draw(acts, ap.snapshot(acts), "cpaf_relu(k=2), epoch 3\nrun-name")
        height, width, _ = image.shape
        assert 0.6 < width / height < 1.8, (draw.__name__, image.shape)
        assert max(height, width) <= 800


def test_activation_figures_label_axes_and_explain_lines(monkeypatch) -> None:
    figures = []
    real = ap.figure_to_array
    monkeypatch.setattr(ap, "figure_to_array", lambda fig: figures.append(fig) or real(fig))
    acts = ap.trainable_activations(deep_net(2))
    ap.curves_image(acts, ap.snapshot(acts), "cpaf_relu(k=2), epoch 3")
    ap.scatter_image(acts, ap.snapshot(acts), "cpaf_relu(k=2), epoch 3")
    curves, scatter = figures
    assert "cpaf_relu(k=2), epoch 3" in curves._suptitle.get_text()
    ax = curves.axes[0]
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("x", "f(x)")
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    sites = 3  # ABAct((3,)): three parameter sites per layer, the band
    assert labels == [
        "initial (site median)",
        f"learned, range over {sites} sites",
        "learned (site median)",
    ]
    ax = scatter.axes[0]
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("$a_i$", "$b_i$")
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "initial", "learned $i=0$", "learned $i=1$"
    ]  # fmt: skip


def test_confusion_figure_titles_split_epoch_accuracy_and_hides_zeros() -> None:
    counts = torch.tensor([[5, 0], [2, 13]])
    title = confusion_title("validation", counts, 4)
    assert title == "validation, epoch 4: accuracy 90.0 % (n = 20)"
    fig = confusion_figure(counts, ["malignant", "benign"], title)
    ax = fig.axes[0]
    assert ax.get_title() == title
    assert sorted(t.get_text() for t in ax.texts) == ["13", "2", "5"]  # no "0"
    assert min(t.get_fontsize() for t in ax.texts) >= 10
