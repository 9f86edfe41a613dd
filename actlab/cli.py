"""The ``actlab`` command: LightningCLI's fit/validate/test/predict plus actlab's own subcommands."""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from lightning.pytorch.callbacks import ProgressBar, RichProgressBar
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI
from rich.console import Console

import actlab
from actlab.data import ActlabDataModule
from actlab.errors import ActlabError, unknown_name_message
from actlab.tasks import ClassificationModule
from actlab.tracking.callback import TrackingCallback
from actlab.tracking.config import MLflowSaveConfigCallback
from actlab.tracking.mlflow import ActlabMLFlowLogger
from actlab.tracking.resume import ResumableCheckpoint, resolve_checkpoint, run_id_of_checkpoint

LIGHTNING_COMMANDS = ("fit", "validate", "test", "predict")

#: actlab's own subcommands: name -> (one-line help, handler taking the remaining argv).
EXTRA_COMMANDS: dict[str, tuple[str, Callable[[list[str]], int]]] = {}


def extra_command(name: str, help: str) -> Callable[[Callable[[list[str]], int]], Callable]:
    """Register ``actlab <name>`` (a function of the remaining arguments returning an exit code)."""

    def register(fn: Callable[[list[str]], int]) -> Callable[[list[str]], int]:
        EXTRA_COMMANDS[name] = (help, fn)
        return fn

    return register


_NOISE = ("Does not validate", "Subtypes:", "Errors:", "Given value type", "Expected a path but")


def _type_name(expected: str) -> str:
    """``<class 'int'>`` -> ``int``; ``typing.Literal['a', 'b']`` -> ``one of 'a', 'b'``."""
    literal = re.fullmatch(r"typing\.Literal\[(.*)\]", expected)
    if literal:
        return f"one of {literal.group(1)}"
    cls = re.fullmatch(r"<class '([\w.]+)'>", expected)
    if cls:
        return cls.group(1).rsplit(".", 1)[-1]
    if expected.startswith("dot import path string"):
        return "a class path"
    return expected


def condense_error(message: str) -> str:
    """Reduce jsonargparse's multi-line error to one line: the key, the given value, what is valid.

    jsonargparse explains a rejected value with every alternative type it tried, over several
    lines; this keeps the key, the value and the accepted types (``None`` left out).
    """
    key = re.search(r'Parser key "([^"]+)"', message)
    given = re.search(r"(?:Given|Got) value: (.*)$", message, re.M)
    problems = []
    first = message.strip().splitlines()[0] if message.strip() else ""
    rest_of_first = first[key.end() :].strip(" :") if key else ""
    for line in ([rest_of_first] if rest_of_first else []) + (
        message.splitlines()[1:] if key else []
    ):
        line = line.strip().lstrip("- ").strip()
        if not line or line.startswith(_NOISE) or line == "Expected a <class 'NoneType'>":
            continue
        problems.append(line)
    if not key:
        return re.sub(r"\s+", " ", message.strip()) or "invalid arguments"
    expected = [
        re.sub(r"\. Got value: .*$", "", p)[len("Expected a") :].strip(" n")
        for p in problems
        if p.startswith("Expected a")
    ]
    other = [
        p
        for p in problems
        if not p.startswith("Expected a") and not p.startswith(("Given value", "Got value"))
    ]
    text = f"invalid value for {key.group(1)!r}"
    if given:
        text += f": got {given.group(1).strip()!r}"
    if expected:
        valid = " or ".join(dict.fromkeys(_type_name(e) for e in expected))
        if valid == "a class path":
            valid = f"a class path (valid: {', '.join(_subclass_names(key.group(1)))})"
        text += f"; expected {valid}"
    if other:
        text += f"; {'; '.join(other)}"
    return text if len(text) < 800 else text[:797] + "..."


def _subclass_names(key: str) -> list[str]:
    """The classes a ``model`` or ``data`` key accepts, for error messages."""
    import actlab.data as data_pkg
    import actlab.tasks as task_pkg

    pkg, base = (
        (data_pkg, ActlabDataModule) if key.startswith("data") else (task_pkg, ClassificationModule)
    )
    return sorted(
        f"{pkg.__name__}.{name}"
        for name in getattr(pkg, "__all__", [])
        if isinstance(getattr(pkg, name), type)
        and issubclass(getattr(pkg, name), base)
        and getattr(pkg, name) is not ActlabDataModule
    )


def find_user_error(err: BaseException) -> ActlabError | None:
    """The :class:`ActlabError` behind ``err`` (jsonargparse wraps errors raised in ``__init__``)."""
    seen: set[int] = set()
    stack: list[BaseException | None] = [err]
    while stack:
        current = stack.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, ActlabError):
            return current
        stack += [current.__cause__, current.__context__]
    return None


