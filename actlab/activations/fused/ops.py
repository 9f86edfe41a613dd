"""The fused activations as ``torch.library`` custom ops with closed-form autograd.

``actlab::ab_forward`` / ``actlab::ab_backward`` and ``actlab::prelu_forward`` /
``actlab::prelu_backward`` run, on CPU, the single-pass C++ kernels of :mod:`.native` for
contiguous float32/float64 input (see :func:`set_cpu_native`) and otherwise the closed-form torch
code of :mod:`.cpu` compiled by inductor (see :func:`set_cpu_compile`); on CUDA the Triton kernels
of :mod:`.triton` when Triton is importable; elsewhere the closed-form code eagerly. Autograd saves only ``x`` and the
parameters; fake implementations let ``torch.compile`` trace through them.
"""

from __future__ import annotations

import importlib.util
import os
import warnings
from collections.abc import Callable

import torch

from actlab.activations.fused import cpu, native

#: whether the CUDA kernels are Triton's (else CUDA runs the closed-form torch code).
HAS_TRITON = importlib.util.find_spec("triton") is not None

#: ``ACTLAB_CPU_COMPILE=0`` starts with the CPU kernels eager (the test suite does, to skip compiles).
_cpu_compile = {"enabled": os.environ.get("ACTLAB_CPU_COMPILE", "1") != "0"}
#: ``ACTLAB_CPU_NATIVE=0`` starts with the C++ kernels off (inductor's code serves every case).
_cpu_native = {"enabled": os.environ.get("ACTLAB_CPU_NATIVE", "1") != "0"}
_compiled: dict[Callable, Callable] = {}
#: the C++ kernel of each closed-form function of :mod:`.cpu`.
_NATIVE: dict[Callable, Callable] = {
    cpu.ab_forward: native.ab_forward,
    cpu.ab_backward: native.ab_backward,
    cpu.prelu_forward: native.prelu_forward,
    cpu.prelu_backward: native.prelu_backward,
}
_RECOMPILE_LIMIT = 64


def set_cpu_compile(enabled: bool) -> bool:
    """Whether the CPU kernels run inductor-compiled (default) or eagerly; returns the old value.

    Compiling costs 3-10 s per new (base, k, granularity, dtype, rank) the first time it is met
    (less once inductor's on-disk cache has it; sizes are dynamic, so a new batch or image size
    does not recompile); the eager closed-form code is 1.2-1.7x faster than the reference but several times
    slower than the compiled loops. Without a working C++ compiler the first call warns and falls
    back to eager. ``ACTLAB_CPU_COMPILE=0`` in the environment sets the initial value.
    """
    old = _cpu_compile["enabled"]
    _cpu_compile["enabled"] = bool(enabled)
    return old


_BACKWARDS = (cpu.ab_backward, cpu.prelu_backward)


def set_cpu_native(enabled: bool) -> bool:
    """Whether compiled CPU calls use the C++ kernels of :mod:`.native` where they serve (default)
    or inductor's code for every case; returns the old value. Only while :func:`set_cpu_compile`
    is on (both are compiled code). ``ACTLAB_CPU_NATIVE=0`` in the environment sets the initial
    value. In benchmarks/fashion_epochs.py the C++ kernels cut CPAF-ReLU (k=2, element) on 004
    §4.2's net from 1.30x to 1.13x ReLU's training step, in the same run (docs/performance.md)."""
    old = _cpu_native["enabled"]
    _cpu_native["enabled"] = bool(enabled)
    return old


def _on_cpu(fn: Callable, *args):
    if _cpu_compile["enabled"] and _cpu_native["enabled"]:
        if fn in _BACKWARDS:  # an upstream grad may be strided (``sum().backward()``'s is expanded)
            args = (args[0].contiguous(), *args[1:])
        tensors = [t for t in args if isinstance(t, torch.Tensor)]
        if native.serves(*tensors) and native.library() is not None:
            return _NATIVE[fn](*args)
    if _cpu_compile["enabled"]:
        args = tuple(
            (t.contiguous() if 0 in t.stride() else t.detach())
            if isinstance(t, torch.Tensor)
            else t
            for t in args
        )
        if fn not in _compiled:
            _compiled[fn] = torch.compile(fn, dynamic=True, fullgraph=True)
        try:
            # sizes are dynamic, but each (base, k, granularity, dtype, rank) and duck-sized
            # coincidence (batch == channels) is its own graph: allow more than dynamo's 8
            with torch.no_grad(), torch._dynamo.config.patch(recompile_limit=_RECOMPILE_LIMIT):
                return _compiled[fn](*args)
        except Exception as err:  # noqa: BLE001 - any compiler failure: fall back, once, loudly
            set_cpu_compile(False)
            warnings.warn(
                f"actlab fused activations: compiling the CPU kernels failed ({type(err).__name__}: "
                f"{str(err).splitlines()[0] if str(err) else ''}); running them eagerly",
                RuntimeWarning,
                stacklevel=3,
            )
    return fn(*args)


def _triton():
    from actlab.activations.fused import triton as kernels

    return kernels


@torch.library.custom_op("actlab::ab_forward", mutates_args=())
def ab_forward(
    x: torch.Tensor, a: torch.Tensor, b: torch.Tensor, base: str, offset: float
) -> torch.Tensor:
    """``sum_i a_i (g(x - b_i) - offset)``, ``g`` = ``base`` (sigmoid or relu); 004 eq. 2/3, 7-9."""
    return cpu.ab_forward(x, a, b, base, offset)


