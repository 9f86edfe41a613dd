"""A self-check of the fused kernels against the reference, once per case and process.

The Triton kernels ``backend=auto`` picks on CUDA have been compiled for sm_90 and run in Triton's
interpreter, but a GPU build can still differ (or fail to compile). So before the first fused
call of each *case* -- (activation, k, granularity, dtype, layout, device type) -- the fused
forward and backward run beside the reference (the pure formula of
:mod:`actlab.activations.functional`, differentiated by autograd) on a small seeded batch of the
same case: at most :data:`CHECK_BATCH` samples of the input's shape, parameters perturbed so that
every site differs. The verdict is cached for the process.

- ``auto``: a mismatch or an exception (a compile error) warns once, naming the case, and the
  reference serves that case from then on.
- ``fused`` (asked for explicitly): the same check raises :class:`ActlabError` instead, since
  falling back would not be what was asked.

The check draws from its own generator (the global RNG is untouched) and runs eagerly, outside any
``torch.compile`` trace; a case first met inside a trace is run with the reference for ``auto``
(correct by construction, and compiled by inductor anyway) until an eager call checks it. It runs
inside the caller's first forward but apart from its autograd graph: its own small graph is freed
before the forward goes on, and its saved tensors never reach the caller's
``saved_tensors_hooks`` (activation checkpointing, ``save_on_cpu``, a memory measurement), so the
first forward saves only ``x`` and the parameters like every later one.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Sequence

import torch

from actlab.errors import ActlabError

#: Samples of the check batch (the first dim of the case's input, capped).
CHECK_BATCH = 4
#: Largest allowed ``max|fused - reference| / max|reference|`` per output, by input dtype.
TOLERANCE = {torch.float64: 1e-6, torch.float32: 1e-4}
HALF_TOLERANCE = 3e-2

Case = tuple[str, int, str, torch.dtype, str, str]
#: case -> whether the fused path matched the reference (filled lazily, once per process).
VERDICTS: dict[Case, bool] = {}


def layout(x: torch.Tensor) -> str:
    """The memory layout as the kernels distinguish it: rank and contiguity."""
    if (
        x.dim() == 4
        and x.is_contiguous(memory_format=torch.channels_last)
        and not x.is_contiguous()
    ):
        return "channels_last"
    return f"{x.dim()}d" + ("" if x.is_contiguous() else " strided")


def case_of(name: str, k: int, granularity: str, x: torch.Tensor) -> Case:
    """The case an input ``x`` of activation ``name`` falls in."""
    return (name, k, granularity, x.dtype, layout(x), x.device.type)


def describe(case: Case) -> str:
    name, k, granularity, dtype, lay, device = case
    return f"{name} (k={k}, {granularity}, {str(dtype).removeprefix('torch.')}, {lay}, {device})"


def _max_error(got: torch.Tensor, want: torch.Tensor) -> float:
    got, want = got.detach().double(), want.detach().double()
    if got.shape != want.shape or not bool(torch.isfinite(got).all()):
        return float("inf")
    scale = want.abs().max().clamp_min(1e-6)
    return float((got - want).abs().max() / scale)


def _sample(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """A seeded random batch with ``x``'s sample shape, dtype and layout."""
    with torch.inference_mode(False), torch.no_grad():
        sample = x[: min(CHECK_BATCH, x.shape[0])].detach().clone() if x.dim() else x.clone()
        return sample.normal_(generator=generator).mul_(2)


def _keep(t: torch.Tensor) -> torch.Tensor:
    return t


def _own_saved_tensors():
    """Saved-tensor hooks of the check's own (identity, so the innermost): the caller's hooks
    never see the check's tensors. Non-reentrant checkpointing's hook would otherwise recompute
    the caller's region from inside the check, and a measurement would count them as saved by
    the caller's forward. Where hooks are disabled no caller's hook runs either."""
    if not torch._C._autograd._saved_tensors_hooks_is_enabled():
        return contextlib.nullcontext()
    return torch.autograd.graph.saved_tensors_hooks(_keep, _keep)


def compare(
    fused: Callable[..., torch.Tensor],
    reference: Callable[..., torch.Tensor],
    x: torch.Tensor,
    params: Sequence[torch.Tensor],
) -> tuple[float, str]:
    """Worst relative error of ``fused`` against ``reference`` over the output and the gradients
    for the input and every parameter, on a seeded sample like ``x``; and which one it was."""
    generator = torch.Generator(device=x.device).manual_seed(0)
    sample = _sample(x, generator)
    oracle_dtype = torch.promote_types(sample.dtype, torch.float32)
    with torch.inference_mode(False), torch.enable_grad(), _own_saved_tensors():
        noise = [torch.randn(p.shape, generator=generator, device=p.device) for p in params]
        leaves = [p.detach() + 0.3 * n.to(p.dtype) for p, n in zip(params, noise, strict=True)]
        # the incoming gradient in the input's dtype for both sides: a bf16 output's gradient is
        # bf16, and the reference given the unrounded one differs by that rounding, not by the
        # kernel (0.07 relative on a layer-wise PA-ReLU parameter over 120 elements)
        grad = torch.randn(sample.shape, generator=generator, device=sample.device)
        grad = grad.to(sample.dtype)
        results = {}
        for label, fn, inp in (
            ("fused", fused, sample),
            ("reference", reference, sample.to(oracle_dtype)),
        ):
            xs = inp.detach().requires_grad_()
            ps = [p.detach().clone().requires_grad_() for p in leaves]
            y = fn(xs, *ps)
            results[label] = (y, *torch.autograd.grad(y, [xs, *ps], grad.to(y.dtype)))
    names = ["output", "grad x", *(f"grad param {i}" for i in range(len(params)))]
    worst, where = 0.0, names[0]
    for label, got, want in zip(names, results["fused"], results["reference"], strict=True):
        error = _max_error(got, want)
        if error > worst:
            worst, where = error, label
    return worst, where


def trust_fused(
    case: Case,
    explicit: bool,
    fused: Callable[..., torch.Tensor],
    reference: Callable[..., torch.Tensor],
    x: torch.Tensor,
    params: Sequence[torch.Tensor],
) -> bool:
    """Whether the fused path may serve ``case``; runs the check at the case's first call."""
    verdict = VERDICTS.get(case)
    if verdict is not None:
        return verdict
    if torch.compiler.is_compiling():
        return explicit  # no check inside a trace: ``auto`` stays on the reference until eager
    tolerance = TOLERANCE.get(x.dtype, HALF_TOLERANCE)
    try:
        error, where = compare(fused, reference, x, params)
        problem = (
            None
            if error <= tolerance
            else f"{where} off by {error:.3g} (relative; allowed {tolerance:g})"
        )
    except Exception as err:  # noqa: BLE001 - a kernel that fails to compile or run
        first = str(err).strip().splitlines()[0] if str(err).strip() else ""
        problem = f"{type(err).__name__}: {first}"
    VERDICTS[case] = problem is None
    if problem is not None:
        msg = f"actlab fused activations: the fused kernel for {describe(case)} disagrees with the reference ({problem})"
        if explicit:
            raise ActlabError(f"{msg}; use backend=auto or backend=reference")
        warnings.warn(f"{msg}; using the reference for this case", RuntimeWarning, stacklevel=4)
    return problem is None
