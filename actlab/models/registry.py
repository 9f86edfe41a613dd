"""Registers actlab's own networks with timm, and remembers which ones take ``input_shape``."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from timm.models import register_model

F = TypeVar("F", bound=Callable)

#: Names of the models actlab registered in timm. These accept ``input_shape`` (C, H, W) or
#: (features,), so one network builds for every input shape the papers use.
ACTLAB_MODELS: set[str] = set()


def register_actlab_model(fn: F) -> F:
    """Register ``fn`` with timm's ``register_model`` and record it as an actlab model."""
    ACTLAB_MODELS.add(fn.__name__)
    return register_model(fn)


def drop_timm_kwargs(kwargs: dict) -> dict:
    """Remove the pretrained-config arguments timm passes to every entry point."""
    for key in ("pretrained_cfg", "pretrained_cfg_overlay", "cache_dir"):
        kwargs.pop(key, None)
    return kwargs
