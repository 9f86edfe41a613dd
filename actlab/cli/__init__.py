"""The ``actlab`` command: LightningCLI's fit/validate/test/predict plus actlab's own subcommands.

:func:`main` only dispatches: each subcommand's module is imported when it runs
(:mod:`actlab.cli.commands` names where each lives), so ``actlab --help``, ``report``, ``sync``,
``ui`` and ``sweep`` load neither torch, Lightning nor timm. The pieces of the training commands:
:mod:`~actlab.cli.training` (LightningCLI subclass: resume, naming, the second test, signals),
:mod:`~actlab.cli.errors` (jsonargparse's errors as one line), :mod:`~actlab.cli.summary`
(what is printed after a fit).
"""

from __future__ import annotations

import signal
import sys
import traceback
from collections.abc import Sequence
from typing import Any, NoReturn

import actlab
from actlab.cli.commands import COMMANDS, load
from actlab.cli.config_files import check_config_files
from actlab.cli.early_options import check_option_names
from actlab.cli.packaged_configs import resolve_config_args
from actlab.errors import find_user_error, one_line, unknown_name_message
from actlab.tracking.store import check_store

#: Exit status of bad input (as argparse uses).
USAGE_ERROR = 2
#: Exit status of a bug, an unexpected exception (``EX_SOFTWARE`` of sysexits.h): not 1, which
#: says training diverged.
BUG = 70


def fail(message: str, code: int = USAGE_ERROR) -> NoReturn:
    """Print ``actlab: error: <message>`` as one line on stderr and exit with ``code``."""
    line = one_line(message) or "invalid arguments"
    print(f"actlab: error: {line}", file=sys.stderr, flush=True)
    raise SystemExit(code)


def print_help() -> None:
    """Top-level help: Lightning's subcommands and actlab's own."""
    training = [(n, c.help) for n, c in COMMANDS.items() if c.group == "training"]
    own = sorted((n, c.help) for n, c in COMMANDS.items() if c.group == "actlab")
    lines = [
        f"actlab {actlab.__version__}: activation-function experiments on timm backbones, tracked in MLflow.",
        "",
        "usage: actlab <command> [options]      (actlab <command> --help for a command's options)",
        "",
        "training (LightningCLI; --config FILE ..., --print_config, --trainer.* --model.* --data.*):",
        *(f"  {name:<10} {help}" for name, help in training),
        "",
        "actlab:",
        *(f"  {name:<10} {help}" for name, help in own),
        "",
        "options: -h/--help, --version",
    ]
    print("\n".join(lines))


def uses_default_store(args: Sequence[str]) -> bool:
    """Whether a training command line will write to the store (no ``--help``,
    ``--print_config`` or ``--trainer.logger false``)."""
    if any(a in ("-h", "--help") or a.startswith("--print_config") for a in args):
        return False
    for flag, value in zip(args, args[1:], strict=False):
        if flag == "--trainer.logger" and value.lower() in ("false", "null", "none"):
            return False
    return not any(a.lower() in ("--trainer.logger=false", "--trainer.logger=null") for a in args)


def importable_current_folder() -> None:
    """Put the working folder first on ``sys.path``, as ``python -m`` does, so that a
    ``myacts.py`` beside the config is importable by its activation spec (and by jsonargparse's
    ``class_path``) from the console script too."""
    import os

    cwd = os.getcwd()
    if cwd not in sys.path and "" not in sys.path:
        sys.path.insert(0, cwd)


def adopt_credentials_of(args: list[str]) -> list[str]:
    """Move the credentials of ``MLFLOW_TRACKING_URI`` and of any ``http(s)://user:pass@host``
    argument to MLflow's ``MLFLOW_TRACKING_USERNAME``/``PASSWORD`` (see
    :func:`actlab.tracking.store.adopt_credentials`); returns the arguments without them."""
    import os

    from actlab.tracking.store import TRACKING_URI_ENV, adopt_credentials

    if os.environ.get(TRACKING_URI_ENV):
        os.environ[TRACKING_URI_ENV] = adopt_credentials(os.environ[TRACKING_URI_ENV])
    adopted = []
    for arg in args:
        flag, eq, value = arg.partition("=") if arg.startswith("--") else ("", "", arg)
        adopted.append(f"{flag}{eq}{adopt_credentials(value)}" if "://" in value else arg)
    return adopted


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``actlab`` console script and ``python -m actlab``; exits with the
    command's status (2 for bad input, reported as one ``actlab: error:`` line)."""
    args = list(sys.argv[1:] if argv is None else argv)
    importable_current_folder()
    if not args or args[0] in ("-h", "--help"):
        print_help()
        raise SystemExit(0)
    if args[0] == "--version":
        print(f"actlab {actlab.__version__}")
        raise SystemExit(0)
    args = adopt_credentials_of(args)
    if argv is None:
        sys.argv[1:] = args  # LightningCLI reads sys.argv itself
    try:
        if args[0].startswith("-"):  # LightningCLI's options before the subcommand
            from actlab.cli.training import run

            code = run(args)
        elif args[0] in COMMANDS:
            if COMMANDS[args[0]].group == "training":  # one line, before torch is imported
                args = resolve_config_args(args)
                check_option_names(args[1:])
                check_config_files(args)
                if uses_default_store(args):
                    check_store()
            code = load(args[0])(args[1:])
        else:
            fail(unknown_name_message("command", args[0], list(COMMANDS)))
    except KeyboardInterrupt:  # Ctrl-C outside a fit (a fit exits 130 itself): one line
        fail("interrupted by SIGINT (Ctrl-C)", 128 + signal.SIGINT)
    except Exception as err:  # noqa: BLE001 - user errors become one line, bugs keep their traceback
        from actlab.cli.disk_full import DISK_FULL, disk_full_line

        full = disk_full_line(err)  # a full disk is no bug: one line, exit 74
        if full is not None:
            fail(full, DISK_FULL)
        user_error = find_user_error(err)
        if user_error is None:
            traceback.print_exc()
            print(  # the last line, as a sweep records it: the error, then what it is
                f"actlab: bug: {type(err).__name__}: {one_line(str(err))[:500]} (exit status "
                f"{BUG}: please report it with the traceback above)",
                file=sys.stderr,
                flush=True,
            )
            raise SystemExit(BUG) from err
        fail(str(user_error), getattr(user_error, "exit_code", USAGE_ERROR))
    raise SystemExit(code)


def __getattr__(name: str) -> Any:
    """``ActlabCLI`` and ``ActlabArgumentParser`` stay importable from here (loaded on use)."""
    if name == "ActlabCLI":
        from actlab.cli.training import ActlabCLI

        return ActlabCLI
    if name == "ActlabArgumentParser":
        from actlab.cli.errors import ActlabArgumentParser

        return ActlabArgumentParser
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
