"""ClassificationModule: a timm backbone with swapped activations, a head, and torchmetrics."""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Iterator, Mapping
from typing import Any

import timm
import torch
from lightning import LightningModule
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable
from torch import nn
from torchmetrics import MetricCollection
from torchmetrics.classification import (
    MulticlassAccuracy,
    MulticlassF1Score,
    MulticlassPrecision,
    MulticlassRecall,
)

import actlab.models  # noqa: F401  (registers actlab's models with timm)
from actlab.activations import (
    activation_layer,
    is_activation_module,
    is_trainable_activation,
    materialize_activations,
    swap_activations,
)
from actlab.activations.fit import ActivationInit, check_activation_init
from actlab.activations.plugins import load_model_plugins
from actlab.activations.registry import BuiltinActivation, resolve_activation
from actlab.activations.swap import provenance
from actlab.errors import ActlabError, UnknownNameError, unknown_name_message
from actlab.models import ACTLAB_MODELS
from actlab.models.weight_init import WeightInit, init_weights
from actlab.models.weights import Weights, WeightsSource
from actlab.tasks.finetune import Trainable
from actlab.tasks.heads import Head, head_loss, head_outputs
from actlab.tracking.tracked import TEST_PREFIX


def create_backbone(
    name: str,
    num_classes: int,
    input_shape: tuple[int, ...],
    pretrained: bool = False,
    **kwargs: Any,
) -> nn.Module:
    """Build ``name`` with ``timm.create_model`` for ``num_classes`` and one sample's shape.

    actlab's own models also receive ``input_shape``; timm models with a fixed input size (ViTs)
    receive ``img_size``. An ``act_layer`` given as an actlab spec (``"cpaf_relu(k=2)"``) or a timm
    name goes through :func:`actlab.activations.activation_layer`, so it means the same for every
    model; its per-site parameters are created by one dry forward
    (:func:`~actlab.activations.materialize_activations`). A net from a plugin package (entry-point
    group ``actlab.models``) is registered at its first use. An unknown name raises
    :class:`UnknownNameError` listing close names. ``pretrained`` asks timm for the model's
    pretrained weights (``weights: true``).
    """
    if not timm.is_model(name) and name not in load_model_plugins():
        close = unknown_name_message("model", name, timm.list_models(), show=0)
        ours = ", ".join(sorted(ACTLAB_MODELS))
        msg = f"{close}any name in timm.list_models() ({len(timm.list_models())} models); actlab's own: {ours}"
        raise UnknownNameError(msg)
    kwargs = {"num_classes": num_classes, "in_chans": input_shape[0], **kwargs}
    for key in ACT_LAYER_KEYS:
        if kwargs.get(key) is not None:
            kwargs[key] = activation_layer(kwargs[key])
    if name in ACTLAB_MODELS:
        kwargs.setdefault("input_shape", tuple(input_shape))
    elif len(input_shape) == 3 and _fixed_input_size(name):
        kwargs.setdefault("img_size", tuple(input_shape[1:]))
    try:
        backbone = timm.create_model(name, pretrained=pretrained, **kwargs)
    except TypeError as err:  # an unknown keyword in backbone_kwargs
        raise ActlabError(rejected_arguments_message(name, err, kwargs)) from err
    # per-site parameters of act_layer's activations exist before the optimizer is built
    check_input_shape(name, backbone, tuple(input_shape))
    materialize_activations(backbone, input_shape)
    return backbone


#: Arguments actlab passes to every backbone itself (from the data), never a user's to set.
GIVEN_BY_ACTLAB = ("num_classes", "in_chans", "input_size", "img_size", "pretrained")


