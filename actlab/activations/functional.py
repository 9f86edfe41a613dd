"""Pure activation functions: the single source of every formula actlab trains with.

Each (a, b) family is one function ``f(x, a, b)`` where ``a`` and ``b`` have shape
``(k, *broadcastable to x)``; the modules in :mod:`actlab.activations.trainable` only reshape their
parameters and call these, so a fused kernel can replace a function without touching a module.
:func:`recompute` runs any of them so that only the input and the parameters are saved for
backward (the intermediates of the k terms are recomputed), as timm's ``activations_me`` does.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F


def site_view(p: torch.Tensor, lead: int, x: torch.Tensor) -> torch.Tensor:
    """View ``p`` (``lead`` leading dims, then its site) so that it broadcasts against ``x``.

    The site's length says the granularity: ``()`` layer, ``(C,)`` channel (or element of a 2-D
    input, the same thing), ``x.shape[1:]`` element.
    """
    site = p.shape[lead:]
    if len(site) == 0:  # layer
        return p.reshape(*p.shape[:lead], *([1] * x.dim()))
    if len(site) == 1:  # channel
        return p.reshape(*p.shape[:lead], 1, site[0], *([1] * (x.dim() - 2)))
    return p.reshape(*p.shape[:lead], 1, *site)  # element


def pa_sigmoid(x: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Parametric sigmoid, summed over the k terms of ``a`` and ``b`` (004 eq. 2 and eq. 8).

    ``z = sum_i a_i / (1 + exp(-(x - b_i))) - a_i / 2``; with k = 1 this is 004's eq. 2 (PA-sigmoid),
    with k > 1 the combined parametric sigmoid (CPAF, eq. 7-8).
    """
    out = torch.zeros_like(x)
    for i in range(a.shape[0]):
        out = out + a[i] * (torch.sigmoid(x - b[i]) - 0.5)
    return out


def pa_relu(x: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Parametric ReLU of 004, summed over the k terms of ``a`` and ``b`` (004 eq. 3 and eq. 9).

    ``z = sum_i a_i (x - b_i) - a_i / 2`` where ``x > b_i`` and ``-a_i / 2`` elsewhere, i.e.
    ``sum_i a_i (relu(x - b_i) - 1/2)``.
    """
    out = torch.zeros_like(x)
    for i in range(a.shape[0]):
        out = out + a[i] * (F.relu(x - b[i]) - 0.5)
    return out


#: CPAF is the sum of k parametric activations (004 eq. 7); the formulas above already sum.
cpaf_sigmoid = pa_sigmoid
cpaf_relu = pa_relu


def agile_sigmoid(x: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Agile sigmoid ``a * sigmoid(x - b)`` (002, read as 004 describes its ref. [5]; k = 1)."""
    out = torch.zeros_like(x)
    for i in range(a.shape[0]):
        out = out + a[i] * torch.sigmoid(x - b[i])
    return out


def agile_relu(x: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Agile ReLU ``a * relu(x - b)`` (002, read as 004 describes its ref. [5]; k = 1)."""
    out = torch.zeros_like(x)
    for i in range(a.shape[0]):
        out = out + a[i] * F.relu(x - b[i])
    return out


def prelu(x: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    """PReLU ``x if x > 0 else a * x`` (He et al. 2015); ``a`` broadcastable to ``x``."""
    return torch.where(x > 0, x, a * x)


def rrelu_paper(
    x: torch.Tensor, lower: float = 3.0, upper: float = 8.0, training: bool = False
) -> torch.Tensor:
    """Randomized leaky ReLU in Xu et al. (2015)'s form: ``x if x >= 0 else x / lambda``.

    In training ``lambda ~ U(lower, upper)`` independently per element; in evaluation
    ``lambda = (lower + upper) / 2`` (000 uses 3 < lambda < 8, i.e. slope 1/5.5 at test).
    """
    if training:
        lam = torch.empty_like(x).uniform_(lower, upper)
        return torch.where(x >= 0, x, x / lam)
    return torch.where(x >= 0, x, x * (2.0 / (lower + upper)))


class _Recompute(torch.autograd.Function):
    """Apply ``fn(x, *params)`` saving only ``x`` and ``params``; backward recomputes ``fn``."""

    @staticmethod
    def forward(ctx, fn: Callable[..., torch.Tensor], x: torch.Tensor, *params: torch.Tensor):
        ctx.fn = fn
        ctx.save_for_backward(x, *params)
        with torch.no_grad():
            return fn(x, *params)

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):
        x, *params = ctx.saved_tensors
        inputs = [
            t.detach().requires_grad_(need)
            for t, need in zip([x, *params], ctx.needs_input_grad[1:], strict=True)
        ]
        wanted = [t for t in inputs if t.requires_grad]
        with torch.enable_grad():
            out = ctx.fn(*inputs)
            grads = iter(torch.autograd.grad(out, wanted, grad_out)) if wanted else iter(())
        return (None, *(next(grads) if t.requires_grad else None for t in inputs))


def recompute(
    fn: Callable[..., torch.Tensor], x: torch.Tensor, *params: torch.Tensor
) -> torch.Tensor:
    """``fn(x, *params)`` whose backward saves only ``x`` and ``params`` (recomputes the rest).

    Without autograd (``no_grad`` or nothing requires grad) ``fn`` runs directly.
    """
    if not torch.is_grad_enabled() or not (x.requires_grad or any(p.requires_grad for p in params)):
        return fn(x, *params)
    return _Recompute.apply(fn, x, *params)
