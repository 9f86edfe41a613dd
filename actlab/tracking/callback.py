"""TrackingCallback: what researchers compare in MLflow beyond Lightning's logged metrics.

Per epoch: wall time, samples/s, learning rate, best validation accuracy and its epoch,
time-to-accuracy, validation confusion matrices and the learned parameters of trainable
activations (004 Fig. 14, 002 Fig. 14). After each test: the test confusion matrix and the
feature scatter (004 Fig. 11). What a checkpoint carries for ``--ckpt_path`` (the run id, the
epoch's unlogged train metrics) is :class:`actlab.fit.checkpoints.CheckpointStamp`'s.

The task is read through :class:`actlab.tracking.tracked.TrackedTask` (a LightningModule of
another kind gets the timing and activation metrics only). DDP: the task sums its confusion
counts over the ranks; everything written to MLflow is written by global rank 0 only.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Literal

import torch
from lightning import Callback, LightningModule, Trainer

from actlab.tracking import activation_params as ap
from actlab.tracking.confusion import confusion_csv, confusion_image, confusion_title
from actlab.tracking.features import feature_scatter_image, has_features, pre_logits, project_2d
from actlab.tracking.mlflow import ActlabMLFlowLogger, actlab_logger
from actlab.tracking.tracked import TEST_PREFIX, TrackedTask, provenance_of, tracked

log = logging.getLogger(__name__)

#: Run tag: ``true`` when the model has trainable activations
#: (:func:`actlab.activations.is_trainable_activation`), else ``false``.
TRAINABLE_TAG = "activation_trainable"


def threshold_name(threshold: float) -> str:
    """``0.8`` -> ``0.80``: the suffix of the time-to-accuracy metrics."""
    return f"{threshold:.2f}"


class TrackingCallback(Callback):
    """Logs timing, time-to-accuracy, confusion matrices, activation parameters and features.

    Times exclude this callback's own logging (figures, uploads), so they measure training.

    Metrics (``step = epoch``): ``time/epoch_seconds``, ``time/samples_per_sec``, ``train/lr``
    (``train/lr_group<i>`` for further parameter groups), ``val/best_acc``, ``val/best_epoch``,
    ``time/seconds_to_val_acc_<t>`` and ``time/epochs_to_val_acc_<t>`` (once, the first time
    ``val/acc >= t``), ``z_act/<index>.<layer>/<param>_mean`` for every trainable activation
    (``a``, ``b`` for the (a, b) kind; a user's activation's own parameter names; ``_std``,
    ``_min``, ``_max`` too with ``activation_stats="all"``; the prefix sorts after ``train/``
    and ``val/``). Tag ``activation_trainable`` (``true``/``false``).
    Images (MLflow step slider): ``confusion_val``, ``confusion_test``, ``confusion_test_best``,
    ``act_ab_scatter`` (the (a, b) kind), ``act_curves`` (every trainable activation's learned
    shape), ``features_test``, ``features_test_best``.
    Artifacts: ``confusion/val_epoch<NNN>.csv``, ``confusion/test.csv``,
    ``confusion/test_best.csv``, ``activation_params/epoch<NNN>.npz``,
    ``activation_params/final.npz``, ``activation_params/final_curves.npz`` (the learned shapes
    at the end, which ``actlab report --html`` overlays across seeds and activations).

    Args:
        confusion_every_n_epochs: log the validation confusion matrix every N epochs and after
            the last one (0: never; the test matrices are always logged).
        thresholds: validation accuracies whose time-to-accuracy is recorded.
        activation_images_every_n_epochs: (a, b) scatter and curve images every N epochs and
            after the last one (0: never). Each costs ~1.5 s of CPU an epoch on 004 §4.2's net,
            so they come every 5 epochs like the confusion matrices (issue 26.3).
        activation_stats: per-layer statistics of the learned (a, b): ``mean``, or ``all``
            (mean, std, min, max).
        params_every_n_epochs: raw activation parameters as ``.npz`` every N epochs, whatever
            the images' schedule (0: only at the end of fit).
        feature_scatter: ``auto`` draws test features when the backbone's pre-logits are 2-D,
            ``always`` projects wider ones with PCA, ``off`` never draws them.
        feature_points: test points drawn at most (a seeded random subset beyond that).
        system_metrics: log CPU, memory (and GPU) usage with MLflow's system-metrics monitor
            (needs ``psutil``; ``pynvml`` for GPUs).
        system_metrics_interval: seconds between system-metrics samples.
    """

    def __init__(
        self,
        confusion_every_n_epochs: int = 5,
        thresholds: list[float] | None = None,
        activation_images_every_n_epochs: int = 5,
        activation_stats: Literal["mean", "all"] = "mean",
        params_every_n_epochs: int = 10,
        feature_scatter: Literal["auto", "always", "off"] = "auto",
        feature_points: int = 2000,
        system_metrics: bool = False,
        system_metrics_interval: float = 10.0,
    ) -> None:
        super().__init__()
        self.confusion_every_n_epochs = confusion_every_n_epochs
        self.thresholds = sorted(thresholds if thresholds is not None else [0.5, 0.8, 0.9])
        self.activation_images_every_n_epochs = activation_images_every_n_epochs
        self.activation_stats = activation_stats
        self.params_every_n_epochs = params_every_n_epochs
        self.feature_scatter = feature_scatter
        self.feature_points = feature_points
        self.system_metrics = system_metrics
        self.system_metrics_interval = system_metrics_interval
        # Resumable state (saved in checkpoints).
        self.fit_seconds = 0.0
        self.best_acc: float | None = None
        self.best_epoch: int | None = None
        self.reached: dict[str, tuple[float, int]] = {}
        self._initial_state: dict[str, dict[str, torch.Tensor]] | None = None
        # Per-epoch scratch.
        self._initial: dict[str, torch.nn.Module] | None = None
        self._epoch_start = 0.0
        self._last_train_batch = 0.0
        self._samples = 0
        self._overhead = 0.0
        self._monitor: Any = None

    # -- state -------------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        initial = {n: m.state_dict() for n, m in (self._initial or {}).items()}
        return {
            "fit_seconds": self.fit_seconds,
            "best_acc": self.best_acc,
            "best_epoch": self.best_epoch,
            "reached": self.reached,
            "initial_activations": initial or self._initial_state,
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.fit_seconds = state_dict.get("fit_seconds", 0.0)
        self.best_acc = state_dict.get("best_acc")
        self.best_epoch = state_dict.get("best_epoch")
        self.reached = dict(state_dict.get("reached", {}))
        self._initial_state = state_dict.get("initial_activations")

    # -- fit ---------------------------------------------------------------------------------

    def on_fit_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        logger = actlab_logger(trainer)
        if self.system_metrics and logger is not None and trainer.is_global_zero:
            if logger.pending:
                log.warning("system metrics off: run %s is not created yet", logger.run_id)
            else:
                self._monitor = start_system_metrics(logger, self.system_metrics_interval)

    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        activations = ap.trainable_activations(pl_module)
        self._initial = ap.snapshot(activations)
        logger = actlab_logger(trainer)
        if logger is not None and trainer.is_global_zero:  # what `actlab report --html` reads
            tags = {TRAINABLE_TAG: str(bool(activations)).lower()}
            task = tracked(pl_module)
            provenance = provenance_of(task) if task is not None else {}
            for key in ("source_file", "source_sha256"):  # tags: a resumed run may differ
                if key in provenance:
                    tags[f"activation_{key}"] = provenance[key]
            act_layers = task.act_layer_provenance if task is not None else {}
            for act_key, found in act_layers.items():
                for key in ("source_file", "source_sha256"):
                    if key in found:
                        tags[f"{act_key}_{key}"] = found[key]
            logger.set_tags(tags)
        for name, state in (self._initial_state or {}).items():
            if name in self._initial:
                self._initial[name].load_state_dict(state)

    def on_train_epoch_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        logger = actlab_logger(trainer)
        if logger is not None and trainer.is_global_zero:
            logger.flush()  # the previous epoch's train metrics, logged by Lightning after its end
        self._epoch_start = self._last_train_batch = time.perf_counter()
        self._samples = 0
        self._overhead = 0.0

    def on_train_batch_end(
        self, trainer: Trainer, pl_module: LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        inputs = batch[0] if isinstance(batch, (tuple, list)) else batch
        self._samples += len(inputs) * trainer.world_size
        self._last_train_batch = time.perf_counter()

    def on_validation_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if trainer.sanity_checking or trainer.state.fn != "fit":
            return
        epoch = trainer.current_epoch
        logger = actlab_logger(trainer)
        metrics: dict[str, float] = {}
        acc = trainer.callback_metrics.get("val/acc")
        if acc is not None:
            acc = float(acc)
            if self.best_acc is None or acc > self.best_acc:
                self.best_acc, self.best_epoch = acc, epoch
            metrics["val/best_acc"] = self.best_acc
            metrics["val/best_epoch"] = float(self.best_epoch)
            seconds = self.fit_seconds + time.perf_counter() - self._epoch_start - self._overhead
            for threshold in self.thresholds:
                name = threshold_name(threshold)
                if name not in self.reached and acc >= threshold:
                    self.reached[name] = (seconds, epoch + 1)
                    metrics[f"time/seconds_to_val_acc_{name}"] = seconds
                    metrics[f"time/epochs_to_val_acc_{name}"] = float(epoch + 1)
        if logger is None or not trainer.is_global_zero:
            return
        start = time.perf_counter()
        self._log_validation(trainer, pl_module, logger, metrics, epoch)
        self._overhead += time.perf_counter() - start

    def _log_validation(
        self,
        trainer: Trainer,
        pl_module: LightningModule,
        logger: ActlabMLFlowLogger,
        metrics: dict[str, float],
        epoch: int,
    ) -> None:
        logger.log_metrics({**metrics, "epoch": epoch})
        task = tracked(pl_module)
        counts = task.confusion.get("val") if task is not None else None
        if counts is not None and is_due(self.confusion_every_n_epochs, epoch, trainer):
            names = class_names(trainer)
            title = f"{confusion_title('validation', counts, epoch)}\n{logger.run_name}"
            logger.log_image(confusion_image(counts, names, title), "confusion_val", step=epoch)
            logger.log_text(confusion_csv(counts, names), f"confusion/val_epoch{epoch:03d}.csv")

    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        now = time.perf_counter()
        epoch = trainer.current_epoch
        epoch_seconds = now - self._epoch_start - self._overhead
        self.fit_seconds += epoch_seconds
        logger = actlab_logger(trainer)
        if logger is None or not trainer.is_global_zero:
            return
        train_seconds = max(self._last_train_batch - self._epoch_start, 1e-9)
        metrics = {
            "time/epoch_seconds": epoch_seconds,
            "time/samples_per_sec": self._samples / train_seconds,
            **learning_rates(trainer),
        }
        activations = ap.trainable_activations(pl_module)
        if activations:
            stats = ap.ALL_STATS if self.activation_stats == "all" else ap.DEFAULT_STATS
            metrics.update(ap.summary_metrics(activations, stats))
        logger.log_metrics({**metrics, "epoch": epoch})
        if activations and is_due(self.activation_images_every_n_epochs, epoch, trainer):
            task = tracked(pl_module)
            spec = task.activation_name if task is not None else type(pl_module).__name__
            self._log_activation_images(logger, activations, epoch, spec)
        every = self.params_every_n_epochs
        if activations and every > 0 and (epoch + 1) % every == 0:
            self._log_npz(logger, activations, f"activation_params/epoch{epoch:03d}.npz")
        logger.flush()

    def _log_activation_images(
        self,
        logger: ActlabMLFlowLogger,
        activations: dict[str, torch.nn.Module],
        epoch: int,
        spec: str,
    ) -> None:
        title = f"{spec}, epoch {epoch}\n{logger.run_name}"
        ab = ap.ab_activations(activations)
        if ab:  # the (a, b) kind keeps 004 Fig. 14's scatter
            scatter = ap.scatter_image(ab, self._initial, f"learned (a, b) of {title}")
            logger.log_image(scatter, "act_ab_scatter", step=epoch)
        curves = ap.curves_image(activations, self._initial, f"learned f(x) of {title}")
        logger.log_image(curves, "act_curves", step=epoch)

    @staticmethod
    def _log_npz(
        logger: ActlabMLFlowLogger,
        activations: dict[str, torch.nn.Module],
        artifact: str,
        archive: Any = ap.params_npz,
    ) -> None:
        import tempfile
        from pathlib import Path

        folder, name = artifact.rsplit("/", 1)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / name
            path.write_bytes(archive(activations))
            logger.log_artifact(path, folder)

    def on_fit_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        logger = actlab_logger(trainer)
        self._stop_monitor()
        if logger is None or not trainer.is_global_zero:
            return
        activations = ap.trainable_activations(pl_module)
        if activations:
            self._log_npz(logger, activations, "activation_params/final.npz")
            self._log_npz(logger, activations, ap.CURVES_ARTIFACT, ap.curves_npz)
        tags = {"best_epoch": self.best_epoch, "best_val_acc": self.best_acc}
        logger.set_tags({k: v for k, v in tags.items() if v is not None})
        logger.flush()

    def on_exception(
        self, trainer: Trainer, pl_module: LightningModule, exception: BaseException
    ) -> None:
        self._stop_monitor()

    def _stop_monitor(self) -> None:
        if self._monitor is not None:
            self._monitor.finish()
            self._monitor = None

    # -- test --------------------------------------------------------------------------------

    def on_test_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        logger = actlab_logger(trainer)
        if logger is None or not trainer.is_global_zero:
            return
        task = tracked(pl_module)
        if task is None:  # not an actlab task: Lightning's test metrics only
            return
        prefix = task.test_prefix
        step = trainer.current_epoch  # the step Lightning gives the test metrics too
        names = class_names(trainer)
        counts = task.confusion.get(prefix)
        if counts is not None:
            split = "test" if prefix == TEST_PREFIX else "test, best checkpoint"
            epoch = (step - 1 if step > 0 else None) if prefix == TEST_PREFIX else self.best_epoch
            title = f"{confusion_title(split, counts, epoch)}\n{logger.run_name}"
            logger.log_image(confusion_image(counts, names, title), f"confusion_{prefix}", step)
            logger.log_text(confusion_csv(counts, names), f"confusion/{prefix}.csv")
        self._log_features(trainer, task, logger, prefix, step, names)
        logger.flush()

    def _log_features(
        self,
        trainer: Trainer,
        task: TrackedTask,
        logger: ActlabMLFlowLogger,
        prefix: str,
        step: int,
        names: list[str],
    ) -> None:
        backbone = task.backbone
        data = getattr(trainer, "datamodule", None)
        test_set = getattr(data, "test_set", None)
        if self.feature_scatter == "off" or test_set is None:
            return
        if not has_features(backbone):
            return
        targets = torch.as_tensor(test_set.targets)
        keep = torch.arange(len(targets))
        if len(targets) > self.feature_points:
            keep = torch.randperm(len(targets), generator=torch.Generator().manual_seed(0))
            keep = keep[: self.feature_points]
        if hasattr(test_set, "inputs"):  # in-memory tensors: one gather
            inputs = test_set.inputs[keep.to(test_set.inputs.device)]
        else:  # file-backed datasets (ImageNet insects): read the chosen samples
            inputs = torch.stack([torch.as_tensor(test_set[int(i)][0]) for i in keep])
        targets = targets[keep]
        features = pre_logits(backbone, inputs)
        if features.shape[1] != 2 and self.feature_scatter != "always":
            return
        points, projected = project_2d(features)
        title = f"{prefix} features" + (" (PCA)" if projected else "") + f"\n{logger.run_name}"
        image = feature_scatter_image(points, targets.cpu(), names, title)
        logger.log_image(image, f"features_{prefix}", step)


def is_due(every: int, epoch: int, trainer: Trainer) -> bool:
    """Whether an every-``every``-epochs figure is due after ``epoch``: each ``every``-th epoch
    and the last one (``max_epochs`` reached or the trainer stopping); never for ``every <= 0``."""
    if every <= 0:
        return False
    last = trainer.max_epochs is not None and epoch + 1 >= trainer.max_epochs
    return (epoch + 1) % every == 0 or last or bool(trainer.should_stop)


def class_names(trainer: Trainer) -> list[str]:
    """The data module's class names (empty when unknown)."""
    return list(getattr(getattr(trainer, "datamodule", None), "class_names", []) or [])


def learning_rates(trainer: Trainer) -> dict[str, float]:
    """``train/lr`` of the first parameter group, ``train/lr_group<i>`` of the others."""
    rates: dict[str, float] = {}
    for optimizer in trainer.optimizers[:1]:
        for index, group in enumerate(optimizer.param_groups):
            key = "train/lr" if index == 0 else f"train/lr_group{index}"
            rates[key] = float(group["lr"])
    return rates


def start_system_metrics(logger: ActlabMLFlowLogger, interval: float) -> Any:
    """Start MLflow's system-metrics monitor on the logger's run (rank 0)."""
    try:
        import psutil  # noqa: F401
    except ImportError as err:
        from actlab.errors import ActlabError

        msg = "tracking.system_metrics=true needs psutil: pip install psutil (and pynvml for GPUs)"
        raise ActlabError(msg) from err
    import mlflow
    from mlflow.system_metrics.system_metrics_monitor import SystemMetricsMonitor

    mlflow.set_tracking_uri(logger.tracking_uri)
    monitor = SystemMetricsMonitor(
        logger.run_id, sampling_interval=interval, samples_before_logging=1
    )
    monitor.start()
    return monitor