@torch.library.custom_op("actlab::ab_backward", mutates_args=())
def ab_backward(
    grad: torch.Tensor, x: torch.Tensor, a: torch.Tensor, b: torch.Tensor, base: str, offset: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Closed-form gradients of :func:`ab_forward` for ``x``, ``a``, ``b``."""
    return cpu.ab_backward(grad, x, a, b, base, offset)


@torch.library.custom_op("actlab::prelu_forward", mutates_args=())
def prelu_forward(x: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    """PReLU ``x if x > 0 else a x`` with ``a`` shaped like the site."""
    return cpu.prelu_forward(x, a)


@torch.library.custom_op("actlab::prelu_backward", mutates_args=())
def prelu_backward(
    grad: torch.Tensor, x: torch.Tensor, a: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Closed-form gradients of :func:`prelu_forward` for ``x`` and ``a``."""
    return cpu.prelu_backward(grad, x, a)


@ab_forward.register_kernel("cpu")
def _(x, a, b, base, offset):
    return _on_cpu(cpu.ab_forward, x, a, b, base, offset)


@ab_backward.register_kernel("cpu")
def _(grad, x, a, b, base, offset):
    return _on_cpu(cpu.ab_backward, grad, x, a, b, base, offset)


@prelu_forward.register_kernel("cpu")
def _(x, a):
    return _on_cpu(cpu.prelu_forward, x, a)


@prelu_backward.register_kernel("cpu")
def _(grad, x, a):
    return _on_cpu(cpu.prelu_backward, grad, x, a)


if HAS_TRITON:

    @ab_forward.register_kernel("cuda")
    def _(x, a, b, base, offset):
        return _triton().forward(x, a, b, base, offset)

    @ab_backward.register_kernel("cuda")
    def _(grad, x, a, b, base, offset):
        return _triton().backward(grad, x, a, b, base, offset)

    @prelu_forward.register_kernel("cuda")
    def _(x, a):
        return _triton().forward(x, a, None, "prelu", 0.0)

    @prelu_backward.register_kernel("cuda")
    def _(grad, x, a):
        grad_x, grad_a, _ = _triton().backward(grad, x, a, None, "prelu", 0.0)
        return grad_x, grad_a


@ab_forward.register_fake
def _(x, a, b, base, offset):
    return torch.empty_like(x)


@ab_backward.register_fake
def _(grad, x, a, b, base, offset):
    return torch.empty_like(x), torch.empty_like(a), torch.empty_like(b)


@prelu_forward.register_fake
def _(x, a):
    return torch.empty_like(x)


@prelu_backward.register_fake
def _(grad, x, a):
    return torch.empty_like(x), torch.empty_like(a)


def _ab_setup(ctx, inputs, output):
    x, a, b, base, offset = inputs
    ctx.save_for_backward(x, a, b)
    ctx.base, ctx.offset = base, offset


def _ab_backward(ctx, grad):
    x, a, b = ctx.saved_tensors
    grad_x, grad_a, grad_b = ab_backward(grad, x, a, b, ctx.base, ctx.offset)
    return grad_x, grad_a, grad_b, None, None


def _prelu_setup(ctx, inputs, output):
    ctx.save_for_backward(*inputs)


def _prelu_backward(ctx, grad):
    x, a = ctx.saved_tensors
    return prelu_backward(grad, x, a)


ab_forward.register_autograd(_ab_backward, setup_context=_ab_setup)
prelu_forward.register_autograd(_prelu_backward, setup_context=_prelu_setup)


class _NativeAB(torch.autograd.Function):
    """:func:`ab_forward` on the C++ kernels without the custom op's dispatch (eager CPU calls)."""

    @staticmethod
    def forward(ctx, x, a, b, base, offset):
        ctx.save_for_backward(x, a, b)
        ctx.base, ctx.offset = base, offset
        return native.ab_forward(x, a, b, base, offset)

    @staticmethod
    def backward(ctx, grad):
        x, a, b = ctx.saved_tensors
        grads = native.ab_backward(grad.contiguous(), x, a, b, ctx.base, ctx.offset)
        return *grads, None, None


class _NativePReLU(torch.autograd.Function):
    """:func:`prelu_forward` on the C++ kernels without the custom op's dispatch."""

    @staticmethod
    def forward(ctx, x, a):
        ctx.save_for_backward(x, a)
        return native.prelu_forward(x, a)

    @staticmethod
    def backward(ctx, grad):
        x, a = ctx.saved_tensors
        return native.prelu_backward(grad.contiguous(), x, a)


def _direct(*tensors: torch.Tensor) -> bool:
    """Whether an eager CPU call can go straight to the C++ kernels: the custom op's dispatch
    (about 0.3 ms a site per training step, in Python) is only needed by ``torch.compile``."""
    return (
        _cpu_compile["enabled"]
        and _cpu_native["enabled"]
        and not torch.compiler.is_compiling()
        and native.serves(*tensors)
        and native.library() is not None
    )


def ab_apply(
    x: torch.Tensor, a: torch.Tensor, b: torch.Tensor, base: str, offset: float
) -> torch.Tensor:
    """:func:`ab_forward` with autograd, by the shortest path: eager CPU calls the C++ kernels
    can serve go through a plain ``autograd.Function`` (same saved tensors, same kernels); the
    rest, and anything ``torch.compile`` traces, through the custom op."""
    if _direct(x, a, b):
        return _NativeAB.apply(x, a, b, base, offset)
    return ab_forward(x, a, b, base, offset)


def prelu_apply(x: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    """:func:`prelu_forward` with autograd by the shortest path (see :func:`ab_apply`)."""
    if _direct(x, a):
        return _NativePReLU.apply(x, a)
    return prelu_forward(x, a)
