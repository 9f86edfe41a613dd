"""The training commands (fit, validate, test, predict): LightningCLI with actlab's defaults.

In order, a fit: parses the config (:mod:`actlab.cli.errors` makes jsonargparse's errors one
line), checks and creates the tracking store once, chooses and checks the checkpoint to resume
(:mod:`actlab.tracking.checkpoints`), builds the model, data and trainer, checks the optimizer,
names and creates the MLflow run, trains, tests the final weights and the best checkpoint into
the same run and prints the summary (:mod:`actlab.cli.summary`). SIGTERM and SIGINT end it with
``128 + signal`` and the run ``FAILED`` (:mod:`actlab.cli.guards`).
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lightning.fabric.utilities.exceptions import MisconfigurationException
from lightning.pytorch.callbacks import ProgressBar, RichProgressBar
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI
from lightning.pytorch.utilities.exceptions import SIGTERMException

from actlab.cli import fail
from actlab.cli.errors import ActlabArgumentParser, parsing
from actlab.cli.guards import (
    FiniteLoss,
    RunFailure,
    SignalExit,
    as_signal_exit,
    raise_on_signals,
)
from actlab.cli.quiet import quiet_third_party
from actlab.cli.summary import print_summary
from actlab.data import ActlabDataModule
from actlab.distributed import WORLD_SIZE_TAG, guard_launch
from actlab.errors import ActlabError
from actlab.sweep.spec import resolved_hash
from actlab.tasks import ClassificationModule
from actlab.tracking.callback import TrackingCallback
from actlab.tracking.checkpoints import (
    LAST_PATTERNS,
    Checkpoint,
    CheckpointError,
    ConfigStamp,
    check_same_fit,
    checkpoint_of,
    config_hash,
    find_last_checkpoint,
    fit_config,
    read_checkpoint,
)
from actlab.tracking.config import MLflowSaveConfigCallback, flatten_config
from actlab.tracking.mlflow import actlab_logger
from actlab.tracking.resume import ResumableCheckpoint
from actlab.tracking.store import (
    DEFAULT_EXPERIMENT,
    check_experiment_name,
    default_tracking_uri,
    ensure_store,
    hold_run,
    mlruns_dir,
    redact_credentials,
    release_runs,
)

#: ``--ckpt_path`` values Lightning resolves itself.
LIGHTNING_CKPT_NAMES = ("best", "hpc", "registry")


class CurrentStderrHandler(logging.StreamHandler):
    """A ``StreamHandler`` that writes to whatever ``sys.stderr`` is when a record is emitted.

    ``import lightning`` binds a console handler to the ``sys.stderr`` of that moment; when that
    stream is replaced and closed (each in-process run under pytest's capture), the next log
    record fails with ``ValueError: I/O operation on closed file``.
    """

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> Any:  # type: ignore[override]
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


def route_lightning_console() -> None:
    """Replace Lightning's console handlers by :class:`CurrentStderrHandler` (same level/format)."""
    for name in ("lightning", "lightning.pytorch", "lightning.fabric"):
        logger = logging.getLogger(name)
        for handler in list(logger.handlers):
            if type(handler) is logging.StreamHandler:
                routed = CurrentStderrHandler()
                routed.setLevel(handler.level)
                routed.setFormatter(handler.formatter)
                logger.removeHandler(handler)
                logger.addHandler(routed)


route_lightning_console()
quiet_third_party()


def note(message: str) -> None:
    """An ``actlab:`` line on stderr: what the command is doing, not an error."""
    print(f"actlab: {message}", file=sys.stderr, flush=True)


def logger_target(config: Any) -> tuple[str | None, str | None]:
    """``(experiment, tracking URI)`` of the config's :class:`ActlabMLFlowLogger` (``None, None``
    without one)."""
    logger = config.get("trainer.logger") if hasattr(config, "get") else None
    class_path = getattr(logger, "class_path", None) or (
        logger.get("class_path") if isinstance(logger, dict) else None
    )
    if not class_path or not str(class_path).endswith("ActlabMLFlowLogger"):
        return None, None
    init = getattr(logger, "init_args", None) or (
        logger.get("init_args") if isinstance(logger, dict) else None
    )
    get = (lambda k: init.get(k)) if init is not None and hasattr(init, "get") else (lambda k: None)
    return get("experiment_name") or DEFAULT_EXPERIMENT, get("tracking_uri") or None


def adopt_logger_credentials(config: Any) -> None:
    """A ``trainer.logger.init_args.tracking_uri`` of ``http(s)://user:pass@host``: the
    credentials move to MLflow's ``MLFLOW_TRACKING_USERNAME``/``PASSWORD`` and the config keeps
    the URI without them, so ``config.yaml`` and the params never hold them."""
    from actlab.tracking.store import adopt_credentials

    logger = config.get("trainer.logger") if hasattr(config, "get") else None
    init = getattr(logger, "init_args", None)
    if init is None and isinstance(logger, dict):
        init = logger.get("init_args")
    if init is not None and hasattr(init, "get") and isinstance(init.get("tracking_uri"), str):
        init["tracking_uri"] = adopt_credentials(init["tracking_uri"])


@dataclass(frozen=True)
class ResumePlan:
    """What a fit does with its ``--ckpt_path``: continue ``resume_run`` in place, or train on
    from the checkpoint in a new run (``continued_from`` names the run it came from)."""

    checkpoint: Checkpoint
    resume_run: str | None
    continued_from: str | None
    message: str


def run_info(run_id: str, tracking_uri: str) -> tuple[str, str] | None:
    """``(status, name)`` of a run; ``("UNKNOWN", "")`` when the server cannot be reached,
    ``None`` when the store has no such run."""
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    from actlab.tracking.resilience import http_settings, is_outage, is_pending_run_id

    if is_pending_run_id(run_id):
        return "UNKNOWN", ""
    try:
        with http_settings(tracking_uri.startswith("http")):
            run = MlflowClient(tracking_uri).get_run(run_id)
    except MlflowException as err:
        if is_outage(err):
            return "UNKNOWN", ""
        return None
    except Exception as err:  # noqa: BLE001 - an unreachable server is not fatal here
        if is_outage(err):
            return "UNKNOWN", ""
        raise
    if run.info.lifecycle_stage == "deleted":  # in the UI's trash: not a run to write into
        return None
    return run.info.status, run.info.run_name or ""


def plan_resume(
    ckpt_path: str, ours: dict[str, str], experiment: str | None, tracking_uri: str | None
) -> ResumePlan:
    """Choose and check the checkpoint of ``--ckpt_path`` (``last`` or a path) for a fit whose
    fit config is ``ours``, and decide which run it continues.

    A run that ended ``FINISHED`` is never changed: its checkpoint starts a new run; so does a
    checkpoint older than the run's ``last.ckpt`` (the run's metrics after it belong to weights
    this fit throws away: a run's history is the history of its weights).
    """
    fit_hash = config_hash(ours)
    if ckpt_path == "last":
        path = find_last_checkpoint(experiment, fit_hash)
        if path is None:
            msg = (
                f"--ckpt_path last: no last.ckpt of this configuration (experiment "
                f"{experiment!r}, fit config {fit_hash}) under "
                f"{mlruns_dir()}/*/*/checkpoints/; checkpoints of other configurations are never "
                "resumed: give a checkpoint's path, or fit without --ckpt_path"
            )
            raise CheckpointError(msg)
    else:
        path = Path(ckpt_path)
    content = read_checkpoint(path)
    check_same_fit(path, content, ours)
    found = checkpoint_of(path, content)
    where = f"{path} (epoch {found.epoch})"
    if experiment is None or found.run_id is None:
        return ResumePlan(found, None, None, f"training on from {where}")
    uri = tracking_uri or default_tracking_uri()
    if found.tracking_uri not in (None, uri, redact_credentials(uri)):
        msg = (
            f"checkpoint's run {found.run_id} is in {found.tracking_uri}, not "
            f"{redact_credentials(uri)}: starting a new run from {where}"
        )
        return ResumePlan(found, None, None, msg)
    info = run_info(found.run_id, uri)
    if info is None:
        msg = f"run {found.run_id} is not in {uri} (deleted?): starting a new run from {where}"
        return ResumePlan(found, None, None, msg)
    status, name = info
    label = f"run {found.run_id} ({name})" if name else f"run {found.run_id}"
    if status == "FINISHED":
        msg = (
            f"{label} is FINISHED and a finished run is never changed: "
            f"training on from {where} in a new run"
        )
        return ResumePlan(found, None, found.run_id, msg)
    newest = newest_epoch(path.parent)
    if found.epoch is not None and newest is not None and newest > found.epoch:
        msg = (
            f"{label} trained on to epoch {newest}; {where} is older, so training on from it "
            "starts a new run (the run keeps the history of its own weights)"
        )
        return ResumePlan(found, None, found.run_id, msg)
    return ResumePlan(found, found.run_id, None, f"resuming {label}, {status}, from {where}")


def newest_epoch(folder: Path) -> int | None:
    """The epoch of the ``last.ckpt`` in ``folder`` (a run's checkpoints), ``None`` without one."""
    for pattern in LAST_PATTERNS:
        for path in sorted(folder.glob(pattern)):
            try:
                epoch = checkpoint_of(path, read_checkpoint(path)).epoch
            except CheckpointError:
                continue
            if epoch is not None:
                return epoch
    return None


#: Tag keeping the ``error`` of an earlier attempt of a run that a resume then finished.
PREVIOUS_ERROR_TAG = "error.previous"


def clear_error(logger: Any) -> None:
    """A resumed run about to end FINISHED: move its earlier attempt's ``error`` tag to
    :data:`PREVIOUS_ERROR_TAG` (history), so a FINISHED run has no ``error``."""
    from actlab.cli.guards import ERROR_TAG

    try:
        tags = logger.experiment.get_run(logger.run_id).data.tags
    except Exception:  # noqa: BLE001 - server down: the tag stays, as the run's history does
        return
    if ERROR_TAG in tags:
        logger.set_tags({PREVIOUS_ERROR_TAG: tags[ERROR_TAG]})
        logger.experiment.delete_tag(logger.run_id, ERROR_TAG)


def check_optimizer(model: Any) -> None:
    """Build the model's optimizer (and scheduler) once and throw it away, so that a bad setting
    (``lr: .nan``, a negative weight decay) stops the fit before its run is created."""
    if not isinstance(model, ClassificationModule):
        return
    try:
        model.configure_optimizers()
    except (ValueError, TypeError) as err:
        raise ActlabError(f"invalid optimizer or lr_scheduler settings: {err}") from None


def check_accelerator(config: dict[str, Any]) -> None:
    """``trainer.accelerator gpu`` on a machine without one: one line, the valid choices."""
    accelerator = str(config.get("accelerator") or "auto")
    if accelerator not in ("gpu", "cuda", "mps"):
        return
    import torch

    available = ["cpu", "auto"]
    if torch.cuda.is_available():
        available[1:1] = ["gpu", "cuda"]
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        available.insert(1, "mps")
    if accelerator not in available:
        msg = (
            f"trainer.accelerator {accelerator!r}: no such device on this machine "
            f"(torch finds no {'MPS' if accelerator == 'mps' else 'CUDA'} device); "
            f"valid here: {', '.join(available)}"
        )
        raise ActlabError(msg)


class ActlabCLI(LightningCLI):
    """LightningCLI for actlab: subclass mode for model and data, MLflow logging by default.

    The data module's ``num_classes`` and ``input_shape`` are linked into the model, so a
    config states them once (in the data module's choice of dataset).
    """

    def __init__(self, args: Sequence[str] | None = None, run: bool = True) -> None:
        self._resume: ResumePlan | None = None
        self._fit_config: dict[str, str] = {}
        self._config_hash: str | None = None
        self._continued_from: dict[str, Any] | None = None
        self._experiment: str | None = None
        self._argv = list(args) if args is not None else sys.argv[1:]
        super().__init__(
            model_class=ClassificationModule,
            datamodule_class=ActlabDataModule,
            subclass_mode_model=True,
            subclass_mode_data=True,
            save_config_callback=MLflowSaveConfigCallback,
            save_config_kwargs={"save_to_log_dir": False},
            parser_class=ActlabArgumentParser,
            auto_configure_optimizers=False,
            trainer_defaults={
                "logger": {"class_path": "actlab.tracking.ActlabMLFlowLogger"},
            },
            args=list(args) if args is not None else None,
            run=run,
        )

    # -- parsing: the store and the checkpoint, before anything is built ------------------------

    def parse_arguments(self, parser: LightningArgumentParser, args: Any) -> None:
        """Parse, then check and create the tracking store and choose the checkpoint to resume.

        Runs before LightningCLI reads ``ckpt_path``'s hyperparameters into the config, so a
        checkpoint of another configuration is reported instead of silently replacing the model.
        """
        with parsing(self._argv):
            super().parse_arguments(parser, args)
        subcommand = self.config.get("subcommand")
        if subcommand is None:
            return
        config = self.config[subcommand]
        adopt_logger_credentials(config)
        self._experiment, uri = logger_target(config)
        if self._experiment is not None:
            check_experiment_name(self._experiment)  # before the store is created
            ensure_store(uri or default_tracking_uri())
        self._fit_config = fit_config(flatten_config(config.as_dict()))
        self._config_hash = resolved_hash(config.as_dict())
        ckpt_path = config.get("ckpt_path")
        if ckpt_path is None or ckpt_path in LIGHTNING_CKPT_NAMES:
            return
        if subcommand == "fit":
            self._resume = plan_resume(str(ckpt_path), self._fit_config, self._experiment, uri)
            resume_run = self._resume.resume_run
            if resume_run is not None and not hold_run(resume_run):
                raise CheckpointError(
                    f"run {resume_run} is being written by another fit on this machine (it holds "
                    f"{mlruns_dir() / 'locks' / resume_run}.lock): wait for it to end, or stop it"
                )
            config["ckpt_path"] = str(self._resume.checkpoint.path)
            found = self._resume.checkpoint
            if self._resume.continued_from is not None:  # a FINISHED run trained on: its own
                self._continued_from = {"config_hash": found.config_hash, "epoch": found.epoch}
            elif self._resume.resume_run is not None:  # the same run: what it continued
                self._continued_from = found.continued_from
            self._config_hash = resolved_hash(config.as_dict(), self._continued_from)
        else:
            path = (
                find_last_checkpoint(self._experiment, config_hash(self._fit_config))
                if ckpt_path == "last"
                else Path(ckpt_path)
            )
            if path is None:
                raise CheckpointError(
                    f"--ckpt_path last: no last.ckpt of this configuration under {mlruns_dir()}"
                )
            read_checkpoint(path)
            config["ckpt_path"] = str(path)

    # -- building ---------------------------------------------------------------------------------

    def _instantiate_trainer(self, config: dict[str, Any], callbacks: list) -> Any:
        """Add actlab's callbacks (rich progress bar unless one is configured or bars are off,
        the loss guard, the failure tag, the config stamp); Lightning's config errors as one line."""
        check_accelerator(config)
        if config.get("enable_progress_bar") is not False and not any(
            isinstance(c, ProgressBar) for c in [*callbacks, *(config.get("callbacks") or [])]
        ):
            callbacks = [*callbacks, RichProgressBar()]
        callbacks = [
            *callbacks,
            FiniteLoss(),
            RunFailure(),
            ConfigStamp(
                self._experiment, self._fit_config, self._config_hash, self._continued_from
            ),
        ]
        try:
            return super()._instantiate_trainer(config, callbacks)
        except (MisconfigurationException, ValueError) as err:  # Lightning's checks of settings
            raise ActlabError(f"invalid trainer settings: {err}") from None

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.set_defaults({"model": {"class_path": "actlab.tasks.ClassificationModule"}})
        parser.link_arguments(
            "data.num_classes", "model.init_args.num_classes", apply_on="instantiate"
        )
        parser.link_arguments(
            "data.input_shape", "model.init_args.input_shape", apply_on="instantiate"
        )
        parser.add_lightning_class_args(TrackingCallback, "tracking")
        parser.add_lightning_class_args(ResumableCheckpoint, "checkpoint")
        parser.set_defaults(
            {
                "checkpoint.monitor": "val/acc",
                "checkpoint.mode": "max",
                "checkpoint.save_last": True,
                "checkpoint.filename": "best-epoch{epoch:03d}",
                "checkpoint.auto_insert_metric_name": False,
            }
        )

    # -- the run ----------------------------------------------------------------------------------

    def _describe_run(self) -> None:
        """Give the MLflow run its experiment, name, tags and description before it is created."""
        from actlab.tracking.naming import describe_run

        logger = actlab_logger(self.trainer)
        if logger is not None:
            describe_run(logger, self.model, self.datamodule, self.config[self.subcommand])

    def before_fit(self) -> None:
        """Check the optimizer, attach the resumed run (or tag the run trained on from), then
        create the run.

        The run is created here, in the launching process, so that ``ddp_spawn`` workers and
        the tests after fit all write to this one run.
        """
        guard_launch(self.trainer)  # actlab.distributed: ranks vs launcher and cores
        check_optimizer(self.model)
        logger = actlab_logger(self.trainer)
        plan = self._resume
        if plan is not None and self.trainer.is_global_zero:
            note(plan.message)
        if plan is not None and logger is not None:
            if plan.resume_run is not None:
                logger.resume(plan.resume_run)
            elif plan.continued_from is not None:
                logger.tags = {**(logger.tags or {}), "continued_from": plan.continued_from}
        if (
            logger is not None and self._config_hash is not None
        ):  # the fit's, whatever the config says
            logger.tags = {**(logger.tags or {}), "config_hash": self._config_hash}
        self._describe_run()
        if logger is not None and not self.trainer.fast_dev_run:
            logger.defer_finish = True  # FINISHED only after the tests of after_fit
        if logger is not None and self.trainer.is_global_zero:
            run_id = logger.run_id
            if run_id:
                hold_run(run_id)  # a resume of this run is refused while this fit writes it
            if plan is not None and plan.resume_run is not None:  # the tags of this attempt
                tags = logger.tags or {}
                logger.set_tags({k: tags[k] for k in (WORLD_SIZE_TAG, "config_hash") if k in tags})

    def before_validate(self) -> None:
        self._describe_run()

    def before_test(self) -> None:
        self._describe_run()

    def after_fit(self) -> None:
        """Test the final and best weights into the same run, end it ``FINISHED``, then print a
        short summary."""
        if self.trainer.interrupted or self.trainer.fast_dev_run:
            return
        results = self.trainer.test(self.model, datamodule=self.datamodule, verbose=False)
        final = results[0] if results else {}
        best_path = getattr(self.trainer.checkpoint_callback, "best_model_path", "")
        best: dict[str, float] = {}
        if best_path and hasattr(self.model, "test_prefix"):
            self.model.test_prefix = "test_best"
            try:
                results = self.trainer.test(
                    self.model, datamodule=self.datamodule, ckpt_path=best_path, verbose=False
                )
            finally:
                self.model.test_prefix = "test"
            best = results[0] if results else {}
        logger = actlab_logger(self.trainer)
        if logger is not None:
            if logger.resumed and self.trainer.is_global_zero:
                clear_error(logger)
            logger.finish()  # trained and tested: only now FINISHED
        print_summary(self.trainer, final, best)


def run(args: list[str]) -> int:
    """Run LightningCLI on ``args`` (``fit --config ...``); SIGTERM/SIGINT exit ``128 + signal``."""
    with raise_on_signals(), contextlib.ExitStack() as stack:
        stack.callback(release_runs)  # the runs this fit wrote (another fit may resume them)
        try:
            # None: LightningCLI reads sys.argv itself (and warns when given both)
            ActlabCLI(None if list(args) == sys.argv[1:] else args)
        except MisconfigurationException as err:  # Lightning's word for a bad setting
            fail(f"invalid settings: {err}")
        except (SignalExit, SIGTERMException) as stopped:
            stop = as_signal_exit(stopped)
            assert stop is not None
            if stop.run_id is None:
                fail(f"{stop} before its run was created", stop.exit_code)
            fail(
                f"{stop}: run {stop.run_id} is FAILED; resume it with --ckpt_path last",
                stop.exit_code,
            )
    return 0


def fit(argv: list[str]) -> int:
    """``actlab fit``: train, then test the final weights and the best checkpoint."""
    return run(["fit", *argv])


def validate(argv: list[str]) -> int:
    """``actlab validate``: one evaluation epoch on the validation split."""
    return run(["validate", *argv])


def test(argv: list[str]) -> int:
    """``actlab test``: one evaluation epoch on the test split."""
    return run(["test", *argv])


def predict(argv: list[str]) -> int:
    """``actlab predict``: predictions on the test split."""
    return run(["predict", *argv])
