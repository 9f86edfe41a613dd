"""The fused activations as ``torch.library`` custom ops with closed-form autograd.

``actlab::ab_forward`` / ``actlab::ab_backward`` and ``actlab::prelu_forward`` /
``actlab::prelu_backward`` run the closed-form torch code of :mod:`.cpu` on any device and the
Triton kernels of :mod:`.triton` on CUDA when Triton is importable. Autograd saves only ``x`` and
the parameters; fake implementations let ``torch.compile`` trace through them.
"""

from __future__ import annotations

import importlib.util

import torch

from actlab.activations.fused import cpu

#: whether the CUDA kernels are Triton's (else CUDA runs the closed-form torch code).
HAS_TRITON = importlib.util.find_spec("triton") is not None


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