def rejected_arguments_message(name: str, err: TypeError, given: dict[str, Any]) -> str:
    """``model 'mlp' has no argument 'hidden_size'; did you mean 'hidden_sizes'? valid: ...``:
    the valid names are the parameters of the class the model function builds."""
    import inspect
    import re
    import sys

    found = re.search(r"(\w+)\.__init__\(\) got an unexpected keyword argument '(\w+)'", str(err))
    if found is None:
        return f"model {name!r} rejected its arguments {sorted(given)}: {err}"
    cls_name, argument = found.groups()
    module = sys.modules.get(getattr(timm.models.model_entrypoint(name), "__module__", ""))
    cls = getattr(module, cls_name, None)
    if not isinstance(cls, type):
        return f"model {name!r} has no argument {argument!r} ({err})"
    valid = [
        p.name
        for p in inspect.signature(cls.__init__).parameters.values()
        if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        and p.name not in ("self", *GIVEN_BY_ACTLAB)
    ]
    return unknown_name_message(f"argument of model {name!r} (backbone_kwargs)", argument, valid)


def check_input_shape(name: str, backbone: nn.Module, input_shape: tuple[int, ...]) -> None:
    """Raise :class:`ActlabError` if ``backbone`` cannot take samples shaped ``input_shape``:
    a model whose first layer is an ``nn.Conv<d>d`` needs ``d + 1`` dimensions (``(C, H, W)``
    for 2-D), which ``data.flatten`` and ``data.pca_components`` take away."""
    first = next((m for m in backbone.modules() if isinstance(m, nn.modules.conv._ConvNd)), None)
    if first is None:
        return
    dims = len(first.kernel_size) + 1
    if len(input_shape) == dims:
        return
    layer = next(n for n, m in backbone.named_modules() if m is first)
    shape = "(C, H, W)" if dims == 3 else f"{dims}-D"
    msg = (
        f"model {name!r} takes samples shaped {shape} (its first layer {layer} is a "
        f"{type(first).__name__}), but the data gives samples shaped {tuple(input_shape)}: "
        "turn off data.flatten, give data.pca_reshape with data.pca_components, "
        "or choose a model for flat inputs (mlp)"
    )
    raise ActlabError(msg)


#: ``backbone_kwargs`` keys that name an activation (002's nets vary conv and FC separately).
ACT_LAYER_KEYS = ("act_layer", "conv_act_layer", "fc_act_layer")


