"""Gradients of the trainable families (gradcheck in float64), granularities and saved memory."""

from __future__ import annotations

import pytest
import torch

from actlab.activations import create_activation
from actlab.activations.trainable import GRANULARITIES

FAMILIES = [
    "prelu",
    "agile_sigmoid",
    "agile_relu",
    "pa_sigmoid",
    "pa_relu",
    "cpaf_sigmoid",
    "cpaf_relu",
]


def _perturb(module: torch.nn.Module) -> None:
    with torch.no_grad():
        for p in module.parameters():
            p.add_(torch.randn_like(p) * 0.3)


@pytest.mark.parametrize("granularity", GRANULARITIES)
@pytest.mark.parametrize("name", FAMILIES)
@pytest.mark.parametrize("shape", [(2, 3, 2, 3), (3, 4)])
def test_gradcheck_input_and_parameters(
    name: str, granularity: str, shape: tuple[int, ...]
) -> None:
    torch.manual_seed(0)
    extra = {"k": 3} if name.startswith("cpaf") else {}  # k > 2 exercises the general sum
    m = create_activation(name, granularity=granularity, **extra).double()
    x = torch.randn(*shape, dtype=torch.float64) * 2
    m(x)  # materialise lazy parameters
    _perturb(m)
    params = list(m.parameters())
    site = {"layer": (), "channel": (shape[1],), "element": shape[1:]}[granularity]
    lead = () if name == "prelu" else (m.k,)
    for p in params:
        assert tuple(p.shape) == (*lead, *site)
    inputs = (x.requires_grad_(), *[p.detach().clone().requires_grad_() for p in params])
    assert torch.autograd.gradcheck(lambda x_, *ps: _apply(m, x_, ps), inputs, eps=1e-6, atol=1e-5)


def _apply(m, x, ps):
    """Run module ``m``'s math with parameter tensors ``ps`` (so gradcheck sees them as inputs)."""
    from actlab.activations import functional as AF

    views = [AF.site_view(p, p.dim() - len(_site(m, x)), x) for p in ps]
    fn = AF.prelu if m.activation_name == "prelu" else type(m).fn
    return AF.recompute(fn, x, *views)


def _site(m, x):
    from actlab.activations.trainable import _site_shape

    return _site_shape(x, m.granularity)


@pytest.mark.parametrize("name", FAMILIES)
def test_module_backward_matches_autograd_of_pure_function(name: str) -> None:
    torch.manual_seed(1)
    m = create_activation(name, granularity="channel").double()
    x = torch.randn(4, 3, 5, 5, dtype=torch.float64, requires_grad=True)
    m(x)
    _perturb(m)
    y = m(x)
    g = torch.randn_like(y)
    grads = torch.autograd.grad(y, [x, *m.parameters()], g)
    # plain autograd of the pure function, no recompute
    from actlab.activations import functional as AF

    x2 = x.detach().requires_grad_()
    ps = [p.detach().clone().requires_grad_() for p in m.parameters()]
    views = [AF.site_view(p, p.dim() - 1, x2) for p in ps]
    fn = AF.prelu if name == "prelu" else type(m).fn
    want = torch.autograd.grad(fn(x2, *views), [x2, *ps], g)
    for a, b in zip(grads, want, strict=True):
        torch.testing.assert_close(a, b)
        assert a.shape == b.shape


def test_element_parameters_are_lazy_and_reject_other_shapes() -> None:
    m = create_activation("cpaf_relu(granularity=element)")
    assert m.a is None
    m(torch.randn(2, 3, 4, 4))
    assert m.a.shape == (2, 3, 4, 4) and m.b.shape == (2, 3, 4, 4)
    with pytest.raises(ValueError, match="site"):
        m(torch.randn(2, 3, 8, 8))
    # a state dict loads into an unmaterialised module and restores the shapes
    fresh = create_activation("cpaf_relu(granularity=element)")
    fresh.load_state_dict(m.state_dict())
    assert fresh.a.shape == (2, 3, 4, 4)
    x = torch.randn(2, 3, 4, 4)
    torch.testing.assert_close(fresh(x), m(x))


def test_inplace_first_argument_for_timm() -> None:
    for name in FAMILIES + ["relu", "elu", "gelu", "rrelu"]:
        from actlab.activations import ACTIVATIONS

        cls = ACTIVATIONS[name]
        cls(True)
        cls(inplace=True)


def _saved_bytes(model: torch.nn.Module, x: torch.Tensor) -> int:
    from actlab.activations.memory import saved_bytes

    return saved_bytes(model, x)


def test_cpaf_memory_does_not_grow_with_k() -> None:
    """CPAF saves only its input (plus the small parameters): the bytes autograd keeps are the same
    for k = 2 and k = 4 and equal to GELU's (another activation that needs its input); ReLU saves
    less only because it keeps its output, which the next layer keeps anyway."""
    import timm

    import actlab.models  # noqa: F401
    from actlab.activations import swap_activations

    x = torch.randn(8, 3, 16, 16)

    def measured(spec: str) -> int:
        torch.manual_seed(0)
        model = timm.create_model("small_cnn", in_chans=3, num_classes=4, channels=[8, 16])
        swap_activations(model, spec, example_input=x)
        return _saved_bytes(model, x)

    relu, gelu = measured("relu"), measured("gelu")
    params = 4 * 2 * 4 * (8 + 8 + 16 + 16)  # k=4 sets of (a, b) per channel, float32
    for spec in ("cpaf_relu(k=2)", "cpaf_relu(k=4)", "cpaf_sigmoid(k=4)", "pa_relu", "prelu"):
        got = measured(spec)
        assert gelu <= got <= gelu + params, (spec, got, gelu)
    assert measured("cpaf_relu(k=4)") < 1.6 * relu
    naive = relu + 4 * (gelu - relu)  # what keeping k intermediates per term would roughly cost
    assert measured("cpaf_relu(k=4)") < naive
