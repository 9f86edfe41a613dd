"""The training commands (fit, validate, test, predict): LightningCLI wired to :mod:`actlab.fit`.

In order, a fit: parses the config (:mod:`actlab.cli.errors` makes jsonargparse's errors one
line), checks and creates the tracking store once, chooses and checks the checkpoint to resume
(:mod:`actlab.fit.resume`), builds the model, data and trainer with the callbacks every fit
carries (:mod:`actlab.fit.callbacks`), checks the optimizer (:mod:`actlab.fit.preflight`), names
and creates the MLflow run, trains, tests the final weights and the best checkpoint into the
same run and prints the summary (:mod:`actlab.cli.summary`). SIGTERM and SIGINT end it with
``128 + signal`` and the run ``FAILED`` (:mod:`actlab.fit.guards`). This module only wires:
what happens is in :mod:`actlab.fit`.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Sequence
from typing import Any

from lightning import Trainer
from lightning.fabric.utilities.exceptions import MisconfigurationException
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI
from lightning.pytorch.utilities.exceptions import SIGTERMException

from actlab.cli import fail
from actlab.cli.errors import ActlabArgumentParser, parsing
from actlab.cli.quiet import quiet_third_party
from actlab.cli.summary import print_summary
from actlab.config_keys import flat_config
from actlab.data import ActlabDataModule
from actlab.distributed import WORLD_SIZE_TAG, guard_launch
from actlab.errors import ActlabError
from actlab.fit.callbacks import fit_callbacks
from actlab.fit.checkpoints import CheckpointStamp, fit_config
from actlab.fit.guards import SignalExit, as_signal_exit, raise_on_signals
from actlab.fit.host_memory import keep_freed_memory
from actlab.fit.last_checkpoint import ResumableCheckpoint
from actlab.fit.preflight import (
    adopt_logger_credentials,
    check_accelerator,
    check_optimizer,
    logger_target,
)
from actlab.fit.resume import (
    LIGHTNING_CKPT_NAMES,
    ResumePlan,
    checkpoint_to_evaluate,
    clear_error,
    hold_resumed_run,
    plan_resume,
)
from actlab.sweep.spec import resolved_hash
from actlab.tasks import ClassificationModule
from actlab.tracking.callback import TrackingCallback
from actlab.tracking.config import MLflowSaveConfigCallback
from actlab.tracking.mlflow import actlab_logger
from actlab.tracking.store import (
    check_experiment_name,
    default_tracking_uri,
    ensure_store,
    hold_run,
    release_runs,
)
from actlab.tracking.tracked import TEST_BEST_PREFIX, tracked

quiet_third_party()


def note(message: str) -> None:
    """An ``actlab:`` line on stderr: what the command is doing, not an error."""
    print(f"actlab: {message}", file=sys.stderr, flush=True)


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
        self._fit_config = fit_config(flat_config(config.as_dict()))
        self._config_hash = resolved_hash(config.as_dict())
        ckpt_path = config.get("ckpt_path")
        if ckpt_path is None or ckpt_path in LIGHTNING_CKPT_NAMES:
            return
        if subcommand != "fit":
            config["ckpt_path"] = str(
                checkpoint_to_evaluate(str(ckpt_path), self._experiment, self._fit_config)
            )
            return
        self._resume = plan_resume(str(ckpt_path), self._fit_config, self._experiment, uri)
        hold_resumed_run(self._resume)
        config["ckpt_path"] = str(self._resume.checkpoint.path)
        self._continued_from = self._resume.lineage()
        self._config_hash = resolved_hash(config.as_dict(), self._continued_from)

    # -- building ---------------------------------------------------------------------------------

    def instantiate_trainer(self, **kwargs: Any) -> Trainer:
        """The trainer, with the callbacks every fit carries (:func:`actlab.fit.callbacks.
        fit_callbacks`, through ``trainer_defaults``); Lightning's config errors as one line."""
        config = self.config_init[self.subcommand] if self.subcommand else self.config_init
        trainer_config = {**config.get("trainer", {}), **kwargs}
        check_accelerator(trainer_config)
        stamp = CheckpointStamp(
            self._experiment, self._fit_config, self._config_hash, self._continued_from
        )
        self.trainer_defaults["callbacks"] = fit_callbacks(trainer_config, stamp)
        try:
            return super().instantiate_trainer(**kwargs)
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
        task = tracked(self.model)
        if best_path and task is not None:
            with task.testing_as(TEST_BEST_PREFIX):
                results = self.trainer.test(
                    self.model, datamodule=self.datamodule, ckpt_path=best_path, verbose=False
                )
            best = results[0] if results else {}
        logger = actlab_logger(self.trainer)
        if logger is not None:
            if logger.resumed and self.trainer.is_global_zero:
                clear_error(logger)
            logger.finish()  # trained and tested: only now FINISHED
        print_summary(self.trainer, final, best)


def run(args: list[str]) -> int:
    """Run LightningCLI on ``args`` (``fit --config ...``); SIGTERM/SIGINT exit ``128 + signal``."""
    keep_freed_memory()  # no page faults for each step's buffers (glibc; see fit/host_memory.py)
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
