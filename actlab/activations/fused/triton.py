"""Triton kernels for the (a, b) families and PReLU: one pass forward, recomputing backward.

``x`` (``(N, C, *spatial)`` or ``(N, F)``) is addressed as ``(N, C, L)`` through three strides, so
NCHW-contiguous and channels_last tensors are read in place (others are made contiguous first).
Program ``(c, t)`` handles tile ``t`` of the ``N * L`` elements of channel ``c``: it reads ``x``
once and keeps all k terms in registers (a ``(KP, BLOCK)`` tile, ``KP`` = k rounded up to a power
of two). Math runs in fp32 and results are cast back to the input's dtype.

Layouts whose channel is the fastest dim (channels_last, ``(N, F)`` features) with layer or
channel parameters instead use ``(M = N * L, C)`` matrix tiles (programs ``(m-tile, c-tile)``), so
that loads are coalesced along the channels.

Backward for layer and channel parameters writes ``grad_x`` and one partial sum of ``grad_a`` and
``grad_b`` per program into a ``(k, C, tiles)`` buffer, summed afterwards by ``torch.sum``: no
atomics, so results are bitwise reproducible. Element parameters use programs ``(c, l-tile)`` that
loop over the batch, so each parameter's gradient is summed by one program in a fixed order.
Formulas: see :mod:`actlab.activations.fused.cpu` (004 eq. 2/3 and 7-9).
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

#: kernel codes of the base functions.
_BASE = {"sigmoid": 0, "relu": 1, "prelu": 2}


@triton.jit
def _terms(x, a, b, BASE: tl.constexpr, OFFSET: tl.constexpr):
    """Per-term value ``a (g(x - b) - offset)`` and slope ``a g'(x - b)``; ``(KP, BLOCK)`` tiles."""
    d = x[None, :] - b
    if BASE == 0:
        s = tl.sigmoid(d)
        value = s
        slope = s * (1.0 - s)
    elif BASE == 1:
        value = tl.maximum(d, 0.0)
        slope = (d > 0).to(tl.float32)
    else:  # prelu: a is the negative slope, b unused
        positive = x[None, :] > 0
        value = tl.where(positive, 0.0, x[None, :])  # dy/da
        slope = tl.where(positive, 1.0, a)  # dy/dx
    return value - OFFSET, slope


@triton.jit
def _forward_kernel(
    x_ptr, y_ptr, a_ptr, b_ptr, NL, L,
    sxn, sxc, sxl, syn, syc, syl, spk, spc, spl,
    K: tl.constexpr, KP: tl.constexpr, BASE: tl.constexpr, OFFSET: tl.constexpr,
    BLOCK: tl.constexpr,
):  # fmt: skip
    c = tl.program_id(0).to(tl.int64)
    j = tl.program_id(1).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    mask = j < NL
    n = j // L
    el = j % L
    x = tl.load(x_ptr + n * sxn + c * sxc + el * sxl, mask=mask, other=0.0).to(tl.float32)
    ks = tl.arange(0, KP)
    pmask = (ks[:, None] < K) & mask[None, :]
    poff = ks[:, None] * spk + c * spc + el[None, :] * spl
    a = tl.load(a_ptr + poff, mask=pmask, other=0.0).to(tl.float32)
    b = tl.load(b_ptr + poff, mask=pmask, other=0.0).to(tl.float32)
    if BASE == 2:
        y = tl.sum(tl.where(x[None, :] > 0, x[None, :], a * x[None, :]), axis=0)
    else:
        value, _ = _terms(x, a, b, BASE, OFFSET)
        y = tl.sum(a * value, axis=0)
    tl.store(y_ptr + n * syn + c * syc + el * syl, y.to(y_ptr.dtype.element_ty), mask=mask)


