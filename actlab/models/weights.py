"""Pretrained weights for a backbone (``model.init_args.weights``): timm's hub or a local file.

torchgeo's convention: ``weights: true`` asks timm for the model's pretrained weights (its default
hub tag, where there is a network); ``weights: PATH`` reads a local file offline: a
``.safetensors`` file, a ``.pth``/``.pt`` state dict (or a dict holding one under ``state_dict``
or ``model``), or a Lightning checkpoint (an actlab run's ``last.ckpt`` or ``best.ckpt``: the
``backbone.`` prefix is found and stripped). Either way timm's own machinery loads the tensors
(:func:`timm.models.load_pretrained`): the classifier is re-created when the file has another
number of classes, and the first convolution is adapted when the file has other input channels
(:func:`timm.layers.adapt_input_conv`: summed to one channel, or repeated and rescaled).
actlab's own nets have no ``pretrained_cfg``; their classifier and first convolution are found
by name (``classifier``, the first ``nn.Conv*d``).

Files are read as data only (``torch.load(weights_only=True)``, or safetensors); a file that is
missing, not a weights file, or whose tensors do not fit the model is one line naming the file
and the keys that differ. What was loaded is recorded by :class:`WeightsSource` (the file and its
SHA-256, or the hub tag), which a fit logs as params.
"""

from __future__ import annotations

import hashlib
import pickle
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import timm
import torch
from torch import nn

from actlab.errors import ActlabError, first_line

#: ``model.init_args.weights``: ``true`` (timm's hub), a local file, or ``null``/``false`` (none).
Weights = bool | str | None

#: Keys of a checkpoint dict that hold the state dict, in the order they are looked for.
STATE_DICT_KEYS = ("state_dict", "model")
#: How many differing keys an error message names before counting the rest.
SHOWN_KEYS = 4


class WeightsError(ActlabError):
    """A weights file that is missing, unreadable, or does not fit the model (one line)."""


@dataclass
class WeightsSource:
    """Where a backbone's weights came from, and what was adapted on loading them.

    Attributes:
        kind: ``hub`` (timm's pretrained weights) or ``file``.
        location: the hub tag (``timm/resnet18.a1_in1k``) or the file's absolute path.
        sha256: the file's SHA-256 (``None`` for the hub).
        adapted: what was changed on loading (classifier re-created, input conv adapted).
    """

    kind: str
    location: str
    sha256: str | None = None
    adapted: list[str] = field(default_factory=list)

    def params(self) -> dict[str, str]:
        """The params a run records: ``model.weights_from`` and, for a file, its hash."""
        params = {"model.weights_from": f"{self.kind}:{self.location}"}
        if self.sha256:
            params["model.weights_sha256"] = self.sha256
        if self.adapted:
            params["model.weights_adapted"] = "; ".join(self.adapted)
        return params