def act_layer_provenance(backbone_kwargs: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    """Where each act-layer key's activation came from, for the keys that name one of actlab's
    activation specs beyond the built-in names (an import path, a plugin, a Python class or
    factory): :func:`actlab.activations.swap.provenance` (the spec as given, the class's qualified
    name, the source file and its SHA-256). timm's names and built-in specs need no more than
    the name the config already records."""
    found: dict[str, dict[str, str]] = {}
    for key in ACT_LAYER_KEYS:
        value = backbone_kwargs.get(key)
        if value is None:
            continue
        try:
            resolved = resolve_activation(value)
        except ActlabError:  # a timm name: activation_layer resolved it, nothing more to trace
            continue
        if not isinstance(resolved, BuiltinActivation):
            found[key] = provenance(resolved, value)
    return found


def _fixed_input_size(name: str) -> bool:
    cfg = timm.models.get_pretrained_cfg(name)
    return bool(cfg is not None and getattr(cfg, "fixed_input_size", False))


def native_activation_name(model: nn.Module) -> str:
    """The most common activation module type in ``model``, lower-cased (e.g. ``relu``)."""
    counts = Counter(type(m).__name__.lower() for m in model.modules() if is_activation_module(m))
    return counts.most_common(1)[0][0] if counts else "none"


#: Keyword arguments of ``torch.compile`` that ``compile`` accepts, and the valid modes.
COMPILE_KEYS = ("mode", "fullgraph", "dynamic", "backend", "options")
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")


def compile_options(value: bool | dict[str, Any] | None) -> dict[str, Any] | None:
    """``torch.compile`` keyword arguments from the task's ``compile`` option (``None``: off).

    Checked here, before any training, because ``torch.compile`` only complains at the first
    batch.
    """
    if value is None or value is False:
        return None
    if value is True:
        return {}
    if not isinstance(value, dict):
        msg = f"compile must be true, false or a dict of torch.compile arguments; got {value!r}"
        raise ActlabError(msg)
    unknown = sorted(set(value) - set(COMPILE_KEYS))
    if unknown:
        msg = f"compile: unknown torch.compile argument(s) {unknown}; valid: {', '.join(COMPILE_KEYS)}"
        raise ActlabError(msg)
    mode = value.get("mode")
    if mode is not None and mode not in COMPILE_MODES:
        msg = (
            f"compile.mode {mode!r} is not a torch.compile mode; valid: {', '.join(COMPILE_MODES)}"
        )
        raise ActlabError(msg)
    return dict(value)


#: Top-5 accuracy is reported only for datasets with more classes than this.
TOP5_MIN_CLASSES = 10


def _metrics(num_classes: int, prefix: str) -> MetricCollection:
    metrics = {
        "acc": MulticlassAccuracy(num_classes, average="micro"),
        "precision": MulticlassPrecision(num_classes, average="macro"),
        "recall": MulticlassRecall(num_classes, average="macro"),
        "f1": MulticlassF1Score(num_classes, average="macro"),
    }
    if num_classes > TOP5_MIN_CLASSES:
        metrics["acc_top5"] = MulticlassAccuracy(num_classes, top_k=5, average="micro")
    return MetricCollection(metrics, prefix=prefix)


class ClassificationModule(LightningModule):
    """Image or tabular classification with any timm backbone.

    Args:
        backbone: a ``timm.create_model`` name (actlab's paper nets are registered there too).
        num_classes: classes of the dataset (linked from ``data.num_classes``).
        input_shape: shape of one sample (linked from ``data.input_shape``).
        backbone_kwargs: extra keyword arguments for ``timm.create_model``.
        activation: activation spec swapped into every activation site of the backbone
            (``relu``, ``cpaf_relu(k=2)``, ``{name: prelu}``); ``null`` keeps the backbone's own.
        head: ``softmax`` (cross-entropy) or ``relu`` (Agarap's DL-ReLU, 003).
        optimizer: optimizer class and its arguments (called with the parameter groups).
        lr_scheduler: optional scheduler class and its arguments (``ReduceLROnPlateau``
            monitors ``val/loss``).
        activation_weight_decay: weight decay of the activation parameters, which get their own
            optimizer group (0 by default, as He et al. 2015 do for PReLU).
        compile: compile the backbone with ``torch.compile`` when the trainer sets the model up:
            ``true``, or the keyword arguments of ``torch.compile`` (``{mode: max-autotune}``).
            The state dict keeps its keys, so checkpoints load with or without it.
        channels_last: store the backbone's 4-D weights and feed its image batches in
            ``torch.channels_last`` memory format (faster convolutions on tensor-core GPUs,
            especially with ``trainer.precision: bf16-mixed``).
        weight_init: how the backbone's convolutions and linear layers (classifier included)
            start: ``torch`` (PyTorch's defaults, as built), ``keras`` (Glorot-uniform, zero
            biases: 003's framework), ``caffe_xavier`` or ``caffe_msra`` (Caffe's fillers, zero
            biases: 000's framework); see :mod:`actlab.models.weight_init`. Applied before the
            activation swap, so activation parameters keep their own initial values.
        weights: pretrained weights of the backbone, loaded before the activation swap
            (torchgeo's convention; :mod:`actlab.models.weights`): ``true`` for timm's pretrained
            weights (hub), a path for a local ``.safetensors``, ``.pth`` or Lightning/actlab
            checkpoint; the classifier is re-created for ``num_classes`` and the input
            convolution adapted as timm does. The run records the file and its SHA-256, or the
            hub tag (params ``model.weights_from``, ``model.weights_sha256``).
        activation_init: ``default`` (the family's initial values) or ``fit``: at the start of
            the fit each swapped-in trainable activation is fitted, per site, to the activation it
            replaced over the inputs that site sees on ``activation_fit_batches`` training
            batches (:mod:`actlab.activations.fit`); the swap report gives each site's error.
        activation_fit_batches: training batches the fit records inputs on.
        activation_lr: learning rate of the activation parameters' optimizer group (``null``:
            the optimizer's).
        trainable: ``all``, ``activations`` (freeze every other parameter, batch-norm
            statistics included) or ``activations_and_classifier``
            (:class:`actlab.tasks.finetune.ActivationFinetuning`).
        unfreeze_at_epoch: with ``trainable`` other than ``all``, train everything from this
            epoch on (``null``: never).
        eval_at_start: evaluate on the validation and test splits before any training, logged as
            ``val_start/*`` and ``test_start/*`` at step 0; ``null``: only when ``weights`` is
            given.
    """

    def __init__(
        self,
        backbone: str = "mlp",
        num_classes: int = 10,
        input_shape: tuple[int, ...] = (1, 28, 28),
        backbone_kwargs: dict[str, Any] | None = None,
        activation: str | dict[str, Any] | None = None,
        head: Head = "softmax",
        optimizer: OptimizerCallable = torch.optim.Adam,
        lr_scheduler: LRSchedulerCallable | None = None,
        activation_weight_decay: float = 0.0,
        compile: bool | dict[str, Any] = False,
        channels_last: bool = False,
        weight_init: WeightInit = "torch",
        weights: Weights = None,
        activation_init: ActivationInit = "default",
        activation_fit_batches: int = 4,
        activation_lr: float | None = None,
        trainable: Trainable = "all",
        unfreeze_at_epoch: int | None = None,
        eval_at_start: bool | None = None,
    ) -> None:
        super().__init__()
        self.compile_options = compile_options(compile)
        self.save_hyperparameters(logger=False)
        # -- issue 24: pretrained weights (actlab.models.weights) ------------------------------
        from actlab.models import weights as W

        weights = W.check_weights(weights)
        if weights is not None and weight_init != "torch":
            msg = (
                f"weight_init {weight_init!r} re-initialises the layers that weights {weights!r} "
                "loads; give one of them (weight_init: torch with weights)"
            )
            raise ActlabError(msg)
        self.weights_source: WeightsSource | None = None
        kwargs = backbone_kwargs or {}
        if weights is True:
            self.backbone, self.weights_source = W.create_with_hub_weights(
                backbone,
                lambda: create_backbone(backbone, num_classes, tuple(input_shape), True, **kwargs),
            )
        else:
            self.backbone = create_backbone(backbone, num_classes, tuple(input_shape), **kwargs)
        check_input_shape(backbone, self.backbone, tuple(input_shape))
        #: provenance of activations given through ``backbone_kwargs`` (act-layer keys), logged
        #: beside the swapped activation's (``model.backbone_kwargs.<key>_class`` and tags)
        self.act_layer_provenance = act_layer_provenance(backbone_kwargs or {})
        init_weights(self.backbone, weight_init, skip=is_activation_module)
        if isinstance(weights, str):
            self.weights_source = W.load_weights_file(
                self.backbone, weights, backbone, num_classes, int(input_shape[0])
            )
        # -- end issue 24 -------------------------------------------------------------------
        self.swap_report = None
        self.activation_name = self._apply_activation(activation, tuple(input_shape))
        self._check_finetuning(activation, activation_init, activation_fit_batches)
        self._check_finetuning_schedule(trainable, unfreeze_at_epoch, activation_lr)
        self.channels_last = channels_last
        if channels_last:
            self.backbone.to(memory_format=torch.channels_last)
        self.head = head
        self.optimizer = optimizer
        self.lr_scheduler = lr_scheduler
        self.train_metrics = MetricCollection(
            {"acc": MulticlassAccuracy(num_classes, average="micro")}, prefix="train/"
        )
        self.val_metrics = _metrics(num_classes, "val/")
        self.test_metrics = _metrics(num_classes, "test/")
        self.num_classes = num_classes
        self._confusion_counts: dict[str, torch.Tensor] = {}
        # What the task offers tracking and the CLI: actlab.tracking.tracked.TrackedTask.
        #: Latest confusion counts per stage (``val``, ``test``, ``test_best``), rows = true
        #: class, summed over DDP ranks (counted here, not by torchmetrics: one bincount a batch).
        self.confusion: dict[str, torch.Tensor] = {}
        #: Prefix of test metrics: ``test`` for the final weights, ``test_best`` for the best
        #: checkpoint (:meth:`testing_as`).
        self.test_prefix = TEST_PREFIX

    def _apply_activation(
        self, activation: str | dict[str, Any] | None, input_shape: tuple[int, ...]
    ) -> str:
        """Swap ``activation`` into the backbone; return the name runs are labelled with.

        The swap's dry forward on a zero batch of ``input_shape`` creates channel- and
        element-wise parameters here, before the optimizer is built or a checkpoint is loaded.
        """
        if activation is None:
            return native_activation_name(self.backbone)
        report = swap_activations(self.backbone, activation, input_shape=input_shape)
        self.swap_report = report
        return report.spec

    # -- issue 24: function-preserving swap and fine-tuning controls (actlab.tasks.finetune) --

    def _check_finetuning(
        self, activation: Any, activation_init: str, activation_fit_batches: int
    ) -> None:
        check_activation_init(activation_init)
        if activation_init == "fit" and activation is None:
            msg = "activation_init: fit fits a swapped-in activation, but no activation is given"
            raise ActlabError(msg)
        if not isinstance(activation_fit_batches, int) or activation_fit_batches < 1:
            msg = f"activation_fit_batches must be an integer >= 1; got {activation_fit_batches!r}"
            raise ActlabError(msg)

    def _check_finetuning_schedule(
        self, trainable: str, unfreeze_at_epoch: int | None, activation_lr: float | None
    ) -> None:
        from actlab.tasks.finetune import TRAINABLE

        if trainable not in TRAINABLE:
            raise ActlabError(f"unknown trainable {trainable!r}; valid: {', '.join(TRAINABLE)}")
        if trainable != "all" and not self.activation_parameters():
            msg = (
                f"trainable: {trainable} trains the activation parameters, but the backbone's "
                f"activations ({self.activation_name}) have none: swap in a trainable one "
                "(activation: prelu, cpaf_relu, ...)"
            )
            raise ActlabError(msg)
        if unfreeze_at_epoch is not None and (trainable == "all" or unfreeze_at_epoch < 1):
            msg = (
                f"unfreeze_at_epoch {unfreeze_at_epoch!r} needs trainable: activations or "
                "activations_and_classifier and an epoch >= 1"
            )
            raise ActlabError(msg)
        if activation_lr is not None and not activation_lr > 0:
            raise ActlabError(f"activation_lr must be > 0; got {activation_lr!r}")

    def configure_callbacks(self) -> list[Any]:
        """:class:`~actlab.tasks.finetune.ActivationFinetuning` when ``trainable`` freezes."""
        if self.hparams.get("trainable", "all") == "all":
            return []
        from actlab.tasks.finetune import ActivationFinetuning

        return [ActivationFinetuning(self.hparams.trainable, self.hparams.unfreeze_at_epoch)]

    def _resuming(self) -> bool:
        return self.trainer.ckpt_path is not None

    def _fit_activations(self) -> None:
        """``activation_init: fit``: fit the swapped activations on a few training batches."""
        from actlab.activations.swap import fit_swapped
        from actlab.tasks.finetune import input_batches

        datamodule = self.trainer.datamodule
        if datamodule is None:
            msg = "activation_init: fit needs a datamodule (its training batches) in trainer.fit"
            raise ActlabError(msg)
        batches = input_batches(
            datamodule.train_dataloader(), self.hparams.activation_fit_batches, self.device
        )
        fit_swapped(self.backbone, self.swap_report, batches)
        if self.trainer.world_size > 1:  # every rank fitted the same batches; make it exact
            for p in self.activation_parameters():
                p.data.copy_(self.trainer.strategy.broadcast(p.data, src=0))
        poor = self.swap_report.poorly_fitted
        if poor and self.trainer.is_global_zero:
            from lightning.pytorch.utilities import rank_zero_warn

            names = ", ".join(f"{s.name} ({s.fit_error:.1%})" for s in poor)
            rank_zero_warn(
                f"activation_init: fit: {len(poor)} site(s) above the fit tolerance "
                f"{self.swap_report.fit['tolerance']:.0%} ({self.swap_report.spec} cannot follow "
                f"the replaced activation there): {names}"
            )

    def _start_params(self) -> dict[str, Any]:
        params: dict[str, Any] = {}
        if self.weights_source is not None:
            params.update(self.weights_source.params())
        report = self.swap_report
        if report is not None and report.fit is not None:
            params["model.activation_fit_poor_sites"] = len(report.poorly_fitted)
        return params

    def _eval_at_start(self) -> bool:
        flag = self.hparams.get("eval_at_start")
        return bool(self.hparams.get("weights")) if flag is None else bool(flag)

    # -- end issue 24 ---------------------------------------------------------------------

    def activation_parameters(self) -> list[nn.Parameter]:
        """Trainable parameters of the trainable activations (PReLU slopes, (a, b) sets, ...;
        :func:`actlab.activations.is_trainable_activation`), swapped in or the backbone's own."""
        seen: set[int] = set()
        params = []
        for module in self.backbone.modules():
            if is_trainable_activation(module):
                for p in module.parameters():
                    if p.requires_grad and id(p) not in seen:
                        seen.add(id(p))
                        params.append(p)
        return params

    def on_fit_start(self) -> None:
        """Fit the swapped activations (``activation_init: fit``), log the swap report as
        ``activations/swap_report.json`` and where the weights came from, and evaluate before
        training (``eval_at_start``). A resumed fit does neither the fit nor the evaluation: its
        checkpoint holds the fitted parameters and its run the step-0 metrics."""
        resuming = self._resuming()
        if self.hparams.get("activation_init") == "fit" and not resuming:
            self._fit_activations()
        if self.trainer.is_global_zero:
            params = self._start_params()
            for logger in self.loggers if params else ():
                logger.log_hyperparams(params)
        if self._eval_at_start() and not resuming and self.trainer.datamodule is not None:
            from lightning.pytorch.utilities import rank_zero_info

            from actlab.tasks.finetune import evaluate_at_start

            metrics = evaluate_at_start(self, self.trainer.datamodule)
            if self.trainer.is_global_zero:
                for logger in self.loggers:
                    logger.log_metrics(metrics, step=0)
            shown = ", ".join(f"{k} {v:.4f}" for k, v in metrics.items() if k.endswith("/acc"))
            rank_zero_info(f"actlab: evaluation before training: {shown}")
        if self.swap_report is None:
            return
        from lightning.pytorch.loggers import MLFlowLogger

        for logger in self.loggers:
            if isinstance(logger, MLFlowLogger) and self.trainer.is_global_zero:
                report = self.swap_report
                logger.experiment.log_dict(
                    logger.run_id, report.to_dict(), "activations/swap_report.json"
                )
                logger.experiment.set_tag(
                    logger.run_id, "activation_sites_replaced", str(len(report.replaced))
                )

    def configure_model(self) -> None:
        """Compile the backbone (``compile``) once, in every process, before the strategy wraps it."""
        if self.compile_options is not None and not getattr(self, "_compiled", False):
            self.backbone.compile(**self.compile_options)
            self._compiled = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (pre-head scores) of a batch."""
        if self.channels_last and x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        return self.backbone(x)

    def _step(self, batch: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, ...]:
        x, y = batch
        logits = self(x)
        loss = head_loss(logits, y, self.head)
        return loss, head_outputs(logits, self.head), y

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int):
        loss, scores, y = self._step(batch)
        self.train_metrics.update(scores.detach(), y)
        self.log("train/loss_step", loss.detach(), on_step=True, on_epoch=False)
        self.log("train/loss", loss.detach(), on_step=False, on_epoch=True, prog_bar=True)
        self.log_dict(self.train_metrics, on_step=False, on_epoch=True)
        return loss

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        loss, scores, y = self._step(batch)
        self.val_metrics.update(scores, y)
        self._count_confusion("val", scores, y)
        self.log("val/loss", loss, on_epoch=True, prog_bar=True)
        self.log_dict(self.val_metrics, on_epoch=True, prog_bar=True)

    def on_validation_epoch_end(self) -> None:
        self._finish_confusion("val")

    def _count_confusion(self, stage: str, scores: torch.Tensor, y: torch.Tensor) -> None:
        n = self.num_classes
        counts = torch.bincount(y * n + scores.argmax(dim=1), minlength=n * n).view(n, n)
        previous = self._confusion_counts.get(stage)
        self._confusion_counts[stage] = counts if previous is None else previous + counts

    def _finish_confusion(self, stage: str) -> None:
        """Sum the stage's confusion counts over ranks (every rank must call this) and reset."""
        n = self.num_classes
        counts = self._confusion_counts.pop(stage, None)
        if counts is None:
            counts = torch.zeros(n, n, dtype=torch.long, device=self.device)
        gathered = self.all_gather(counts)
        self.confusion[stage] = (gathered.sum(0) if gathered.dim() == 3 else gathered).cpu()

    def test_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        loss, scores, y = self._step(batch)
        self.test_metrics.update(scores, y)
        self._count_confusion(self.test_prefix, scores, y)
        prefix = self.test_prefix
        self.log(f"{prefix}/loss", loss, on_epoch=True)
        metrics = self.test_metrics.items(keep_base=True)
        self.log_dict({f"{prefix}/{name}": metric for name, metric in metrics}, on_epoch=True)

    def on_test_epoch_end(self) -> None:
        self._finish_confusion(self.test_prefix)

    @contextlib.contextmanager
    def testing_as(self, prefix: str) -> Iterator[None]:
        """Within the block, test metrics and the test confusion matrix are logged as
        ``<prefix>/...`` (the CLI tests the best checkpoint as ``test_best``)."""
        previous, self.test_prefix = self.test_prefix, prefix
        try:
            yield
        finally:
            self.test_prefix = previous

    def predict_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int):
        x = batch[0] if isinstance(batch, (tuple, list)) else batch
        return head_outputs(self(x), self.head).argmax(dim=1)

    def parameter_groups(self) -> list[dict[str, Any]]:
        """Parameter groups handed to the optimizer: the network, then the activations' own
        parameters with ``activation_weight_decay`` (the group is left out when there are none)."""
        act = self.activation_parameters()
        act_ids = {id(p) for p in act}
        rest = [p for p in self.parameters() if p.requires_grad and id(p) not in act_ids]
        groups: list[dict[str, Any]] = [{"params": rest}]
        if act:
            groups.append(
                {
                    "params": act,
                    "weight_decay": self.hparams.activation_weight_decay,
                    "name": "activations",
                }
            )
            if self.hparams.get("activation_lr") is not None:
                groups[-1]["lr"] = self.hparams.activation_lr
        return groups

    def configure_optimizers(self):
        optimizer = self.optimizer(self.parameter_groups())
        if self.lr_scheduler is None:
            return optimizer
        scheduler = self.lr_scheduler(optimizer)
        config: dict[str, Any] = {"scheduler": scheduler, "interval": "epoch"}
        if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
            config["monitor"] = "val/loss"
        return {"optimizer": optimizer, "lr_scheduler": config}
