"""What a trainable activation saves for backward: its input and its parameters, nothing more (26.2).

Bytes are counted with ``torch.autograd.graph.saved_tensors_hooks`` over one call of a fresh
module, so deterministic: the first call (where lazy parameters are made and the fused path's
self-check runs) has to save no more than every later one, as at a fit's first step.
"""

from __future__ import annotations

import pytest
import torch

from actlab.activations import ACTIVATIONS, create_activation
from actlab.activations.fused import check
from actlab.activations.memory import saved_bytes
from actlab.activations.trainable import GRANULARITIES

#: every trainable family actlab ships (a new one is guarded without editing this file).
FAMILIES = sorted(
    name
    for name, cls in ACTIVATIONS.items()
    if getattr(cls, "trainable", False) and cls.__module__.startswith("actlab.")
)
#: (shape, channels_last): an image batch, the same channels-last, 2-D features.
SHAPES = [((2, 3, 4, 5), False), ((2, 3, 4, 5), True), ((3, 6), False)]


@pytest.fixture(autouse=True)
def fresh_verdicts(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test meets its case for the first time, so the self-check runs inside its call."""
    monkeypatch.setattr(check, "VERDICTS", {})


def _saved(module: torch.nn.Module, x: torch.Tensor) -> list[torch.Tensor]:
    """The tensors autograd saves during ``module(x)``, kept alive until the end (no storage
    freed mid-call can hide behind a later one at the same address)."""
    packed: list[torch.Tensor] = []

    def pack(t: torch.Tensor) -> torch.Tensor:
        packed.append(t)
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        y = module(x)
    del y
    return packed


def _storages(tensors) -> dict[int, int]:
    return {t.untyped_storage().data_ptr(): t.untyped_storage().nbytes() for t in tensors}


def _check_saves_only_input_and_parameters(module: torch.nn.Module, x: torch.Tensor) -> None:
    saved = _saved(module, x)
    allowed = _storages([x, *module.parameters()])
    extra = [
        f"{tuple(t.shape)} {str(t.dtype).removeprefix('torch.')}"
        for t in saved
        if t.untyped_storage().data_ptr() not in allowed
    ]
    got, budget = sum(_storages(saved).values()), sum(allowed.values())
    spec = getattr(module, "spec", type(module).__name__)
    assert not extra, f"{spec} saves more than its input and parameters: {extra}"
    assert got <= budget, f"{spec} saves {got} bytes, its input and parameters are {budget}"


@pytest.mark.parametrize("backend", ["reference", "fused"])
@pytest.mark.parametrize("shape,channels_last", SHAPES)
@pytest.mark.parametrize("granularity", GRANULARITIES)
@pytest.mark.parametrize("name", FAMILIES)
def test_first_call_saves_only_input_and_parameters(
    name: str, granularity: str, shape: tuple[int, ...], channels_last: bool, backend: str
) -> None:
    torch.manual_seed(0)
    extra = {"k": 2} if name.startswith("cpaf") else {}
    module = create_activation(name, granularity=granularity, backend=backend, **extra)
    x = torch.randn(*shape)
    if channels_last:
        x = x.to(memory_format=torch.channels_last)
    _check_saves_only_input_and_parameters(module, x.requires_grad_())
    _check_saves_only_input_and_parameters(module, x)  # and the second call likewise


@pytest.mark.parametrize("name", FAMILIES)
def test_fused_bf16_input_saves_the_bf16_input(name: str) -> None:
    """bf16 in: the fused op computes in fp32 but keeps the bf16 input, not an fp32 copy."""
    module = create_activation(name, granularity="channel", backend="fused")
    x = torch.randn(2, 3, 4, 5, dtype=torch.bfloat16, requires_grad=True)
    _check_saves_only_input_and_parameters(module, x)


def test_the_self_check_stays_out_of_the_callers_hooks_and_checkpointing() -> None:
    """The fused path's self-check runs inside the first call, under the caller's hooks: under
    non-reentrant activation checkpointing (whose hook recomputes the region) it must pass too."""
    from torch.utils.checkpoint import checkpoint

    torch.manual_seed(0)
    conv = torch.nn.Conv2d(3, 4, 3)
    module = create_activation("cpaf_relu(k=2, backend=fused)")
    x = torch.randn(2, 3, 8, 8, requires_grad=True)
    checkpoint(lambda t: module(conv(t)), x, use_reentrant=False).sum().backward()
    assert list(check.VERDICTS.values()) == [True]
    want = x.grad.clone()
    x.grad = None
    module(conv(x)).sum().backward()  # the same weights without checkpointing
    torch.testing.assert_close(x.grad, want)


def test_saved_bytes_counts_what_the_graph_keeps() -> None:
    """``memory.saved_bytes`` of a fresh fused activation equals its input plus parameters."""
    module = create_activation("cpaf_relu(k=2, backend=fused)")
    x = torch.randn(4, 3, 5, 5, requires_grad=True)
    got = saved_bytes(module, x)
    assert got == x.untyped_storage().nbytes() + sum(
        p.untyped_storage().nbytes() for p in module.parameters()
    )