def _find_key(tree: Any, name: str, path: tuple[str, ...] = ()) -> tuple[str, ...] | None:
    """Path of the first mapping key ``name`` in a nested YAML tree."""
    if isinstance(tree, dict):
        for key, value in tree.items():
            if key == name:
                return (*path, key)
            found = _find_key(value, name, (*path, str(key)))
            if found:
                return found
    return None


def unknown_option_message(name: str, argv: Sequence[str]) -> str:
    """Explain an unknown option ``name``: where it was given and the valid options there."""
    import importlib
    import inspect

    import yaml

    group, class_path = None, None
    trees = []
    for i, token in enumerate(argv[:-1]):
        if token in ("-c", "--config"):
            try:
                trees.append(yaml.safe_load(open(argv[i + 1])) or {})
            except (OSError, yaml.YAMLError):
                continue
    for token in argv:
        if token.startswith("--") and token.split("=")[0].endswith(f".{name}"):
            group = token[2:].split(".")[0]
    for tree in trees:
        found = _find_key(tree, name)
        if found and group is None:
            group = found[0]
    if group not in ("model", "data"):
        return f"unknown option {name!r}; `actlab fit --help` lists the valid ones"
    for tree in trees:
        class_path = (tree.get(group) or {}).get("class_path", class_path)
    for token in argv:
        if token.startswith(f"--{group}.class_path=") or token.startswith(f"--{group}="):
            class_path = token.split("=", 1)[1]
    cls: type = ClassificationModule if group == "model" else ActlabDataModule
    if class_path:
        module, _, attr = class_path.rpartition(".")
        try:
            cls = getattr(importlib.import_module(module or "actlab.data"), attr)
        except (ImportError, AttributeError):
            pass
    linked = {"self", "num_classes", "input_shape"}
    # data modules pass their base options on through **kwargs: option_names() walks the MRO
    names = getattr(cls, "option_names", lambda: list(inspect.signature(cls.__init__).parameters))()
    valid = [p for p in names if p not in linked or group == "data"]
    return unknown_name_message(f"option of {group} ({cls.__name__})", name, valid)


class ActlabArgumentParser(LightningArgumentParser):
    """LightningCLI's parser whose errors are one line, without usage text or traceback."""

    #: The command line being parsed, to explain unknown options (set by :func:`main`).
    argv: Sequence[str] = ()

    def error(self, message: str, ex: Exception | None = None) -> NoReturn:
        unknown = re.fullmatch(r"Option '(\w+)' is not accepted", message.strip())
        top = re.fullmatch(r"Subcommand '(\w+)' does not accept option '([\w.]+)'", message.strip())
        if unknown:
            text = unknown_option_message(unknown.group(1), self.argv)
        elif top:
            name = top.group(2).split(".")[0]
            valid = [
                "checkpoint", "ckpt_path", "data", "model", "seed_everything", "trainer", "tracking",
            ]  # fmt: skip
            text = unknown_name_message(f"top-level key of '{top.group(1)}'", name, valid)
        else:
            text = condense_error(message)
        print(f"actlab: error: {text}", file=sys.stderr)
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
            },
            args=list(args) if args is not None else None,
            run=run,
        )

    def _instantiate_trainer(self, config: dict[str, Any], callbacks: list) -> Any:
        """Add the rich progress bar unless progress bars are off or one is configured."""
        if config.get("enable_progress_bar") is not False and not any(
            isinstance(c, ProgressBar) for c in [*callbacks, *(config.get("callbacks") or [])]
        ):
            callbacks = [*callbacks, RichProgressBar()]
        return super()._instantiate_trainer(config, callbacks)

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

    def _describe_run(self) -> None:
        """Give the MLflow run its readable name and tags before it is created."""
        model, data = self.model, self.datamodule
        backbone = getattr(model, "hparams", {}).get("backbone", type(model).__name__)
        activation = getattr(model, "activation_name", "native")
        dataset = getattr(data, "name", type(data).__name__)
        for logger in self.trainer.loggers:
            if isinstance(logger, ActlabMLFlowLogger):
                logger.describe(model=str(backbone), activation=str(activation), dataset=dataset)

    def _logger(self) -> ActlabMLFlowLogger | None:
        for logger in self.trainer.loggers:
            if isinstance(logger, ActlabMLFlowLogger):
                return logger
        return None

    def before_fit(self) -> None:
        """Resume the checkpoint's MLflow run when one is given, then create the run.

        The run is created here, in the launching process, so that ``ddp_spawn`` workers and
        the tests after fit all write to this one run.
        """
        config = self.config_init[self.subcommand]
        logger = self._logger()
        ckpt_path = config.get("ckpt_path")
        if ckpt_path is not None and ckpt_path not in ("best", "hpc", "registry"):
            path = resolve_checkpoint(ckpt_path)
            config["ckpt_path"] = str(path)
            found = run_id_of_checkpoint(path)
            if logger is not None and found is not None:
                run_id, uri = found
                if uri in (None, logger.tracking_uri):
                    logger.resume(run_id)
                else:
                    print(
                        f"actlab: checkpoint's run {run_id} is in {uri}, not {logger.tracking_uri}:"
                        " starting a new run",
                        file=sys.stderr,
                    )
        self._describe_run()
        if logger is not None and self.trainer.is_global_zero:
            _ = logger.run_id

    def before_validate(self) -> None:
        self._describe_run()

    def before_test(self) -> None:
        self._describe_run()

    def after_fit(self) -> None:
        """Test the final weights into the same run, then print a short summary."""
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
        print_summary(self.trainer, final, best)


