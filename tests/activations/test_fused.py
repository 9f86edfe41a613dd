"""The fused backend against the reference (the oracle): values, gradients, dtypes, specs.

CPU tests run the closed-form custom ops eagerly (tests/conftest.py sets ACTLAB_CPU_COMPILE=0) and
once compiled; the Triton kernels run on CPU tensors in Triton's interpreter, in a subprocess
(``TRITON_INTERPRET`` must be set before triton is imported), and on CUDA where there is one.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
import timm
import torch

import actlab.models  # noqa: F401  (registers small_cnn)
from actlab.activations import create_activation, swap_activations
from actlab.activations.fused import ops
from actlab.errors import ActlabError

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]

#: (name, k): every family; CPAF with k = 1..4.
FAMILIES = [
    ("agile_sigmoid", None),
    ("agile_relu", None),
    ("pa_sigmoid", None),
    ("pa_relu", None),
    *[("cpaf_sigmoid", k) for k in (1, 2, 3, 4)],
    *[("cpaf_relu", k) for k in (1, 2, 3, 4)],
    ("prelu", None),
]
#: (shape, channels_last): odd sizes, 2-D features and a channels_last image batch.
SHAPES = [((3, 5, 7, 9), False), ((2, 3), False), ((3, 5, 7, 9), True)]


def _pair(name: str, k: int | None, granularity: str, x: torch.Tensor):
    """A reference and a fused module with the same (perturbed) parameters, materialised on x."""
    extra = {} if k is None else {"k": k}
    ref = create_activation(name, granularity=granularity, backend="reference", **extra)
    fused = create_activation(name, granularity=granularity, backend="fused", **extra)
    param_dtype = torch.float64 if x.dtype == torch.float64 else torch.float32
    ref.to(param_dtype)
    fused.to(param_dtype)
    with torch.no_grad():
        ref(x.float() if x.dtype == torch.bfloat16 else x)
        for p in ref.parameters():
            p.add_(torch.randn_like(p) * 0.3)
    fused.load_state_dict(ref.state_dict())
    return ref, fused


def _grads(module: torch.nn.Module, x: torch.Tensor, g: torch.Tensor):
    x = x.detach().clone().requires_grad_()
    y = module(x)
    return y, torch.autograd.grad(y, [x, *module.parameters()], g)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("shape,channels_last", SHAPES)
@pytest.mark.parametrize("granularity", ["layer", "channel", "element"])
@pytest.mark.parametrize("name,k", FAMILIES)
def test_fused_matches_reference(name, k, granularity, shape, channels_last, dtype) -> None:
    torch.manual_seed(0)
    x = torch.randn(shape, dtype=dtype) * 2
    if channels_last:
        x = x.to(memory_format=torch.channels_last)
    ref, fused = _pair(name, k, granularity, x)
    g = torch.randn(shape, dtype=dtype)
    y_ref, grads_ref = _grads(ref, x, g)
    y, grads = _grads(fused, x, g)
    tol = {"rtol": 1e-10, "atol": 1e-10} if dtype == torch.float64 else {}
    torch.testing.assert_close(y, y_ref, **tol)
    assert len(grads) == len(grads_ref) == (2 if name == "prelu" else 3)
    for got, want in zip(grads, grads_ref, strict=True):
        assert got.shape == want.shape and got.dtype == want.dtype
        torch.testing.assert_close(got, want, **tol)


@pytest.mark.parametrize("name", ["cpaf_relu", "cpaf_sigmoid", "prelu"])
@pytest.mark.parametrize("granularity", ["layer", "channel", "element"])
def test_backward_is_deterministic(name: str, granularity: str) -> None:
    torch.manual_seed(0)
    x = torch.randn(8, 6, 5, 5)
    _, fused = _pair(name, None, granularity, x)
    g = torch.randn_like(x)
    first, second = _grads(fused, x, g)[1], _grads(fused, x, g)[1]
    for a, b in zip(first, second, strict=True):
        assert torch.equal(a, b)


@pytest.mark.parametrize("name", ["cpaf_relu", "cpaf_sigmoid", "pa_relu", "prelu"])
def test_bf16_input_is_computed_in_fp32(name: str) -> None:
    torch.manual_seed(0)
    x = (torch.randn(4, 6, 5, 5) * 2).to(torch.bfloat16)
    ref, fused = _pair(name, None, "channel", x)
    g = torch.randn(x.shape).to(torch.bfloat16)
    y, grads = _grads(fused, x, g)
    y_ref, grads_ref = _grads(ref, x.float(), g.float())  # the oracle on the fp32 upcast
    assert y.dtype == torch.bfloat16 and grads[0].dtype == torch.bfloat16
    assert all(p.dtype == torch.float32 for p in grads[1:])
    # fp32 math rounded once to bf16: the fp32 result rounded to bf16, give or take one bf16 ulp
    # where the two fp32 summation orders straddle a rounding boundary (most elements are equal)
    ulp = {"rtol": 2**-7, "atol": 1e-6}
    torch.testing.assert_close(y, y_ref.to(torch.bfloat16), **ulp)
    torch.testing.assert_close(grads[0], grads_ref[0].to(torch.bfloat16), **ulp)
    assert (y == y_ref.to(torch.bfloat16)).float().mean() > 0.99
    for got, want in zip(grads[1:], grads_ref[1:], strict=True):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4)


def test_backend_through_spec_strings_and_swap() -> None:
    assert (
        create_activation("cpaf_relu(k=3, backend=fused)").spec == "cpaf_relu(k=3, backend=fused)"
    )
    assert create_activation("cpaf_relu(k=3, backend=auto)").spec == "cpaf_relu(k=3)"
    assert create_activation("prelu(backend=reference)").backend == "reference"
    assert create_activation({"name": "pa_sigmoid", "backend": "fused"}).backend == "fused"
    x = torch.randn(2, 3, 8, 8)
    model = timm.create_model("small_cnn", in_chans=3, num_classes=4, channels=[4, 8])
    report = swap_activations(model, "cpaf_relu(k=2, backend=reference)", example_input=x)
    assert report.spec == "cpaf_relu(backend=reference)"
    swapped = [m for m in model.modules() if hasattr(m, "backend")]
    assert swapped and all(m.backend == "reference" for m in swapped)


@pytest.mark.parametrize("spec", ["cpaf_relu(k=3)", "cpaf_sigmoid(granularity=element)", "prelu"])
def test_state_dicts_are_identical_across_backends(spec: str) -> None:
    x = torch.randn(2, 3, 8, 8)
    states, outputs = {}, {}
    for backend in ("auto", "reference", "fused"):
        torch.manual_seed(0)
        model = timm.create_model("small_cnn", in_chans=3, num_classes=4, channels=[4, 8])
        swap_activations(model, {**_as_mapping(spec), "backend": backend}, example_input=x)
        states[backend] = {k: v.clone() for k, v in model.state_dict().items()}
        outputs[backend] = model.eval()(x)
    for backend in ("auto", "fused"):
        assert states[backend].keys() == states["reference"].keys()
        for key, value in states["reference"].items():
            assert torch.equal(states[backend][key], value), key
        torch.testing.assert_close(outputs[backend], outputs["reference"])


def _as_mapping(spec: str) -> dict:
    from actlab.activations import parse_spec

    name, kwargs = parse_spec(spec)
    return {"name": name, **kwargs}


def test_unknown_backend_is_a_one_line_error_naming_the_valid_values() -> None:
    with pytest.raises(
        ActlabError, match="backend must be one of auto, reference, fused; got 'triton'"
    ) as err:
        create_activation("cpaf_relu(backend=triton)")
    assert "\n" not in str(err.value)


def test_fused_composes_with_torch_compile_fullgraph() -> None:
    torch.manual_seed(0)
    act = create_activation("cpaf_relu(k=2, backend=fused)")
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), act)
    x = torch.randn(2, 3, 8, 8)
    model(x)
    compiled = torch.compile(model, fullgraph=True, backend="aot_eager")
    compiled(x).square().sum().backward()
    want = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    model(x).square().sum().backward()
    for p, w in zip(model.parameters(), want, strict=True):
        torch.testing.assert_close(p.grad, w)


def test_compiled_cpu_kernels_match_reference() -> None:
    """The CPU kernels as ``auto`` runs them outside tests: inductor-compiled closed form."""
    old = ops.set_cpu_compile(True)
    try:
        torch.manual_seed(0)
        x = torch.randn(4, 6, 5, 5).to(memory_format=torch.channels_last)
        ref, fused = _pair("cpaf_relu", 2, "channel", x)
        g = torch.randn_like(x)
        y_ref, grads_ref = _grads(ref, x, g)
        y, grads = _grads(fused, x[:3], g[:3])  # a new batch size first: shapes are dynamic
        y, grads = _grads(fused, x, g)
        torch.testing.assert_close(y, y_ref)
        for got, want in zip(grads, grads_ref, strict=True):
            torch.testing.assert_close(got, want)
        # what ran: the compiled kernels (a compiler failure would have switched to eager)
        assert ops._cpu_compile["enabled"] and ops._compiled, "the CPU kernels ran eagerly"
    finally:
        ops.set_cpu_compile(old)


#: Cases ``triton_cases.py`` runs through Triton's interpreter.
TRITON_CASES = 71


def _run_script(name: str, env: dict[str, str | None]) -> str:
    """Run ``tests/activations/<name>`` in a fresh interpreter (``None`` unsets a variable); it
    must exit 0 and print ``ok ...``."""
    full = {**os.environ, "PYTHONPATH": str(REPO)}
    for key, value in env.items():
        if value is None:
            full.pop(key, None)
        else:
            full[key] = value
    done = subprocess.run(
        [sys.executable, str(HERE / name)], env=full, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("ok "), done.stdout
    return done.stdout


@pytest.mark.slow  # ~20 s: the interpreter runs every program in Python
@pytest.mark.skipif(importlib.util.find_spec("triton") is None, reason="triton is not installed")
def test_triton_kernels_in_interpreter_mode() -> None:
    out = _run_script("triton_cases.py", {"TRITON_INTERPRET": "1"})
    # what ran: every case of the script (71: each family, granularity, layout and dtype)
    assert out.split()[:2] == ["ok", str(TRITON_CASES)], out


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize(
    "name,k", [("cpaf_relu", 2), ("cpaf_sigmoid", 3), ("pa_relu", None), ("prelu", None)]
)
@pytest.mark.parametrize("granularity", ["layer", "channel", "element"])
def test_triton_on_cuda_matches_reference(name, k, granularity, dtype) -> None:
    torch.manual_seed(0)
    x = (torch.randn(8, 16, 9, 11, device="cuda") * 2).to(dtype)
    x = x.to(memory_format=torch.channels_last)
    ref, fused = _pair(name, k, granularity, x)
    ref.cuda()
    fused.cuda()
    assert ops.HAS_TRITON
    g = torch.randn(x.shape, device="cuda").to(dtype)
    y, grads = _grads(fused, x, g)
    again = _grads(fused, x, g)[1]
    y_ref, grads_ref = _grads(ref, x.float(), g.float())
    assert y.dtype == dtype and y.is_contiguous(memory_format=torch.channels_last)
    tol = {} if dtype == torch.float32 else {"rtol": 1e-2, "atol": 1e-2}
    torch.testing.assert_close(y.float(), y_ref, **tol)
    for got, want, rep in zip(grads, grads_ref, again, strict=True):
        torch.testing.assert_close(got.float(), want, **{"rtol": 1e-3, "atol": 1e-3, **tol})
        assert torch.equal(got, rep)


def test_auto_resolves_to_fused_on_cpu_and_reference_stays_reference() -> None:
    from actlab.activations import fused

    x = torch.randn(2, 3)
    assert fused.resolve_backend("auto", x) == fused.AUTO_CPU == "fused"
    assert fused.resolve_backend("reference", x) == "reference"
    assert fused.resolve_backend("fused", x) == "fused"


def test_cpu_compile_failure_warns_and_falls_back_to_eager(monkeypatch) -> None:
    from actlab.activations.fused import cpu

    def broken(*args):
        raise RuntimeError("no C++ compiler\nmore detail")

    monkeypatch.setitem(ops._compiled, cpu.prelu_forward, broken)
    old = ops.set_cpu_compile(True)
    old_native = ops.set_cpu_native(False)  # the C++ kernels would serve this call
    try:
        x = torch.randn(3, 4)
        m = create_activation("prelu(backend=fused)")
        with pytest.warns(
            RuntimeWarning,
            match=r"failed \(RuntimeError: no C\+\+ compiler\); running them eagerly",
        ):
            y = m(x)
        torch.testing.assert_close(y, torch.where(x > 0, x, 0.25 * x))
        assert ops._cpu_compile["enabled"] is False
    finally:
        ops.set_cpu_compile(old)
        ops.set_cpu_native(old_native)


@pytest.mark.slow  # ~20 s: 25 kernels through Triton's full compiler
@pytest.mark.skipif(importlib.util.find_spec("triton") is None, reason="triton is not installed")
def test_triton_kernels_compile_for_h100(tmp_path: Path) -> None:
    _run_script("triton_compile.py", {"TRITON_CACHE_DIR": str(tmp_path), "TRITON_INTERPRET": None})
