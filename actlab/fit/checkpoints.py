"""The checkpoint contract: what actlab writes into every checkpoint, and reading it back.

Every checkpoint an ``actlab fit`` writes has one entry of its own, ``checkpoint["actlab"]``
(:data:`CHECKPOINT_KEY`, written by :class:`CheckpointStamp`): the MLflow run and tracking URI
that wrote it, the *fit config* (the resolved config without the keys that only say how long or
how visibly to train, :data:`RESUME_ONLY_KEYS`) and its :func:`fit_hash`, the run's
``config_hash`` tag, what the run was continued from, and the epoch's train metrics Lightning
had not logged yet. ``--ckpt_path last`` picks the newest ``last.ckpt`` under ``mlruns/`` whose
entry has this fit's experiment and fit hash; a given path must hold a checkpoint of the same
fit config, or the fit stops with the keys that differ. Checkpoints written before the entry
was one (the fit config under ``actlab_config``, :data:`LEGACY_CONFIG_KEY`) are read too.
Files are read with ``torch.load(weights_only=True)``: a checkpoint (like a CIFAR pickle) can hold code, so load only
files you trust; actlab never loads one that needs more than tensors and plain data.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import pickle
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lightning import Callback, LightningModule, Trainer

from actlab import compat
from actlab.errors import ActlabError
from actlab.tracking.mlflow import actlab_logger, is_epoch_metric
from actlab.tracking.store import mlruns_dir, redact_credentials

#: Key of actlab's entry in a Lightning checkpoint (the only one actlab writes).
CHECKPOINT_KEY = "actlab"
#: Where earlier checkpoints kept the fit config (read, never written).
LEGACY_CONFIG_KEY = "actlab_config"
#: Checkpoint file names ``--ckpt_path last`` looks for (``last-v1.ckpt`` after a name clash).
LAST_PATTERNS = ("last.ckpt", "last-v*.ckpt")
#: Flat config keys (``fnmatch`` patterns) a resumed fit may change: how long, where and how
#: visibly it trains, and what is recorded, not what is trained.
RESUME_ONLY_KEYS = (
    "config",  # the --config files it was read from: what they hold is in the other keys
    "ckpt_path",
    "trainer.max_epochs",
    "trainer.max_steps",
    "trainer.max_time",
    "trainer.min_epochs",
    "trainer.min_steps",
    "trainer.callbacks",
    "trainer.callbacks.*",
    "trainer.enable_progress_bar",
    "trainer.enable_model_summary",
    "trainer.enable_checkpointing",
    "trainer.log_every_n_steps",
    "trainer.accelerator",
    "trainer.devices",
    "trainer.num_nodes",
    "trainer.strategy",
    "trainer.strategy.*",
    "trainer.profiler",
    "trainer.default_root_dir",
    "trainer.logger",
    "trainer.logger.*",
    "data.num_workers",
    "tracking.*",
    "checkpoint.*",
    "*__path__*",  # where jsonargparse found a nested config file, not what it holds
)
#: ...except these, which name the experiment a run belongs to.
KEPT_KEYS = ("trainer.logger.experiment_name",)
#: Start of a PyTorch zip checkpoint, and of the legacy pickle format.
ZIP_MAGIC, PICKLE_MAGIC = b"PK\x03\x04", b"\x80"


class CheckpointError(ActlabError):
    """A ``--ckpt_path`` that is not a usable checkpoint of this fit."""


def is_resume_only(key: str) -> bool:
    """Whether the flat config ``key`` may differ between a fit and the fit it resumes."""
    if key in KEPT_KEYS:
        return False
    return any(fnmatch.fnmatchcase(key, pattern) for pattern in RESUME_ONLY_KEYS)


def fit_config(flat: Mapping[str, Any]) -> dict[str, str]:
    """The flat config a checkpoint must share with the fit that resumes it (values as text)."""
    return {
        k: json.dumps(v, sort_keys=True, default=str)
        for k, v in flat.items()
        if not is_resume_only(k)
    }


def fit_hash(config: Mapping[str, str]) -> str:
    """Short hash (12 hex digits) of a :func:`fit_config`: which checkpoints a fit may resume.

    Not the run's ``config_hash`` tag (:func:`actlab.sweep.spec.resolved_hash`, 16 hex digits),
    which also leaves out the seed and says which runs are replicates of one configuration."""
    text = json.dumps(dict(sorted(config.items())), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def differing_keys(ours: Mapping[str, str], theirs: Mapping[str, str]) -> list[str]:
    """Keys whose values differ (or that only one side has), sorted."""
    return sorted(k for k in set(ours) | set(theirs) if ours.get(k) != theirs.get(k))


def describe_differences(ours: Mapping[str, str], theirs: Mapping[str, str], show: int = 6) -> str:
    """``model.backbone: 'small_cnn' here, 'mlp' in the checkpoint; ...`` for the first keys
    (where a class differs, its options are left out: they are another class's)."""
    keys = differing_keys(ours, theirs)
    classes = [k.removesuffix("class_path") for k in keys if k.endswith(".class_path")]
    keys = [k for k in keys if k.endswith(".class_path") or not k.startswith(tuple(classes))]
    parts = [
        f"{k}: {_shown(ours.get(k))} here, {_shown(theirs.get(k))} in the checkpoint"
        for k in keys[:show]
    ]
    more = f" (and {len(keys) - show} more keys)" if len(keys) > show else ""
    return "; ".join(parts) + more


def _shown(value: str | None) -> str:
    if value is None:
        return "unset"
    return value if len(value) <= 60 else value[:57] + "..."


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a Lightning checkpoint's contents (tensors memory-mapped, ``weights_only=True``).

    Raises:
        CheckpointError: one line saying what the file is instead: missing, empty, not a
            PyTorch checkpoint, truncated or damaged, holding objects beyond plain data, or a
            PyTorch file without a ``state_dict``.
    """
    import torch

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path}: no such file")
    size = path.stat().st_size
    if size == 0:
        raise CheckpointError(f"checkpoint {path} is empty (0 bytes): not a checkpoint")
    with path.open("rb") as f:
        head = f.read(4)
    if head != ZIP_MAGIC and not head.startswith(PICKLE_MAGIC):
        msg = (
            f"checkpoint {path} is not a PyTorch checkpoint (a zip file written by torch.save); "
            f"it starts with {head!r}"
        )
        raise CheckpointError(msg)
    try:
        content = torch.load(path, map_location="cpu", weights_only=True, mmap=head == ZIP_MAGIC)
    except pickle.UnpicklingError as err:
        if "Weights only load failed" not in str(err):
            raise CheckpointError(f"checkpoint {path} is damaged ({size} bytes): {err}") from None
        msg = (
            f"checkpoint {path} holds Python objects beyond tensors and plain data; actlab loads "
            "checkpoints as data only (weights_only=True), since a checkpoint can run code: load "
            "only files you trust, written by actlab"
        )
        raise CheckpointError(msg) from None
    except (RuntimeError, EOFError, ValueError, KeyError) as err:
        msg = (
            f"checkpoint {path} is truncated or damaged ({size} bytes; "
            f"{type(err).__name__}: {str(err).splitlines()[0][:80] if str(err) else 'unexpected end'})"
        )
        raise CheckpointError(msg) from None
    if not isinstance(content, dict) or "state_dict" not in content:
        msg = f"checkpoint {path} is a PyTorch file but not a Lightning checkpoint (no state_dict)"
        raise CheckpointError(msg)
    return content


def entry_of(content: Mapping[str, Any]) -> dict[str, Any]:
    """actlab's entry of a checkpoint's ``content`` (``{}`` for a checkpoint not written by
    actlab); a legacy :data:`LEGACY_CONFIG_KEY` stamp is merged in under today's names."""
    entry = content.get(CHECKPOINT_KEY)
    entry = dict(entry) if isinstance(entry, Mapping) else {}
    legacy = content.get(LEGACY_CONFIG_KEY)
    if isinstance(legacy, Mapping):
        names = {"hash": "fit_hash", "config": "fit_config"}
        for key, value in legacy.items():
            entry.setdefault(names.get(key, key), value)
    return entry


def checkpoint_fit_config(content: Mapping[str, Any]) -> dict[str, str] | None:
    """The fit config stamped into a checkpoint by :class:`CheckpointStamp` (``None`` if absent)."""
    config = entry_of(content).get("fit_config")
    if not isinstance(config, Mapping):
        return None
    return {str(k): str(v) for k, v in config.items()}


def model_differences(content: Mapping[str, Any], ours: Mapping[str, str]) -> dict[str, str]:
    """For a checkpoint without a stamp: the model's saved hyperparameters as fit-config keys
    (``model.<name>``), for comparison with ours where we have the same key."""
    hparams = dict(content.get("hyper_parameters") or {})
    found = {}
    for name, value in hparams.items():
        key = f"model.{name}"
        if key in ours:
            found[key] = json.dumps(value, sort_keys=True, default=str)
    class_path = hparams.get("_class_path")
    if class_path is not None and "model.class_path" in ours:
        found["model.class_path"] = json.dumps(class_path)
    return found


@dataclass(frozen=True)
class Checkpoint:
    """A checkpoint chosen for ``--ckpt_path``: its file, epoch and the run it was written by."""

    path: Path
    epoch: int | None
    run_id: str | None
    tracking_uri: str | None
    #: The config hash of the run that wrote it (its fit config hash for older checkpoints).
    config_hash: str | None = None
    #: What that run was continued from (:attr:`CheckpointStamp.continued_from`).
    continued_from: dict[str, Any] | None = None


def checkpoint_of(path: Path, content: Mapping[str, Any]) -> Checkpoint:
    """Where ``content`` (read from ``path``) was written: its epoch, run id and tracking URI."""
    entry = entry_of(content)
    epoch = content.get("epoch")
    continued = entry.get("continued_from")
    return Checkpoint(
        path=path,
        epoch=int(epoch) if isinstance(epoch, int) else None,
        run_id=entry.get("mlflow_run_id") or None,
        tracking_uri=entry.get("tracking_uri") or None,
        config_hash=entry.get("config_hash") or entry.get("fit_hash") or None,
        continued_from=dict(continued) if isinstance(continued, Mapping) else None,
    )


def find_last_checkpoint(
    experiment: str | None, hash_: str, root: Path | None = None
) -> Path | None:
    """The newest ``last.ckpt`` under ``<root>/<experiment id>/<run id>/checkpoints/`` stamped
    with ``experiment`` and the :func:`fit_hash` ``hash_``; checkpoints of other fits are left
    alone."""
    root = root or mlruns_dir()
    found = [p for pattern in LAST_PATTERNS for p in root.glob(f"*/*/checkpoints/{pattern}")]
    for path in sorted(found, key=lambda p: p.stat().st_mtime, reverse=True):
        try:
            content = read_checkpoint(path)
        except CheckpointError:
            continue  # a damaged last.ckpt of another fit is not ours to report
        entry = entry_of(content)
        if entry.get("fit_hash") == hash_ and entry.get("experiment") == experiment:
            return path
    return None


def check_same_fit(path: Path, content: Mapping[str, Any], ours: Mapping[str, str]) -> None:
    """Raise :class:`CheckpointError` if the checkpoint at ``path`` is of another fit config."""
    theirs = checkpoint_fit_config(content)
    if theirs is None:  # not written by this version of actlab: compare what it saved
        theirs = model_differences(content, ours)
        ours = {k: v for k, v in ours.items() if k in theirs}
    if differing_keys(ours, theirs):
        msg = (
            f"checkpoint {path} is from another configuration: {describe_differences(ours, theirs)}; "
            "resume with the config it was trained with, or start a new fit without --ckpt_path"
        )
        raise CheckpointError(msg)


class CheckpointStamp(Callback):
    """Writes actlab's entry (:data:`CHECKPOINT_KEY`) into every checkpoint, and on resume logs
    the train metrics the checkpoint holds that the run never received.

    The entry: ``mlflow_run_id`` and ``tracking_uri`` (credentials removed) of the run, so
    ``--ckpt_path`` continues it; ``experiment``, ``fit_config`` and ``fit_hash``, so a checkpoint
    is only resumed by the same fit; the run's ``config_hash`` and ``continued_from``; and
    ``train_epoch_metrics``: the checkpoint is written at the end of a training epoch, before
    Lightning logs the epoch's train metrics, so a fit killed in between logs them on resume.

    Args:
        experiment: the MLflow experiment of the fit (``None`` without an MLflow logger).
        config: the fit's :func:`fit_config`.
        run_config_hash: the run's config hash (:func:`actlab.sweep.spec.resolved_hash`).
        continued_from: ``{"config_hash", "epoch"}`` of the checkpoint of a FINISHED run this
            run was continued from (``None``: trained from the start).
    """

    def __init__(
        self,
        experiment: str | None,
        config: Mapping[str, str],
        run_config_hash: str | None = None,
        continued_from: Mapping[str, Any] | None = None,
    ) -> None:
        self.experiment = experiment
        self.config = dict(config)
        self.fit_hash = fit_hash(self.config)
        self.run_config_hash = run_config_hash
        self.continued_from = dict(continued_from) if continued_from is not None else None
        self._restored: dict[str, Any] = {}

    def on_save_checkpoint(
        self, trainer: Trainer, pl_module: LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        train_metrics = train_epoch_metrics(trainer)  # on every rank: values may be synced
        entry: dict[str, Any] = {
            "experiment": self.experiment,
            "fit_hash": self.fit_hash,
            "fit_config": self.config,
            "config_hash": self.run_config_hash,
            "continued_from": self.continued_from,
        }
        logger = actlab_logger(trainer)
        if logger is not None and trainer.is_global_zero:
            entry["mlflow_run_id"] = logger.run_id
            entry["tracking_uri"] = redact_credentials(logger.tracking_uri)  # a database URI's
            if train_metrics:
                entry["train_epoch_metrics"] = {
                    "epoch": trainer.current_epoch,
                    "metrics": train_metrics,
                }
        checkpoint[CHECKPOINT_KEY] = entry

    def on_load_checkpoint(
        self, trainer: Trainer, pl_module: LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        self._restored = entry_of(checkpoint)

    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Log the train metrics the resumed checkpoint holds, unless the run has them already."""
        restored, self._restored = self._restored, {}
        saved = restored.get("train_epoch_metrics")
        logger = actlab_logger(trainer)
        if not saved or logger is None or not trainer.is_global_zero or not logger.resumed:
            return
        if not logger.is_run(restored.get("mlflow_run_id")):
            return
        logger.log_metrics({**saved["metrics"], "epoch": saved["epoch"]})  # skips logged steps


def train_epoch_metrics(trainer: Trainer) -> dict[str, float]:
    """The epoch-level metrics Lightning is about to log at the end of a training epoch
    (``{}`` outside that window; see :func:`actlab.compat.unlogged_train_epoch_metrics`)."""
    logged = compat.unlogged_train_epoch_metrics(trainer)
    return {k: float(v) for k, v in logged.items() if k != "epoch" and is_epoch_metric(k)}
