"""Closed-form forward and backward of the (a, b) families and PReLU in plain torch ops.

Used as the fused path on CPU (and on any device without Triton). The forward sums the k terms
without keeping any intermediate for autograd; the backward recomputes each term from ``x`` and
writes the derivatives out (004 eq. 2/3 and 7-9):

- ``y = sum_i a_i (g(x - b_i) - o)`` with ``g`` = sigmoid or relu and offset ``o`` (1/2 for PA and
  CPAF, 0 for agile);
- ``dy/dx = sum_i a_i g'(x - b_i)``, ``dy/da_i = g(x - b_i) - o``, ``dy/db_i = -a_i g'(x - b_i)``,
  with ``sigmoid' = s (1 - s)`` and ``relu' = [x > b_i]``;
- PReLU ``y = x`` for ``x > 0`` else ``a x``: ``dy/dx = 1`` or ``a``, ``dy/da = 0`` or ``x``.

Parameters arrive as stored by the modules, ``(k, *site)`` (``(*site)`` for PReLU); the site
(``()``, ``(C,)`` or ``x.shape[1:]``) says the granularity, and parameter gradients are reduced
to it: over everything (layer), over all dims but 1 (channel), over the batch (element).
"""

from __future__ import annotations

import torch

from actlab.activations.functional import site_view

#: the two base functions of the (a, b) families.
BASES = ("sigmoid", "relu")


def compute_dtype(x: torch.Tensor, *params: torch.Tensor) -> torch.dtype:
    """The dtype the math runs in: at least float32 (bf16/fp16 inputs are computed in fp32)."""
    dtype = torch.promote_types(x.dtype, torch.float32)
    for p in params:
        dtype = torch.promote_types(dtype, p.dtype)
    return dtype


def reduce_to_site(t: torch.Tensor, site_ndim: int) -> torch.Tensor:
    """Sum ``t`` (shaped like ``x``) down to a site of ``site_ndim`` dims."""
    if site_ndim == 0:
        return t.sum()
    if site_ndim == 1:
        return t.sum([d for d in range(t.dim()) if d != 1]) if t.dim() > 1 else t
    return t.sum(0)


def _value_and_slope(d: torch.Tensor, base: str) -> tuple[torch.Tensor, torch.Tensor]:
    """``g(d)`` and ``g'(d)`` for the base function ``g``."""
    if base == "sigmoid":
        s = torch.sigmoid(d)
        return s, s * (1 - s)
    return d.clamp(min=0), (d > 0).to(d.dtype)


def ab_forward(
    x: torch.Tensor, a: torch.Tensor, b: torch.Tensor, base: str, offset: float
) -> torch.Tensor:
    """``sum_i a_i (g(x - b_i) - offset)`` in ``x``'s dtype (computed in at least fp32)."""
    dtype = compute_dtype(x, a, b)
    xf = x.to(dtype)
    av, bv = site_view(a.to(dtype), 1, x), site_view(b.to(dtype), 1, x)
    out = None
    for i in range(a.shape[0]):
        t = xf - bv[i]
        t = t.sigmoid_() if base == "sigmoid" else t.clamp_(min=0)
        t = t.mul_(av[i])
        out = t if out is None else out.add_(t)
    if offset:
        out = out.sub_(av.sum(0) * offset)
    return out.to(x.dtype)


def ab_backward(
    grad: torch.Tensor, x: torch.Tensor, a: torch.Tensor, b: torch.Tensor, base: str, offset: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Gradients of :func:`ab_forward` for ``x``, ``a`` and ``b`` (the latter two shaped as given)."""
    dtype = compute_dtype(x, a, b)
    xf, gf = x.to(dtype), grad.to(dtype)
    av, bv = site_view(a.to(dtype), 1, x), site_view(b.to(dtype), 1, x)
    site_ndim = a.dim() - 1
    grad_x = None
    grads_a, grads_b = [], []
    g_sum = reduce_to_site(gf, site_ndim) if offset else None
    for i in range(a.shape[0]):
        value, slope = _value_and_slope(xf - bv[i], base)
        g_slope = gf * slope
        g_value = reduce_to_site(value.mul_(gf), site_ndim)
        grads_a.append(g_value - offset * g_sum if offset else g_value)
        grads_b.append(-a[i].to(dtype) * reduce_to_site(g_slope, site_ndim))
        term = g_slope.mul_(av[i])
        grad_x = term if grad_x is None else grad_x.add_(term)
    return (
        grad_x.to(x.dtype),
        torch.stack(grads_a).to(a.dtype),
        torch.stack(grads_b).to(b.dtype),
    )


def prelu_forward(x: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    """``x`` where ``x > 0`` else ``a x``, in ``x``'s dtype."""
    dtype = compute_dtype(x, a)
    xf = x.to(dtype)
    return torch.where(xf > 0, xf, xf * site_view(a.to(dtype), 0, x)).to(x.dtype)


def prelu_backward(
    grad: torch.Tensor, x: torch.Tensor, a: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Gradients of :func:`prelu_forward` for ``x`` and ``a``."""
    dtype = compute_dtype(x, a)
    xf, gf = x.to(dtype), grad.to(dtype)
    positive = xf > 0
    grad_x = torch.where(positive, gf, gf * site_view(a.to(dtype), 0, x))
    grad_a = reduce_to_site(torch.where(positive, 0, gf * xf), a.dim())
    return grad_x.to(x.dtype), grad_a.to(a.dtype)
