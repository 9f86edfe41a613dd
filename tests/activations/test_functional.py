"""Each formula against its paper equation, written out independently, at random points."""

from __future__ import annotations

import math

import pytest
import torch

from actlab.activations import create_activation
from actlab.activations import functional as AF

torch.manual_seed(0)
X = torch.randn(1000, dtype=torch.float64) * 4


def _pa_sigmoid_eq2(y: float, a: float, b: float) -> float:  # 004 eq. 2
    return a / (1 + math.exp(-(y - b))) - a / 2


def _pa_relu_eq3(y: float, a: float, b: float) -> float:  # 004 eq. 3
    return a * (y - b) - a / 2 if y > b else -a / 2


def test_pa_formulas_match_004_eq2_eq3() -> None:
    a, b = torch.tensor([[1.7]], dtype=torch.float64), torch.tensor([[-0.3]], dtype=torch.float64)
    got_s = AF.pa_sigmoid(X, a, b)
    got_r = AF.pa_relu(X, a, b)
    for i in range(0, 1000, 37):
        y = X[i].item()
        assert got_s[i].item() == pytest.approx(_pa_sigmoid_eq2(y, 1.7, -0.3), abs=1e-12)
        assert got_r[i].item() == pytest.approx(_pa_relu_eq3(y, 1.7, -0.3), abs=1e-12)


def test_cpaf_is_the_sum_of_k_pa_terms_004_eq7_to_9() -> None:
    a = torch.tensor([4.0, 4.0, 1.5], dtype=torch.float64)
    b = torch.tensor([2.0, -2.0, 0.5], dtype=torch.float64)
    got_s, got_r = AF.cpaf_sigmoid(X, a, b), AF.cpaf_relu(X, a, b)
    for i in range(0, 1000, 41):
        y = X[i].item()
        want_s = sum(
            _pa_sigmoid_eq2(y, ai, bi) for ai, bi in zip(a.tolist(), b.tolist(), strict=True)
        )
        want_r = sum(_pa_relu_eq3(y, ai, bi) for ai, bi in zip(a.tolist(), b.tolist(), strict=True))
        assert got_s[i].item() == pytest.approx(want_s, abs=1e-12)
        assert got_r[i].item() == pytest.approx(want_r, abs=1e-12)


def test_agile_is_scaled_shifted_base() -> None:
    a, b = torch.tensor([2.5], dtype=torch.float64), torch.tensor([0.7], dtype=torch.float64)
    torch.testing.assert_close(AF.agile_relu(X, a, b), 2.5 * torch.clamp(X - 0.7, min=0))
    torch.testing.assert_close(AF.agile_sigmoid(X, a, b), 2.5 / (1 + torch.exp(-(X - 0.7))))


def test_default_modules_use_the_papers_initial_values() -> None:
    x = X.float().reshape(10, 100)
    cs = create_activation("cpaf_sigmoid", granularity="layer")  # 004 Table 1
    assert cs.a.tolist() == [4.0, 4.0] and cs.b.tolist() == [2.0, -2.0]
    cr = create_activation("cpaf_relu", granularity="layer")
    assert cr.a.tolist() == [1.0, 1.0] and cr.b.tolist() == [1.0, -1.0]
    torch.testing.assert_close(cr(x), torch.relu(x - 1) + torch.relu(x + 1) - 1)
    ps = create_activation("pa_sigmoid", granularity="layer")  # 004 Fig. 3: a=4, b=0
    torch.testing.assert_close(ps(x), 4 * torch.sigmoid(x) - 2)
    pr = create_activation("pa_relu", granularity="layer")
    torch.testing.assert_close(pr(x), torch.relu(x) - 0.5)
    for name in ("agile_relu", "agile_sigmoid"):
        m = create_activation(name, granularity="layer")
        assert m.a.tolist() == [1.0] and m.b.tolist() == [0.0]
    p = create_activation("prelu")
    p(x)
    assert p.a.shape == (100,) and torch.all(p.a == 0.25)
    k3 = create_activation("cpaf_relu(k=3, granularity=layer)")
    assert k3.b.tolist() == [1.0, 0.0, -1.0]
    custom = create_activation("cpaf_relu(k=2, a_init=(2, 3), b_init=0.5, granularity=layer)")
    assert custom.a.tolist() == [2.0, 3.0] and custom.b.tolist() == [0.5, 0.5]


def test_fixed_activations() -> None:
    x = X.float()
    assert torch.equal(create_activation("relu")(x), torch.relu(x))
    torch.testing.assert_close(
        create_activation("lrelu(negative_slope=0.1)")(x), torch.where(x > 0, x, 0.1 * x)
    )
    torch.testing.assert_close(create_activation("elu")(x), torch.where(x > 0, x, torch.expm1(x)))
    for name, fn in [("sigmoid", torch.sigmoid), ("tanh", torch.tanh), ("gelu", torch.nn.functional.gelu),
                     ("silu", torch.nn.functional.silu), ("mish", torch.nn.functional.mish),
                     ("identity", lambda t: t)]:  # fmt: skip
        torch.testing.assert_close(create_activation(name)(x), fn(x))


def test_rrelu_paper_form() -> None:
    m = create_activation("rrelu")  # lambda ~ U(3, 8): slope in [1/8, 1/3]
    x = -torch.ones(10000)
    m.train()
    slopes = -m(x)
    assert slopes.min() >= 1 / 8 - 1e-6 and slopes.max() <= 1 / 3 + 1e-6
    # slope = 1/lambda with lambda uniform: mean of 1/lambda is ln(8/3)/5, not the torch form's mean
    assert slopes.mean().item() == pytest.approx(math.log(8 / 3) / 5, abs=0.005)
    m.eval()
    torch.testing.assert_close(-m(x), torch.full_like(x, 1 / 5.5))
    pos = torch.rand(100)
    assert torch.equal(m(pos), pos)
    t = create_activation("rrelu_torch").eval()
    torch.testing.assert_close(-t(x), torch.full_like(x, (1 / 8 + 1 / 3) / 2))
