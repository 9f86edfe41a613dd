"""Measure the memory autograd saves for backward (how activation choice changes training memory)."""

from __future__ import annotations

import torch
from torch import nn


def saved_bytes(model: nn.Module, x: torch.Tensor) -> int:
    """Bytes of the tensors autograd saves for backward during ``model(x)``, each storage counted once.

    Uses ``torch.autograd.graph.saved_tensors_hooks``; parameters saved by layers count too, so
    compare two models side by side rather than read the number alone. Every saved tensor is held
    until the forward ends, so one saved and freed during the forward (a graph of its own) counts
    too instead of hiding behind a later storage at the same address.
    """
    storages: dict[int, int] = {}
    held: list[torch.Tensor] = []

    def pack(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        storages[storage.data_ptr()] = storage.nbytes()
        held.append(t)
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = model(x)
    del out
    held.clear()
    return sum(storages.values())
