"""The ``actlab`` command: LightningCLI's fit/validate/test/predict plus actlab's own subcommands."""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from lightning.pytorch.callbacks import ModelCheckpoint, RichProgressBar
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI
from rich.console import Console

import actlab
from actlab.data import ActlabDataModule
from actlab.errors import ActlabError
from actlab.tasks import ClassificationModule
from actlab.tracking.config import MLflowSaveConfigCallback
from actlab.tracking.mlflow import ActlabMLFlowLogger

LIGHTNING_COMMANDS = ("fit", "validate", "test", "predict")

#: actlab's own subcommands: name -> (one-line help, handler taking the remaining argv).
EXTRA_COMMANDS: dict[str, tuple[str, Callable[[list[str]], int]]] = {}


def extra_command(name: str, help: str) -> Callable[[Callable[[list[str]], int]], Callable]:
    """Register ``actlab <name>`` (a function of the remaining arguments returning an exit code)."""

    def register(fn: Callable[[list[str]], int]) -> Callable[[list[str]], int]:
        EXTRA_COMMANDS[name] = (help, fn)
        return fn

    return register


def condense_error(message: str) -> str:
    """Reduce jsonargparse's multi-line error to one line naming the bad key and value.

    jsonargparse explains a rejected value with every alternative type it tried; the most
    specific line (the deepest "Key ..." or "Problem with given class_path ...") says what was
    wrong. Lines are stripped of the tree indentation and joined once.
    """
    lines = [ln.strip(" -") for ln in message.strip().splitlines() if ln.strip(" -")]
    if not lines:
        return "invalid arguments"
    head = lines[0]
    detail = [
        ln
        for ln in lines[1:]
        if not ln.startswith(("Given value type", "Subclass types expected", "Does not validate"))
        and "Expected a <class" not in ln
    ]
    # jsonargparse repeats the key path on every nested line; keep the most informative tail.
    text = head if not detail else f"{head} {detail[-1]}"
    text = re.sub(r"\s+", " ", text)
    return text if len(text) < 600 else text[:597] + "..."


class ActlabArgumentParser(LightningArgumentParser):
    """LightningCLI's parser whose errors are one line, without usage text or traceback."""

    def error(self, message: str, ex: Exception | None = None) -> NoReturn:
        print(f"actlab: error: {condense_error(message)}", file=sys.stderr)
        raise SystemExit(2)


class ActlabCLI(LightningCLI):
    """LightningCLI for actlab: subclass mode for model and data, MLflow logging by default.

    The data module's ``num_classes`` and ``input_shape`` are linked into the model, so a
    config states them once (in the data module's choice of dataset).
    """

    def __init__(self, args: Sequence[str] | None = None, run: bool = True) -> None:
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
                "callbacks": [RichProgressBar()],
            },
            args=list(args) if args is not None else None,
            run=run,
        )

    def instantiate_classes(self) -> None:
        """Instantiate, re-raising an :class:`ActlabError` that jsonargparse wrapped.

        jsonargparse reports a constructor's ``ValueError`` inside a multi-line "Does not validate
        against any of the Union subtypes" error; the user needs the constructor's own message.
        """
        try:
            super().instantiate_classes()
        except ValueError as err:
            cause: BaseException | None = err
            while cause is not None and not isinstance(cause, ActlabError):
                cause = cause.__cause__ or cause.__context__
            if cause is None:
                raise
            raise cause from None

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.set_defaults({"model": {"class_path": "actlab.tasks.ClassificationModule"}})
        parser.link_arguments(
            "data.num_classes", "model.init_args.num_classes", apply_on="instantiate"
        )
        parser.link_arguments(
            "data.input_shape", "model.init_args.input_shape", apply_on="instantiate"
        )
        parser.add_lightning_class_args(ModelCheckpoint, "checkpoint")
        parser.set_defaults(
            {
                "checkpoint.monitor": "val/acc",
                "checkpoint.mode": "max",
                "checkpoint.save_last": True,
                "checkpoint.filename": "best-epoch{epoch:03d}",
                "checkpoint.auto_insert_metric_name": False,
            }
        )

    def _describe_run(self) -> None:
        """Give the MLflow run its readable name and tags before it is created."""
        model, data = self.model, self.datamodule
        backbone = getattr(model, "hparams", {}).get("backbone", type(model).__name__)
        activation = getattr(model, "activation_name", "native")
        dataset = getattr(data, "name", type(data).__name__)
        for logger in self.trainer.loggers:
            if isinstance(logger, ActlabMLFlowLogger):
                logger.describe(model=str(backbone), activation=str(activation), dataset=dataset)

    def before_fit(self) -> None:
        self._describe_run()

    def before_validate(self) -> None:
        self._describe_run()

    def before_test(self) -> None:
        self._describe_run()

    def after_fit(self) -> None:
        """Test the final weights into the same run, then print a short summary."""
        if self.trainer.interrupted or self.trainer.fast_dev_run:
            return
        results = self.trainer.test(self.model, datamodule=self.datamodule, verbose=False)
        print_summary(self.trainer, results[0] if results else {})


def print_summary(trainer: Any, test_metrics: dict[str, float]) -> None:
    """Print test accuracy, the MLflow run id and how to open the UI (rank 0 only)."""
    if not trainer.is_global_zero:
        return
    console = Console(stderr=False)
    acc = test_metrics.get("test/acc")
    console.print()
    if acc is not None:
        console.print(
            f"[bold]test accuracy[/bold] {acc:.4f}   test loss {test_metrics.get('test/loss', float('nan')):.4f}"
        )
    for logger in trainer.loggers:
        if isinstance(logger, ActlabMLFlowLogger):
            console.print(
                f"[bold]MLflow run[/bold] {logger.run_id}  ({logger._run_name}) in {logger.tracking_uri}"
            )
            console.print("open the UI with [bold]actlab ui[/bold]  ->  http://127.0.0.1:5000")


def print_help() -> None:
    """Top-level help: Lightning's subcommands and actlab's own."""
    lines = [
        f"actlab {actlab.__version__}: activation-function experiments on timm backbones, tracked in MLflow.",
        "",
        "usage: actlab <command> [options]      (actlab <command> --help for a command's options)",
        "",
        "training (LightningCLI; --config FILE ..., --print_config, --trainer.* --model.* --data.*):",
        "  fit        train, then test the final weights; logs to MLflow",
        "  validate   run one evaluation epoch on the validation split",
        "  test       run one evaluation epoch on the test split",
        "  predict    predict the test split",
        "",
        "actlab:",
        *(f"  {name:<10} {help}" for name, (help, _) in sorted(EXTRA_COMMANDS.items())),
        "",
        "options: -h/--help, --version",
    ]
    print("\n".join(lines))


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``actlab`` console script and ``python -m actlab``."""
    import actlab.commands  # noqa: F401  (registers the extra subcommands)

    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print_help()
        raise SystemExit(0)
    if args[0] == "--version":
        print(f"actlab {actlab.__version__}")
        raise SystemExit(0)
    try:
        if args[0] in EXTRA_COMMANDS:
            raise SystemExit(EXTRA_COMMANDS[args[0]][1](args[1:]))
        if args[0] not in LIGHTNING_COMMANDS and not args[0].startswith("-"):
            valid = ", ".join([*LIGHTNING_COMMANDS, *sorted(EXTRA_COMMANDS)])
            raise ActlabError(f"unknown command {args[0]!r}; valid: {valid}")
        ActlabCLI(args)
    except ActlabError as err:
        print(f"actlab: error: {err}", file=sys.stderr)
        raise SystemExit(2) from None