@triton.jit
def _backward_kernel(
    g_ptr, x_ptr, gx_ptr, a_ptr, b_ptr, pa_ptr, pb_ptr, NL, L, C, T,
    sgn, sgc, sgl, sxn, sxc, sxl, son, soc, sol, spk, spc, spl,
    K: tl.constexpr, KP: tl.constexpr, BASE: tl.constexpr, OFFSET: tl.constexpr,
    BLOCK: tl.constexpr,
):  # fmt: skip
    """Layer/channel parameters: grad_x, and partial sums into ``(K, C, T)`` buffers."""
    c = tl.program_id(0).to(tl.int64)
    t = tl.program_id(1).to(tl.int64)
    j = t * BLOCK + tl.arange(0, BLOCK)
    mask = j < NL
    n = j // L
    el = j % L
    x = tl.load(x_ptr + n * sxn + c * sxc + el * sxl, mask=mask, other=0.0).to(tl.float32)
    g = tl.load(g_ptr + n * sgn + c * sgc + el * sgl, mask=mask, other=0.0).to(tl.float32)
    ks = tl.arange(0, KP)
    kmask = ks < K
    pmask = kmask[:, None] & mask[None, :]
    poff = ks[:, None] * spk + c * spc + el[None, :] * spl
    a = tl.load(a_ptr + poff, mask=pmask, other=0.0).to(tl.float32)
    b = tl.load(b_ptr + poff, mask=pmask, other=0.0).to(tl.float32)
    value, slope = _terms(x, a, b, BASE, OFFSET)
    if BASE == 2:
        gx = tl.sum(g[None, :] * slope, axis=0)
    else:
        gx = tl.sum(a * slope * g[None, :], axis=0)
        partial_b = tl.sum(-a * slope * g[None, :], axis=1)
        tl.store(pb_ptr + ks * C * T + c * T + t, partial_b, mask=kmask)
    partial_a = tl.sum(value * g[None, :], axis=1)
    tl.store(pa_ptr + ks * C * T + c * T + t, partial_a, mask=kmask)
    tl.store(gx_ptr + n * son + c * soc + el * sol, gx.to(gx_ptr.dtype.element_ty), mask=mask)


@triton.jit
def _backward_element_kernel(
    g_ptr, x_ptr, gx_ptr, a_ptr, b_ptr, ga_ptr, gb_ptr, N, L,
    sgn, sgc, sgl, sxn, sxc, sxl, son, soc, sol, spk, spc, spl,
    K: tl.constexpr, KP: tl.constexpr, BASE: tl.constexpr, OFFSET: tl.constexpr,
    BLOCK: tl.constexpr,
):  # fmt: skip
    """Element parameters: program ``(c, l-tile)`` loops over the batch, summing in order."""
    c = tl.program_id(0).to(tl.int64)
    el = tl.program_id(1).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    mask = el < L
    ks = tl.arange(0, KP)
    pmask = (ks[:, None] < K) & mask[None, :]
    poff = ks[:, None] * spk + c * spc + el[None, :] * spl
    a = tl.load(a_ptr + poff, mask=pmask, other=0.0).to(tl.float32)
    b = tl.load(b_ptr + poff, mask=pmask, other=0.0).to(tl.float32)
    acc_a = tl.zeros((KP, BLOCK), dtype=tl.float32)
    acc_b = tl.zeros((KP, BLOCK), dtype=tl.float32)
    for n32 in range(N):
        n = tl.cast(n32, tl.int64)
        x = tl.load(x_ptr + n * sxn + c * sxc + el * sxl, mask=mask, other=0.0).to(tl.float32)
        g = tl.load(g_ptr + n * sgn + c * sgc + el * sgl, mask=mask, other=0.0).to(tl.float32)
        value, slope = _terms(x, a, b, BASE, OFFSET)
        acc_a += value * g[None, :]
        if BASE == 2:
            gx = tl.sum(g[None, :] * slope, axis=0)
        else:
            gx = tl.sum(a * slope * g[None, :], axis=0)
            acc_b += -a * slope * g[None, :]
        tl.store(gx_ptr + n * son + c * soc + el * sol, gx.to(gx_ptr.dtype.element_ty), mask=mask)
    tl.store(ga_ptr + poff, acc_a, mask=pmask)
    if BASE != 2:
        tl.store(gb_ptr + poff, acc_b, mask=pmask)


