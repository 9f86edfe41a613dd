"""The fused path's self-check (13.6): a deliberately wrong or failing kernel is caught at its first
call, warned about once (naming the case) and replaced by the reference; ``backend=fused`` raises.

The check is device-agnostic, so the CPU fused path (the closed-form kernels of
``actlab.activations.fused.cpu``) stands in for the Triton kernels here.
"""

from __future__ import annotations

import warnings

import pytest
import torch

from actlab.activations import create_activation
from actlab.activations.fused import check, cpu
from actlab.errors import ActlabError


@pytest.fixture(autouse=True)
def fresh_verdicts(monkeypatch: pytest.MonkeyPatch) -> dict:
    verdicts: dict = {}
    monkeypatch.setattr(check, "VERDICTS", verdicts)
    return verdicts


def _pair(spec: str, x: torch.Tensor):
    torch.manual_seed(0)
    auto = create_activation(spec)
    reference = create_activation(spec, backend="reference")
    auto(x)
    with torch.no_grad():
        for p in auto.parameters():
            p.add_(torch.randn_like(p) * 0.3)
    reference.load_state_dict(auto.state_dict())
    return auto, reference


def _outputs(module: torch.nn.Module, x: torch.Tensor):
    x = x.detach().clone().requires_grad_()
    y = module(x)
    return (y, *torch.autograd.grad(y.square().sum(), [x, *module.parameters()]))


def test_a_correct_kernel_passes_once_per_case_and_keeps_the_global_rng(fresh_verdicts) -> None:
    x = torch.randn(4, 3, 5, 5)
    act, _ = _pair("cpaf_relu(k=2)", x)
    fresh_verdicts.clear()
    state = torch.get_rng_state()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        act(x)
        act(x[:2])
        act(x.to(memory_format=torch.channels_last))
    assert torch.equal(torch.get_rng_state(), state)
    assert fresh_verdicts == {
        ("cpaf_relu", 2, "channel", torch.float32, "4d", "cpu"): True,
        ("cpaf_relu", 2, "channel", torch.float32, "channels_last", "cpu"): True,
    }


def _off_by_one_percent(real):
    def wrong(x, a, b, base, offset):
        return real(x, a, b, base, offset) * 1.01

    return wrong


def _wrong_grad_b(real):
    def wrong(grad, x, a, b, base, offset):
        grad_x, grad_a, grad_b = real(grad, x, a, b, base, offset)
        return grad_x, grad_a, -grad_b

    return wrong


def _fails_to_compile(real):
    def broken(*args):
        raise RuntimeError("CompilationError: at 12:4: unsupported tensor index\nmore detail")

    return broken


@pytest.mark.parametrize(
    ("kernel", "inject", "problem"),
    [
        ("ab_forward", _off_by_one_percent, r"output off by 0\.01"),
        ("ab_backward", _wrong_grad_b, r"grad param 1 off by 2"),
        ("ab_forward", _fails_to_compile, r"RuntimeError: CompilationError: at 12:4"),
    ],
    ids=["wrong forward", "wrong backward", "compile error"],
)
def test_a_bad_kernel_warns_once_and_the_reference_takes_over(
    monkeypatch: pytest.MonkeyPatch, kernel: str, inject, problem: str
) -> None:
    x = torch.randn(4, 3, 5, 5)
    act, reference = _pair("cpaf_sigmoid(k=3)", x)
    check.VERDICTS.clear()
    monkeypatch.setattr(cpu, kernel, inject(getattr(cpu, kernel)))
    case = r"cpaf_sigmoid \(k=3, channel, float32, 4d, cpu\)"
    with pytest.warns(RuntimeWarning, match=rf"kernel for {case} disagrees .*{problem}") as caught:
        got = _outputs(act, x)
    assert len(caught) == 1 and "using the reference for this case" in str(caught[0].message)
    for g, want in zip(got, _outputs(reference, x), strict=True):
        torch.testing.assert_close(g, want)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # warned once: the verdict is cached
        again = _outputs(act, x)
    for g, want in zip(again, got, strict=True):
        torch.testing.assert_close(g, want)
    assert list(check.VERDICTS.values()) == [False]


def test_prelu_is_checked_too(monkeypatch: pytest.MonkeyPatch) -> None:
    x = torch.randn(6, 4)
    act, reference = _pair("prelu(granularity=element)", x)
    check.VERDICTS.clear()
    monkeypatch.setattr(cpu, "prelu_forward", lambda x, a: torch.where(x > 0, x, -a * x))
    with pytest.warns(RuntimeWarning, match=r"prelu \(k=1, element, float32, 2d, cpu\)"):
        y = act(x)
    torch.testing.assert_close(y, reference(x))


def test_explicit_fused_raises_instead_of_falling_back(monkeypatch: pytest.MonkeyPatch) -> None:
    x = torch.randn(4, 3, 5, 5)
    act = create_activation("pa_relu(backend=fused)")
    monkeypatch.setattr(cpu, "ab_forward", _off_by_one_percent(cpu.ab_forward))
    with pytest.raises(ActlabError, match="use backend=auto or backend=reference") as err:
        act(x)
    assert "pa_relu (k=1, channel, float32, 4d, cpu)" in str(err.value)
    assert "\n" not in str(err.value)


def test_the_check_runs_inside_inference_mode() -> None:
    """Lightning validates under ``torch.inference_mode``: the first call of a case may be there."""
    x = torch.randn(4, 3, 5, 5)
    act, reference = _pair("cpaf_relu", x)
    check.VERDICTS.clear()
    with torch.inference_mode():
        y = act(x)
    assert list(check.VERDICTS.values()) == [True]
    torch.testing.assert_close(y, reference(x))


def test_a_correct_bf16_kernel_on_a_small_layer_site_passes() -> None:
    """Both sides get the same bf16-rounded output gradient: the reference given the unrounded
    one differed by that rounding alone (0.07 relative on PA-ReLU's a over 4 x 30 features, above
    the 3e-2 allowed), and ``auto`` would have dropped a correct kernel."""
    torch.manual_seed(0)
    module = create_activation("pa_relu(granularity=layer)")
    x = torch.randn(4, 30).bfloat16()
    with torch.no_grad():
        module(x.float())
    error, _ = check.compare(module._fused, module._reference, x, list(module.parameters()))
    assert error < 0.01
