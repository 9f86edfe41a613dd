"""Every ``actlab`` subcommand and where it lives, as ``"module:function"``: a leaf module.

Nothing here imports a subcommand's module; :func:`load` imports it when the command runs, so
``actlab --help`` and the light commands never pay for torch, Lightning or timm. Each function
takes the arguments after the command's name and returns the exit status.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class Command:
    """One subcommand: ``target`` is ``"module:function"``, ``help`` its line in ``--help``."""

    target: str
    help: str
    group: Literal["training", "actlab"] = "actlab"


#: Subcommand name -> where it lives; LightningCLI's four first, then actlab's own.
COMMANDS: dict[str, Command] = {
    "fit": Command(
        "actlab.cli.training:fit", "train, then test the final weights; logs to MLflow", "training"
    ),
    "validate": Command(
        "actlab.cli.training:validate",
        "run one evaluation epoch on the validation split",
        "training",
    ),
    "test": Command(
        "actlab.cli.training:test", "run one evaluation epoch on the test split", "training"
    ),
    "predict": Command("actlab.cli.training:predict", "predict the test split", "training"),
    "sweep": Command(
        "actlab.sweep.command:sweep",
        "run a sweep file's grid of runs (resumable, parallel, failures recorded)",
    ),
    "report": Command(
        "actlab.report.command:report",
        "table a metric over an experiment or sweep (mean ± std, paper numbers)",
    ),
    "activations": Command(
        "actlab.cli.activations:activations",
        "list every activation (built-in, plugin, import path): trainable, arguments",
    ),
    "configs": Command(
        "actlab.cli.packaged_configs:configs",
        "list the configs that come with actlab (quickstart, papers, showcase, recipes)",
    ),
    "sync": Command(
        "actlab.cli.sync:sync",
        "send what runs kept in mlruns/spool while the tracking server was down (creates pending runs)",
    ),
    "ui": Command(
        "actlab.cli.ui:ui", "open the MLflow UI on the tracking store (127.0.0.1:5000 by default)"
    ),
}


def load(name: str) -> Callable[[list[str]], int]:
    """Import the function of subcommand ``name`` (a key of :data:`COMMANDS`)."""
    module, _, function = COMMANDS[name].target.partition(":")
    return getattr(importlib.import_module(module), function)