def sha256_of(path: Path) -> str:
    """SHA-256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _shown(keys: list[str]) -> str:
    listed = ", ".join(keys[:SHOWN_KEYS])
    return listed + (f" (and {len(keys) - SHOWN_KEYS} more)" if len(keys) > SHOWN_KEYS else "")


# -- reading a file ---------------------------------------------------------------------------


def _load_safetensors(path: Path) -> dict[str, torch.Tensor]:
    try:
        from safetensors import SafetensorError
        from safetensors.torch import load_file
    except ImportError as err:  # pragma: no cover - safetensors comes with timm
        msg = f"weights {path}: reading .safetensors needs the safetensors package (pip install safetensors)"
        raise WeightsError(msg) from err
    try:
        return load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError) as err:
        first = first_line(err, type(err).__name__)
        raise WeightsError(
            f"weights {path} is not a readable .safetensors file ({first})"
        ) from None


def _load_torch(path: Path) -> Any:
    with path.open("rb") as f:
        head = f.read(4)
    if head != b"PK\x03\x04" and not head.startswith(b"\x80"):
        msg = (
            f"weights {path} is not a PyTorch file (torch.save) or .safetensors file; "
            f"it starts with {head!r}"
        )
        raise WeightsError(msg)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        if "Weights only load failed" not in str(err):
            raise WeightsError(f"weights {path} is damaged: {str(err).splitlines()[0]}") from None
        msg = (
            f"weights {path} holds Python objects beyond tensors and plain data; actlab reads "
            "weights as data only (weights_only=True), since a pickle can run code: save a "
            "state dict (torch.save(model.state_dict(), path)) or .safetensors"
        )
        raise WeightsError(msg) from None
    except (RuntimeError, EOFError, ValueError, KeyError) as err:
        first = str(err).splitlines()[0][:80] if str(err) else "unexpected end"
        raise WeightsError(f"weights {path} is truncated or damaged ({first})") from None


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """The tensors of a weights file (see the module docstring), keys as stored.

    Raises:
        WeightsError: the file is missing, empty, not a weights file, or holds no tensors.
    """
    path = Path(path)
    if not path.is_file():
        what = "is a folder" if path.is_dir() else "no such file"
        raise WeightsError(f"weights {path}: {what}; give a .safetensors, .pth or .ckpt file")
    if path.stat().st_size == 0:
        raise WeightsError(f"weights {path} is empty (0 bytes)")
    content = _load_safetensors(path) if path.suffix == ".safetensors" else _load_torch(path)
    if isinstance(content, Mapping):
        for key in STATE_DICT_KEYS:
            if isinstance(content.get(key), Mapping):
                content = content[key]
                break
    if not isinstance(content, Mapping):
        msg = f"weights {path} holds a {type(content).__name__}, not a state dict of tensors"
        raise WeightsError(msg)
    tensors = {str(k): v for k, v in content.items() if isinstance(v, torch.Tensor)}
    if not tensors:
        raise WeightsError(f"weights {path} holds no tensors (keys: {_shown(sorted(content))})")
    return tensors


def strip_prefix(state: dict[str, torch.Tensor], model_keys: set[str]) -> dict[str, torch.Tensor]:
    """``state`` with the key prefix that makes most keys the model's (``backbone.`` of an actlab
    checkpoint, ``module.`` of DDP, ``_orig_mod.`` of ``torch.compile``, any Lightning
    attribute); keys outside that prefix are dropped when a prefix is stripped."""
    candidates = {""} | {k.split(".", 1)[0] + "." for k in state if "." in k}
    candidates |= {c + "_orig_mod." for c in list(candidates)}

    def overlap(prefix: str) -> int:
        return sum(k[len(prefix) :] in model_keys for k in state if k.startswith(prefix))

    best = max(sorted(candidates), key=overlap)
    if best == "" or overlap(best) <= overlap(""):
        return dict(state)
    return {k[len(best) :]: v for k, v in state.items() if k.startswith(best)}


# -- the model's classifier and first convolution ---------------------------------------------


def _module_name(model: nn.Module, target: nn.Module | None) -> str | None:
    if target is None:
        return None
    return next((n for n, m in model.named_modules() if m is target and n), None)


def classifier_name(model: nn.Module) -> str | None:
    """The qualified name of the output layer: timm's ``pretrained_cfg['classifier']``, else the
    module ``get_classifier()`` returns (actlab's nets: ``classifier``)."""
    cfg = getattr(model, "pretrained_cfg", None) or {}
    name = cfg.get("classifier")
    if isinstance(name, (list, tuple)):
        name = name[0] if name else None
    if name:
        return name
    get = getattr(model, "get_classifier", None)
    return _module_name(model, get() if callable(get) else None)


def first_conv_name(model: nn.Module) -> str | None:
    """The qualified name of the input convolution: ``pretrained_cfg['first_conv']``, else the
    first ``nn.Conv*d`` module (``None`` for a net without one, e.g. an MLP)."""
    cfg = getattr(model, "pretrained_cfg", None) or {}
    name = cfg.get("first_conv")
    if isinstance(name, (list, tuple)):
        name = name[0] if name else None
    if name:
        return name
    conv = next((m for m in model.modules() if isinstance(m, nn.modules.conv._ConvNd)), None)
    return _module_name(model, conv)


# -- loading ----------------------------------------------------------------------------------


def _fit_message(
    path: Path, model_name: str, missing: list[str], unexpected: list[str], shapes: list[str]
) -> str:
    parts = []
    if missing:
        parts.append(f"{len(missing)} key(s) of the model missing from the file: {_shown(missing)}")
    if unexpected:
        parts.append(f"{len(unexpected)} key(s) not in the model: {_shown(unexpected)}")
    if shapes:
        parts.append(f"{len(shapes)} shape(s) differ: {_shown(shapes)}")
    return (
        f"weights {path} do not fit model {model_name!r}: {'; '.join(parts)} "
        "(weights load into the backbone before any activation swap: save a net of the same "
        "backbone and backbone_kwargs)"
    )


def load_weights_file(
    model: nn.Module, path: str | Path, model_name: str, num_classes: int, in_chans: int
) -> WeightsSource:
    """Load a local weights file into ``model`` (built with ``pretrained=False``) in place.

    The classifier is re-created (left as built) when the file's has another number of outputs,
    and the first convolution adapted by timm when the file's takes other input channels;
    every other key must match the model's in name and shape.

    Raises:
        WeightsError: the file cannot be read, or its keys or shapes differ from the model's.
    """
    path = Path(path).expanduser()
    state = read_state_dict(path)
    ours = model.state_dict()
    state = strip_prefix(state, set(ours))
    adapted: list[str] = []

    head = classifier_name(model)
    file_classes = num_classes
    head_weight = state.get(f"{head}.weight") if head else None
    if head_weight is not None and head_weight.shape[0] != num_classes:
        file_classes = int(head_weight.shape[0])
        adapted.append(
            f"classifier {head} re-created for {num_classes} classes (file: {file_classes})"
        )
    conv = first_conv_name(model)
    file_in_chans = in_chans
    conv_weight = state.get(f"{conv}.weight") if conv else None
    if conv_weight is not None and conv_weight.dim() >= 3:
        groups = getattr(model.get_submodule(conv), "groups", 1)
        file_in_chans = int(conv_weight.shape[1]) * groups
        if file_in_chans != in_chans:
            adapted.append(f"input conv {conv} adapted from {file_in_chans} to {in_chans} channels")

    skip = {f"{head}.weight", f"{head}.bias"} if file_classes != num_classes else set()
    missing = [k for k in ours if k not in state and k not in skip]
    unexpected = [k for k in state if k not in ours and k not in skip]
    shapes = []
    for key, value in state.items():
        if key in skip or key not in ours or tuple(value.shape) == tuple(ours[key].shape):
            continue
        if key == f"{conv}.weight" and file_in_chans != in_chans:
            ok = value.shape[0] == ours[key].shape[0] and value.shape[2:] == ours[key].shape[2:]
            if ok:
                continue
        shapes.append(f"{key} {tuple(value.shape)} in the file, {tuple(ours[key].shape)} here")
    if missing or unexpected or shapes:
        raise WeightsError(_fit_message(path, model_name, missing, unexpected, shapes))

    cfg = {
        "state_dict": state,
        "num_classes": file_classes,
        "classifier": head,
        "first_conv": conv,
        "input_size": (file_in_chans,),
    }
    try:
        timm.models.load_pretrained(
            model, pretrained_cfg=cfg, num_classes=num_classes, in_chans=in_chans, strict=True
        )
    except (RuntimeError, NotImplementedError) as err:
        first = first_line(err)
        raise WeightsError(f"weights {path} do not load into {model_name!r}: {first}") from err
    return WeightsSource("file", str(path.resolve()), sha256_of(path), adapted)


def hub_tag(name: str) -> str | None:
    """The hub tag timm would fetch for ``name`` (``timm/resnet18.a1_in1k``), or ``None`` when
    timm knows no pretrained weights for it (actlab's nets, untagged timm models)."""
    cfg = timm.models.get_pretrained_cfg(name)
    if cfg is None:
        return None
    if cfg.hf_hub_id:
        return cfg.hf_hub_id
    if cfg.url or cfg.file:
        return f"{cfg.architecture}.{cfg.tag}" if cfg.tag else cfg.architecture
    return None


def no_hub_weights_message(name: str) -> str:
    return (
        f"weights: true, but timm has no pretrained weights for model {name!r}; give weights: "
        "PATH to a local file (.safetensors, .pth or an actlab checkpoint)"
    )


def hub_failed_message(name: str, tag: str, err: BaseException) -> str:
    first = first_line(err)
    return (
        f"weights: true: timm could not fetch the pretrained weights of {name!r} ({tag}; "
        f"{type(err).__name__}: {first[:120]}); offline, give weights: PATH to a local file"
    )


def check_weights(weights: Any) -> Weights:
    """``weights`` as the task takes it (``false`` reads as none), or one line saying what is valid."""
    if weights is None or weights is False:
        return None
    if weights is True or (isinstance(weights, (str, Path)) and str(weights)):
        return weights if weights is True else str(weights)
    raise ActlabError(f"weights must be true, false or a file path; got {weights!r}")


def create_with_hub_weights(
    name: str, build: Callable[[], nn.Module]
) -> tuple[nn.Module, WeightsSource]:
    """``build()`` a model that timm creates with ``pretrained=True`` (``weights: true``), and
    where its weights came from; one line when timm has none for ``name`` or cannot fetch them.
    """
    tag = hub_tag(name)
    if tag is None:
        raise WeightsError(no_hub_weights_message(name))
    try:
        model = build()
    except ActlabError:
        raise
    except (OSError, RuntimeError, ValueError) as err:  # no network, no cache, a hub error
        raise WeightsError(hub_failed_message(name, tag, err)) from err
    cfg = getattr(model, "pretrained_cfg", None) or {}
    return model, WeightsSource("hub", cfg.get("hf_hub_id") or tag)