@triton.jit
def _rows_forward_kernel(
    x_ptr, y_ptr, a_ptr, b_ptr, M, C, sxm, sym, spk, spc,
    K: tl.constexpr, BASE: tl.constexpr, OFFSET: tl.constexpr, BM: tl.constexpr, BC: tl.constexpr,
):  # fmt: skip
    """Channel-fastest layouts (channels_last, ``(N, F)``) seen as an ``(M, C)`` matrix."""
    m = tl.program_id(0).to(tl.int64) * BM + tl.arange(0, BM)
    c = tl.program_id(1) * BC + tl.arange(0, BC)
    cmask = c < C
    mask = (m[:, None] < M) & cmask[None, :]
    x = tl.load(x_ptr + m[:, None] * sxm + c[None, :], mask=mask, other=0.0).to(tl.float32)
    y = tl.zeros((BM, BC), dtype=tl.float32)
    for i in tl.static_range(K):
        a = tl.load(a_ptr + i * spk + c * spc, mask=cmask, other=0.0).to(tl.float32)[None, :]
        b = tl.load(b_ptr + i * spk + c * spc, mask=cmask, other=0.0).to(tl.float32)[None, :]
        if BASE == 0:
            y += a * (tl.sigmoid(x - b) - OFFSET)
        elif BASE == 1:
            y += a * (tl.maximum(x - b, 0.0) - OFFSET)
        else:
            y += tl.where(x > 0, x, a * x)
    tl.store(y_ptr + m[:, None] * sym + c[None, :], y.to(y_ptr.dtype.element_ty), mask=mask)


@triton.jit
def _rows_backward_kernel(
    g_ptr, x_ptr, gx_ptr, a_ptr, b_ptr, pa_ptr, pb_ptr, M, C, T, sgm, sxm, som, spk, spc,
    K: tl.constexpr, BASE: tl.constexpr, OFFSET: tl.constexpr, BM: tl.constexpr, BC: tl.constexpr,
):  # fmt: skip
    """Backward of :func:`_rows_forward_kernel`: partial sums into ``(K, C, T)`` buffers."""
    t = tl.program_id(0)
    m = t.to(tl.int64) * BM + tl.arange(0, BM)
    c = tl.program_id(1) * BC + tl.arange(0, BC)
    cmask = c < C
    mask = (m[:, None] < M) & cmask[None, :]
    x = tl.load(x_ptr + m[:, None] * sxm + c[None, :], mask=mask, other=0.0).to(tl.float32)
    g = tl.load(g_ptr + m[:, None] * sgm + c[None, :], mask=mask, other=0.0).to(tl.float32)
    gx = tl.zeros((BM, BC), dtype=tl.float32)
    for i in tl.static_range(K):
        a = tl.load(a_ptr + i * spk + c * spc, mask=cmask, other=0.0).to(tl.float32)[None, :]
        b = tl.load(b_ptr + i * spk + c * spc, mask=cmask, other=0.0).to(tl.float32)[None, :]
        if BASE == 0:
            s = tl.sigmoid(x - b)
            value = s - OFFSET
            slope = s * (1.0 - s)
        elif BASE == 1:
            value = tl.maximum(x - b, 0.0) - OFFSET
            slope = (x > b).to(tl.float32)
        else:
            value = tl.where(x > 0, 0.0, x)
            slope = tl.where(x > 0, 1.0, a)
        if BASE == 2:
            gx += g * slope
        else:
            gx += a * slope * g
            partial_b = tl.sum(-a * slope * g, axis=0)
            tl.store(pb_ptr + i * C * T + c * T + t, partial_b, mask=cmask)
        partial_a = tl.sum(value * g, axis=0)
        tl.store(pa_ptr + i * C * T + c * T + t, partial_a, mask=cmask)
    tl.store(gx_ptr + m[:, None] * som + c[None, :], gx.to(gx_ptr.dtype.element_ty), mask=mask)


