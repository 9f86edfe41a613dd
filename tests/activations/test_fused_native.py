"""The single-pass C++ CPU kernels (actlab/activations/fused/native.*) against the reference.

The test suite runs the fused ops eagerly (tests/conftest.py sets ACTLAB_CPU_COMPILE=0), so these
tests switch compiled CPU kernels on, with the C++ kernels serving, and count the calls that
reached them: a case that silently fell back to inductor or to eager code fails.
"""

from __future__ import annotations

import collections
import shutil
import warnings

import pytest
import torch

from actlab.activations.fused import native, ops
from tests.activations.test_fused import FAMILIES, _grads, _pair


@pytest.fixture
def native_calls(monkeypatch):
    """Compiled CPU kernels on, the C++ kernels serving; counts their calls by name, by either
    path (the custom op's CPU kernel, or the direct ``autograd.Function`` of eager calls)."""
    if native.library() is None:
        if shutil.which("c++") is None:
            pytest.skip("no C++ compiler: the C++ kernels cannot be built here")
        pytest.fail("the C++ kernels did not build, though a C++ compiler is installed")
    calls: collections.Counter[str] = collections.Counter()
    for fn, kernel in list(ops._NATIVE.items()):

        def counted(*args, _kernel=kernel):
            calls[_kernel.__name__] += 1
            return _kernel(*args)

        monkeypatch.setitem(ops._NATIVE, fn, counted)  # the custom op's CPU kernel
        monkeypatch.setattr(native, kernel.__name__, counted)  # the direct path of eager calls
    old_compile, old_native = ops.set_cpu_compile(True), ops.set_cpu_native(True)
    yield calls
    ops.set_cpu_compile(old_compile)
    ops.set_cpu_native(old_native)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("shape", [(3, 5, 7, 9), (2, 3), (4, 300)])
@pytest.mark.parametrize("granularity", ["layer", "channel", "element"])
@pytest.mark.parametrize("name,k", FAMILIES)
def test_native_matches_reference(native_calls, name, k, granularity, shape, dtype) -> None:
    torch.manual_seed(0)
    x = torch.randn(shape, dtype=dtype) * 2
    ref, fused = _pair(name, k, granularity, x)
    g = torch.randn(shape, dtype=dtype)
    y_ref, grads_ref = _grads(ref, x, g)
    native_calls.clear()
    y, grads = _grads(fused, x, g)
    # what ran: the C++ forward and backward (twice where the case's self-check ran first)
    op = "prelu" if name == "prelu" else "ab"
    assert set(native_calls) == {f"{op}_forward", f"{op}_backward"}, native_calls
    tol = {"rtol": 1e-10, "atol": 1e-10} if dtype == torch.float64 else {}
    torch.testing.assert_close(y, y_ref, **tol)
    for got, want in zip(grads, grads_ref, strict=True):
        assert got.shape == want.shape and got.dtype == want.dtype
        torch.testing.assert_close(got, want, **tol)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("granularity", ["layer", "channel", "element"])
@pytest.mark.parametrize("name", ["cpaf_relu", "cpaf_sigmoid"])
@pytest.mark.parametrize("k", [5, 7])
def test_native_matches_reference_beyond_four_terms(native_calls, name, k, granularity, dtype):
    """k = 1..4 run kernels with the terms unrolled; larger k the generic loops (over 600
    positions, so the element kernel's groups of four samples and its tail both run)."""
    torch.manual_seed(0)
    x = torch.randn(6, 3, 10, 21, dtype=dtype) * 2
    ref, fused = _pair(name, k, granularity, x)
    g = torch.randn_like(x)
    y_ref, grads_ref = _grads(ref, x, g)
    native_calls.clear()
    y, grads = _grads(fused, x, g)
    assert set(native_calls) == {"ab_forward", "ab_backward"}, native_calls
    tol = {"rtol": 1e-10, "atol": 1e-10} if dtype == torch.float64 else {}
    torch.testing.assert_close(y, y_ref, **tol)
    torch.testing.assert_close(grads[0], grads_ref[0], **tol)
    # a and b's gradients are float32 sums over up to 1,260 terms, in another order than autograd's
    sums = tol or {"rtol": 1e-4, "atol": 1e-4}
    for got, want in zip(grads[1:], grads_ref[1:], strict=True):
        torch.testing.assert_close(got, want, **sums)


