"""Fused trainable activations and the ``backend`` choice between them and the reference.

``reference`` is :func:`actlab.activations.functional.recompute` of the pure function (the
oracle); ``fused`` is a custom op with a closed-form backward (:mod:`.ops`): Triton kernels on
CUDA, closed-form torch code elsewhere; ``auto`` picks the faster of the two for the input's device.
"""

from __future__ import annotations

from typing import Literal

import torch

from actlab.activations.fused.ops import HAS_TRITON, ab_forward, prelu_forward

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
    "ab_forward",
    "check_backend",
    "prelu_forward",
    "resolve_backend",
]
