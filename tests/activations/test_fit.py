"""Function-preserving swap (``activation_init="fit"``): each family fitted to the activation it
replaces on a known input distribution, and a swapped network that computes what it did."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from actlab.activations import create_activation, swap_activations
from actlab.activations.fit import FIT_TOLERANCE, fit_activation, samples_of, site_shape_of
from actlab.errors import ActlabError

#: Inputs of the known distribution: N(0, 1) per channel, shifted and scaled per channel.
C = 3


def _inputs(n: int = 2048) -> torch.Tensor:
    torch.manual_seed(0)
    shift = torch.tensor([0.0, 0.5, -0.3]).view(1, C, 1)
    scale = torch.tensor([1.0, 2.0, 0.5]).view(1, C, 1)
    return torch.randn(n, C, 4) * scale + shift


def _fitted(spec: str, old: nn.Module, x: torch.Tensor):
    new = create_activation(spec)
    new.materialize(x.shape)
    fit = fit_activation("site", new, old, samples_of(x, site_shape_of(new)))
    return new, fit


def test_prelu_fitted_to_relu_is_relu_exactly() -> None:
    x = _inputs()
    new, fit = _fitted("prelu", nn.ReLU(), x)
    assert torch.equal(new.a.detach(), torch.zeros(C)) and fit.error == 0.0
    assert torch.equal(new(x), torch.relu(x)) and fit.method == "closed form"


@pytest.mark.parametrize(
    ("spec", "tolerance"),
    [
        ("agile_relu", 1e-6),  # a relu(x - b): a = 1, b = 0
        ("cpaf_relu", 1e-6),  # a = (1, -1), b = (0, beyond the inputs): ReLU on their range
        ("cpaf_relu(k=3)", 1e-6),
        ("cpaf_relu(granularity=layer)", 1e-6),
    ],
)
def test_ab_families_that_hold_relu_recover_it(spec: str, tolerance: float) -> None:
    x = _inputs()
    new, fit = _fitted(spec, nn.ReLU(), x)
    assert fit.error < tolerance
    torch.testing.assert_close(new(x), torch.relu(x), atol=1e-5, rtol=0)


def _grid_best(spec: str, old: nn.Module, x: torch.Tensor) -> float:
    """The best relative RMS error of a k = 1 family over a fine (a, b) grid, per channel."""
    module = create_activation(spec)
    fn = type(module).fn
    g = old(x)
    a = torch.linspace(-3, 6, 91).view(-1, 1, 1, 1, 1)
    b = torch.linspace(-4, 4, 81).view(1, -1, 1, 1, 1)
    f = fn(x.unsqueeze(0).unsqueeze(0), a.unsqueeze(0), b.unsqueeze(0))  # (A, B, N, C, 4)
    err = ((f - g) ** 2).sum(dim=(2, 4)).amin(dim=(0, 1))  # best per channel
    return float((err.sum() / (g**2).sum()).sqrt())


@pytest.mark.parametrize(
    ("spec", "old"),
    [("pa_relu", nn.ReLU()), ("pa_sigmoid", nn.ReLU()), ("agile_sigmoid", nn.GELU())],
)
def test_families_that_cannot_hold_it_reach_the_least_squares_optimum(spec, old) -> None:
    """PA-ReLU (``a (relu(x - b) - 1/2)``) is not ReLU for any (a, b): the fit's error is the
    least-squares optimum within 1% of the error (checked against a fine grid search)."""
    x = _inputs(256)
    _, fit = _fitted(spec, old, x)
    best = _grid_best(spec, old, x)
    assert fit.error <= best * 1.01 + 1e-6, (fit.error, best)
    assert fit.error > FIT_TOLERANCE  # and it is named in the report (see below)


def test_cpaf_sigmoid_fitted_to_gelu_beats_its_default_init() -> None:
    x = _inputs()
    default = create_activation("cpaf_sigmoid")
    default.materialize(x.shape)
    g = nn.GELU()(x)
    with torch.no_grad():
        before = float(((default(x) - g) ** 2).sum() / (g**2).sum()) ** 0.5
    _, fit = _fitted("cpaf_sigmoid", nn.GELU(), x)
    assert fit.error < before / 5, (fit.error, before)


def _net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
        nn.Conv2d(4, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 8 * 8, 3),
    ).eval()  # fmt: skip


def test_swap_with_fit_preserves_the_network_and_reports_each_site() -> None:
    batches = [torch.randn(16, 1, 8, 8) for _ in range(2)]
    reference = _net()
    with torch.no_grad():
        expected = reference(batches[0])
    for spec, atol in (("prelu", 0.0), ("cpaf_relu", 1e-5)):
        model = _net()
        report = swap_activations(
            model, spec, input_shape=(1, 8, 8), activation_init="fit", fit_inputs=batches
        )
        model.eval()
        with torch.no_grad():
            torch.testing.assert_close(model(batches[0]), expected, atol=atol, rtol=0)
        assert report.activation_init == "fit" and report.fit["batches"] == 2
        assert [s.fit_error for s in report.replaced] == pytest.approx([0.0, 0.0], abs=1e-6)
        assert report.to_dict()["replaced"][0]["fit_error"] is not None
        assert not report.poorly_fitted and "fit error 0.00%" in report.summary()

    model = _net()
    report = swap_activations(model, "pa_relu", activation_init="fit", fit_inputs=batches)
    assert [s.name for s in report.poorly_fitted] == ["2", "4"]
    assert "2 site(s) above the tolerance 5%: 2, 4" in report.summary()
    default = swap_activations(_net(), "pa_relu")
    assert default.activation_init == "default" and default.replaced[0].fit_error is None


def test_fit_needs_inputs_and_a_known_init() -> None:
    with pytest.raises(ActlabError, match="needs fit_inputs"):
        swap_activations(_net(), "prelu", activation_init="fit")
    with pytest.raises(ActlabError, match="unknown activation_init 'fitted'; valid: default, fit"):
        swap_activations(_net(), "prelu", activation_init="fitted")