def _row_stride(t: torch.Tensor) -> int | None:
    """The stride of rows when ``t`` (``(N, C, *spatial)``) is an ``(N * L, C)`` matrix with unit
    channel stride (channels_last, contiguous ``(N, F)``), else None."""
    if t.dim() < 2 or t.stride(1) != 1 and t.shape[1] != 1:
        return None
    strides = _flat_strides(t)
    if strides is None:
        return None
    sn, _, sl = strides
    el = t[0, 0].numel()
    if el == 1:
        return sn
    if (sl == t.shape[1] or t.shape[1] == 1) and (sn == el * sl or t.shape[0] == 1):
        return sl
    return None


def _rows_layout(t: torch.Tensor) -> torch.Tensor:
    """``t`` copied into the channel-fastest layout (for a gradient that arrives otherwise)."""
    if t.dim() == 4:
        return t.contiguous(memory_format=torch.channels_last)
    if t.dim() == 2:
        return t.contiguous()
    return t.movedim(1, -1).contiguous().movedim(-1, 1)


def _rows_blocks(m: int, c: int) -> tuple[int, int]:
    bc = max(16, min(64, triton.next_power_of_2(c)))
    return max(16, min(4096 // bc, triton.next_power_of_2(m))), bc


def _flat_strides(t: torch.Tensor) -> tuple[int, int, int] | None:
    """Strides ``(n, c, l)`` addressing ``t`` as ``(N, C, L)``, or None if the spatial dims of
    ``t`` cannot be flattened into one stride (e.g. a sliced view)."""
    if t.dim() == 2:
        return t.stride(0), t.stride(1), 0
    spatial = [(s, st) for s, st in zip(t.shape[2:], t.stride()[2:], strict=True) if s != 1]
    if not spatial:
        return t.stride(0), t.stride(1), 0
    for (_, outer), (size, inner) in zip(spatial, spatial[1:], strict=False):
        if outer != inner * size:
            return None
    return t.stride(0), t.stride(1), spatial[-1][1]


def _addressable(t: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int, int]]:
    strides = _flat_strides(t)
    if strides is None:
        t = t.contiguous()
        strides = _flat_strides(t)
    return t, strides


def _layout(x: torch.Tensor, p: torch.Tensor, lead: int) -> tuple[int, int, int, tuple, bool]:
    """``N, C, L``, the parameter strides ``(k, c, l)`` and whether parameters are per element."""
    n, c = x.shape[0], x.shape[1]
    el = x[0, 0].numel()
    site_ndim = p.dim() - lead
    if site_ndim == 0:
        return n, c, el, (1, 0, 0), False
    if site_ndim == 1:
        return n, c, el, (c, 1, 0), False
    return n, c, el, (c * el, el, 1), True


def _block(count: int) -> int:
    return max(16, min(1024, triton.next_power_of_2(count)))


def _as_nc(x: torch.Tensor) -> torch.Tensor:
    """Layer parameters accept any input; give 0-D and 1-D inputs an (n, 1) shape."""
    return x.reshape(-1, 1) if x.dim() < 2 else x


def forward(
    x: torch.Tensor, a: torch.Tensor, b: torch.Tensor | None, base: str, offset: float
) -> torch.Tensor:
    """``y`` of the (a, b) family ``base`` (``a``, ``b``: ``(k, *site)``) or of PReLU
    (``base="prelu"``, ``a``: ``(*site)``, ``b`` None)."""
    shape = x.shape
    x, sx = _addressable(_as_nc(x))
    lead = 0 if base == "prelu" else 1
    a = a.contiguous()
    b = a if b is None else b.contiguous()
    n, c, el, sp, element = _layout(x, a, lead)
    k = 1 if base == "prelu" else a.shape[0]
    y = torch.empty_like(x)
    rows = None if element else _row_stride(x)
    if rows is not None and _row_stride(y) is not None:
        bm, bc = _rows_blocks(n * el, c)
        grid = (triton.cdiv(n * el, bm), triton.cdiv(c, bc))
        _rows_forward_kernel[grid](
            x, y, a, b, n * el, c, rows, _row_stride(y), sp[0], sp[1],
            K=k, BASE=_BASE[base], OFFSET=float(offset), BM=bm, BC=bc,
        )  # fmt: skip
        return y.reshape(shape)
    sy = _flat_strides(y)
    block = _block(n * el)
    grid = (c, triton.cdiv(n * el, block))
    _forward_kernel[grid](
        x, y, a, b, n * el, el, *sx, *sy, *sp,
        K=k, KP=triton.next_power_of_2(k), BASE=_BASE[base], OFFSET=float(offset), BLOCK=block,
    )  # fmt: skip
    return y.reshape(shape)


def backward(
    grad: torch.Tensor,
    x: torch.Tensor,
    a: torch.Tensor,
    b: torch.Tensor | None,
    base: str,
    offset: float,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """``grad_x``, ``grad_a`` and ``grad_b`` (None for PReLU) of :func:`forward`."""
    shape = x.shape
    x, sx = _addressable(_as_nc(x))
    grad, sg = _addressable(_as_nc(grad).reshape(x.shape))
    prelu = base == "prelu"
    lead = 0 if prelu else 1
    a_in = a
    a = a.contiguous()
    b = a if b is None else b.contiguous()
    n, c, el, sp, element = _layout(x, a, lead)
    k = 1 if prelu else a.shape[0]
    kp = triton.next_power_of_2(k)
    grad_x = torch.empty_like(x)
    so = _flat_strides(grad_x)
    consts = {"K": k, "KP": kp, "BASE": _BASE[base], "OFFSET": float(offset)}
    rows = None if element else _row_stride(x)
    if rows is not None and _row_stride(grad_x) is not None:
        if _row_stride(grad) is None:
            grad = _rows_layout(grad)
        bm, bc = _rows_blocks(n * el, c)
        tiles = triton.cdiv(n * el, bm)
        part_a = torch.empty((k, c, tiles), device=x.device, dtype=torch.float32)
        part_b = torch.empty_like(part_a) if not prelu else part_a
        _rows_backward_kernel[(tiles, triton.cdiv(c, bc))](
            grad, x, grad_x, a, b, part_a, part_b, n * el, c, tiles,
            _row_stride(grad), rows, _row_stride(grad_x), sp[0], sp[1],
            K=k, BASE=_BASE[base], OFFSET=float(offset), BM=bm, BC=bc,
        )  # fmt: skip
        dims = (1, 2) if a.dim() == lead else (2,)
        grad_a = part_a.sum(dims).reshape(a.shape)
        grad_b = part_b.sum(dims).reshape(a.shape)
    elif element:
        grad_a = torch.empty(a.shape, device=x.device, dtype=torch.float32)
        grad_b = torch.empty_like(grad_a) if not prelu else grad_a
        block = _block(el)
        grid = (c, triton.cdiv(el, block))
        _backward_element_kernel[grid](
            grad, x, grad_x, a, b, grad_a, grad_b, n, el, *sg, *sx, *so, *sp,
            BLOCK=block, **consts,
        )  # fmt: skip
    else:
        block = _block(n * el)
        tiles = triton.cdiv(n * el, block)
        part_a = torch.empty((k, c, tiles), device=x.device, dtype=torch.float32)
        part_b = torch.empty_like(part_a) if not prelu else part_a
        _backward_kernel[(c, tiles)](
            grad, x, grad_x, a, b, part_a, part_b, n * el, el, c, tiles, *sg, *sx, *so, *sp,
            BLOCK=block, **consts,
        )  # fmt: skip
        dims = (1, 2) if a.dim() == lead else (2,)
        grad_a = part_a.sum(dims).reshape(a.shape)
        grad_b = part_b.sum(dims).reshape(a.shape)
    grad_a = grad_a.to(a_in.dtype)
    return grad_x.reshape(shape), grad_a, None if prelu else grad_b.to(a_in.dtype)