@pytest.mark.parametrize("granularity", ["channel", "element"])
@pytest.mark.parametrize("name,k", [("cpaf_sigmoid", 2), ("pa_sigmoid", None), ("cpaf_relu", 2)])
def test_native_matches_reference_far_out(native_calls, name, k, granularity) -> None:
    """Inputs up to |x| = 200, where float32's exp under- and overflows: the kernels exponentiate
    -|x - b| only (sigmoid) and agree with the reference there, gradients included."""
    x = torch.linspace(-200, 200, 9 * 4 * 50).reshape(9, 4, 50)
    x = x[:, :, torch.randperm(50, generator=torch.Generator().manual_seed(0))].contiguous()
    ref, fused = _pair(name, k, granularity, x)
    g = torch.randn_like(x)
    y_ref, grads_ref = _grads(ref, x, g)
    native_calls.clear()
    y, grads = _grads(fused, x, g)
    assert native_calls["ab_forward"] and native_calls["ab_backward"], native_calls
    assert torch.isfinite(y).all()
    torch.testing.assert_close(y, y_ref)
    torch.testing.assert_close(grads[0], grads_ref[0])
    for got, want in zip(grads[1:], grads_ref[1:], strict=True):  # sums of values up to 200
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("granularity", ["layer", "channel", "element"])
@pytest.mark.parametrize("name,k", [("cpaf_sigmoid", 2), ("cpaf_relu", 2), ("prelu", None)])
def test_native_keeps_nan_where_the_reference_does(native_calls, name, k, granularity) -> None:
    """A NaN input gives NaN at its position, as torch's relu and sigmoid do (a diverged run must
    not come out finite), and nowhere else."""
    torch.manual_seed(0)
    x = torch.randn(4, 3, 5, 5)
    x[1, 2, 3, 4] = x[3, 0, 0, 1] = float("nan")
    ref, fused = _pair(name, k, granularity, x)
    native_calls.clear()
    with torch.no_grad():
        y, y_ref = fused(x), ref(x)
    assert native_calls, "the C++ kernels did not run"
    assert torch.equal(torch.isnan(y), torch.isnan(x))
    assert torch.equal(torch.isnan(y_ref), torch.isnan(x))
    torch.testing.assert_close(y, y_ref, equal_nan=True)


@pytest.mark.parametrize("name,k", [("cpaf_relu", 2), ("cpaf_sigmoid", 3), ("prelu", None)])
@pytest.mark.parametrize("granularity", ["layer", "channel", "element"])
def test_native_results_do_not_depend_on_the_thread_count(native_calls, name, k, granularity):
    """Threads own disjoint positions or channels, so 1 and 2 threads give identical bits (the
    input is large enough for the kernels to start threads)."""
    torch.manual_seed(0)
    x = torch.randn(32, 8, 16, 16) * 2
    _, fused = _pair(name, k, granularity, x)
    g = torch.randn_like(x)
    threads = torch.get_num_threads()
    results = []
    try:
        for n in (1, 2):
            torch.set_num_threads(n)
            results.append(_grads(fused, x, g))
    finally:
        torch.set_num_threads(threads)
    assert native_calls, "the C++ kernels did not run"
    (y1, grads1), (y2, grads2) = results
    assert torch.equal(y1, y2)
    for a, b in zip(grads1, grads2, strict=True):
        assert torch.equal(a, b)


def test_native_serves_only_contiguous_float32_and_float64() -> None:
    """channels_last, bf16 and mixed-dtype calls go to inductor's code instead."""
    x = torch.randn(2, 3, 4, 4)
    assert native.serves(x, torch.ones(2, 3))
    assert not native.serves(x.to(memory_format=torch.channels_last), torch.ones(2, 3))
    assert not native.serves(x.bfloat16(), torch.ones(2, 3))
    assert not native.serves(x, torch.ones(2, 3, dtype=torch.float64))


def test_build_failure_warns_once_and_keeps_the_other_kernels(monkeypatch) -> None:
    from torch.utils import cpp_extension

    def broken(*args, **kwargs):
        raise RuntimeError("Error building extension 'actlab_fused'\nninja output")

    monkeypatch.setattr(cpp_extension, "load", broken)
    monkeypatch.setattr(native, "_state", {})
    with pytest.warns(RuntimeWarning, match=r"building the C\+\+ CPU kernels failed \(Runtime"):
        assert native.library() is None
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert native.library() is None  # once per process: no second build, no second warning


@pytest.mark.parametrize("name,k", [("cpaf_relu", 2), ("prelu", None)])
def test_compiled_model_reaches_the_kernels_through_the_custom_op(native_calls, name, k) -> None:
    """Under ``torch.compile`` the direct path is skipped (dynamo traces the custom op instead);
    the compiled model gives the eager model's gradients."""
    torch.manual_seed(0)
    x = torch.randn(4, 3, 5, 5)
    _, fused = _pair(name, k, "channel", x)
    g = torch.randn_like(x)
    y, grads = _grads(fused, x, g)
    compiled = torch.compile(fused, fullgraph=True, backend="aot_eager")
    native_calls.clear()
    y_c, grads_c = _grads(compiled, x, g)
    op = "prelu" if name == "prelu" else "ab"
    assert set(native_calls) == {f"{op}_forward", f"{op}_backward"}, native_calls
    torch.testing.assert_close(y_c, y)
    for got, want in zip(grads_c, grads, strict=True):
        torch.testing.assert_close(got, want)
