"""Fused trainable activations and the ``backend`` choice between them and the reference.

``reference`` is :func:`actlab.activations.functional.recompute` of the pure function (the
oracle); ``fused`` is a custom op with a closed-form backward (:mod:`.ops`): Triton kernels on
CUDA; on CPU single-pass C++ kernels (:mod:`.native`) for contiguous float32/float64 input and
inductor-compiled closed-form torch code otherwise; ``auto`` picks the faster of the two for the
input's device. Eager CPU calls reach the C++ kernels through :func:`.ops.ab_apply` /
:func:`.ops.prelu_apply`, which skip the custom op's dispatch. Both save only ``x`` and the parameters for backward. ``fused`` returns the input's
dtype (bf16 in, bf16 out, computed in fp32), where the reference promotes to the parameters' dtype.

``auto`` on CPU is ``fused``: in benchmarks/activations.py (1 thread, batch 64, 3x32x32), 004's
Structure 1 with CPAF-ReLU (k=2, channel) takes 1.04x ReLU's fwd+bwd time fused against 1.85x
with the reference (1.49x with the same closed form run eagerly, the fallback without a C++
compiler); in resnet18 activations are a small share and all backends are within noise of ReLU
(0.98x fused, 1.08x reference). Compiling once per (base, k, granularity, dtype, rank) costs a few
seconds, cached on disk by inductor.

Before the fused path serves a new case (activation, k, granularity, dtype, layout, device type)
it is checked once against the reference on a small batch (:mod:`.check`): ``auto`` warns and
keeps the reference for a case that disagrees or fails to compile; ``fused`` raises.
"""

from __future__ import annotations

from typing import Literal

import torch

from actlab.activations.fused.ops import (
    HAS_TRITON,
    ab_apply,
    ab_forward,
    prelu_apply,
    prelu_forward,
)

Backend = Literal["auto", "reference", "fused"]
BACKENDS = ("auto", "reference", "fused")

#: what ``auto`` runs on CPU, chosen by measurement (benchmarks/activations.py).
AUTO_CPU: Backend = "fused"


def check_backend(backend: str) -> str:
    """Return ``backend`` if it is one of :data:`BACKENDS`, else raise a one-line ``ValueError``."""
    if backend not in BACKENDS:
        msg = f"backend must be one of {', '.join(BACKENDS)}; got {backend!r}"
        raise ValueError(msg)
    return backend


def resolve_backend(backend: str, x: torch.Tensor) -> str:
    """``reference`` or ``fused``: what ``backend`` means for input ``x``."""
    if backend != "auto":
        return backend
    if x.is_cuda:
        return "fused" if HAS_TRITON else "reference"
    return AUTO_CPU


__all__ = [
    "AUTO_CPU",
    "BACKENDS",
    "Backend",
    "HAS_TRITON",
    "ab_apply",
    "ab_forward",
    "check_backend",
    "prelu_apply",
    "prelu_forward",
    "resolve_backend",
]