def print_summary(
    trainer: Any, test_metrics: dict[str, float], best_metrics: dict[str, float] | None = None
) -> None:
    """Print test accuracy (final and best checkpoint), the best validation epoch, the MLflow
    run id and how to open the UI (rank 0 only)."""
    if not trainer.is_global_zero:
        return
    console = Console(stderr=False)
    acc = test_metrics.get("test/acc")
    console.print()
    if acc is not None:
        console.print(
            f"[bold]test accuracy[/bold] {acc:.4f}   test loss {test_metrics.get('test/loss', float('nan')):.4f}"
        )
    tracking = next((c for c in trainer.callbacks if isinstance(c, TrackingCallback)), None)
    best_val = _best_validation(trainer, tracking)
    if best_val is not None:
        console.print(f"[bold]best val accuracy[/bold] {best_val[0]:.4f} at epoch {best_val[1]}")
    best_acc = (best_metrics or {}).get("test_best/acc")
    if best_acc is not None:
        console.print(f"[bold]test accuracy of the best checkpoint[/bold] {best_acc:.4f}")
    for logger in trainer.loggers:
        if isinstance(logger, ActlabMLFlowLogger):
            print_run(console, logger)


def print_run(console: Console, logger: ActlabMLFlowLogger) -> None:
    """Where the run is: its id and store, or what is still waiting for the tracking server."""
    from actlab.tracking.resilience import spool_dir

    left = logger.pending_writes()
    name, uri = logger._run_name, logger.tracking_uri
    if logger.pending:
        console.print(
            f"[bold yellow]MLflow run PENDING[/bold yellow] {logger.run_id}  ({name}): "
            f"the tracking server {uri} was unreachable, so the run is not created there yet; "
            f"everything it logged is kept in {spool_dir()}"
        )
        console.print(
            "when the server is back, run [bold]actlab sync[/bold] to create the run and send it"
        )
        return
    console.print(f"[bold]MLflow run[/bold] {logger.run_id}  ({name}) in {uri}")
    if left:
        console.print(
            f"[bold yellow]{left} writes[/bold yellow] could not reach {uri} and are kept in "
            f"{spool_dir()}: send them with [bold]actlab sync[/bold] when the server is back"
        )
    elif not uri.startswith("http"):
        console.print("open the UI with [bold]actlab ui[/bold]  ->  http://127.0.0.1:5000")


def _best_validation(trainer: Any, tracking: TrackingCallback | None) -> tuple[float, int] | None:
    """Best ``val/acc`` and its epoch: from the callback, or the run (``ddp_spawn`` workers)."""
    if tracking is not None and tracking.best_acc is not None and tracking.best_epoch is not None:
        return tracking.best_acc, tracking.best_epoch
    for logger in trainer.loggers:
        if isinstance(logger, ActlabMLFlowLogger):
            try:
                metrics = logger.experiment.get_run(logger.run_id).data.metrics
            except Exception:  # noqa: BLE001 - a summary line is not worth failing for
                return None
            if "val/best_acc" in metrics and "val/best_epoch" in metrics:
                return metrics["val/best_acc"], int(metrics["val/best_epoch"])
    return None


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
        ActlabArgumentParser.argv = args
        ActlabCLI(None if argv is None else args)
    except Exception as err:  # noqa: BLE001 - user errors become one line, bugs keep their traceback
        user_error = find_user_error(err)
        if user_error is None:
            raise
        print(f"actlab: error: {user_error}", file=sys.stderr)
        raise SystemExit(2) from None
