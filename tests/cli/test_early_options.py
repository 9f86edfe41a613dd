"""Misspelt sections and Trainer options fail in a fraction of a second, before torch is imported,
with the names the real parser knows."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from actlab.cli.early_options import SECTIONS, check_option_names, trainer_options
from actlab.errors import ActlabError
from tests.helpers import REPO, run_actlab


def help_options(command: str, capsys) -> set[str]:
    assert run_actlab([command, "--help"]) == 0
    return set(re.findall(r"^\s+(?:-\w(?: [A-Z_]+)?, )?--([\w.]+)", capsys.readouterr().out, re.M))


def test_the_lists_are_the_real_parsers(capsys) -> None:
    sections = set()
    for command in ("fit", "validate", "test", "predict"):
        options = help_options(command, capsys)
        sections |= {o.split(".")[0] for o in options}
        if command == "fit":
            trainer = {o.split(".")[1] for o in options if o.startswith("trainer.")}
    assert sections == SECTIONS
    assert trainer == set(trainer_options())
    assert trainer_options()["max_epochs"] == {"Optional", "int"}


@pytest.mark.parametrize(
    "args",
    [
        ["--trainer.max_epochs", "3"],
        ["--trainer.max_epochs=null", "--print_config"],
        ["--trainer.callbacks+=lightning.pytorch.callbacks.EarlyStopping"],
        ["--trainer.logger.init_args.experiment_name", "x"],
        ["--model.help", "actlab.tasks.ClassificationModule"],
        ["--trainer.bogus", "1", "--help"],
    ],
)
def test_valid_command_lines_pass(args) -> None:
    check_option_names(args)


#: runs ``actlab`` (argv from the command line) and, at exit, writes which heavy packages it had
#: imported to the file named by ``ACTLAB_TEST_IMPORTS``.
IMPORTS_AT_EXIT = """
import atexit, os, sys
heavy = ("torch", "lightning", "mlflow", "timm")
atexit.register(lambda: open(os.environ["ACTLAB_TEST_IMPORTS"], "w").write(
    " ".join(m for m in heavy if m in sys.modules)))
from actlab.cli import main
main(sys.argv[1:])
"""


@pytest.mark.parametrize(
    "option, expected",
    [
        (["--trainr.max_epochs", "1"], "unknown option '--trainr'; did you mean '--trainer'"),
        (
            ["--trainer.max_epoch", "1"],
            "unknown option 'trainer.max_epoch'; did you mean 'trainer.max_epochs'",
        ),
        (
            ["--trainer.max_epochs", "abc"],
            "invalid value for 'trainer.max_epochs': got 'abc'; expected int or null",
        ),
        (
            ["--trainer.num_nodes=1.5"],
            "invalid value for 'trainer.num_nodes': got '1.5'; expected int",
        ),
    ],
)
def test_a_misspelt_option_fails_before_torch_is_imported(option, expected, tmp_path) -> None:
    """What makes the error cheap (issue 29 measured a fraction of a CPU second): the command
    line is checked before torch, Lightning, MLflow or timm is imported. Checked by what the
    process imported, not by timing it."""
    with pytest.raises(ActlabError, match=re.escape(expected)):
        check_option_names(option)
    imports = tmp_path / "imports.txt"
    done = subprocess.run(
        [sys.executable, "-c", IMPORTS_AT_EXIT, "fit", "--config", "quickstart", *option],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO), "ACTLAB_MLRUNS": str(tmp_path / "m"),
             "ACTLAB_TEST_IMPORTS": str(imports)},
    )  # fmt: skip
    assert done.returncode == 2 and done.stderr == f"actlab: error: {done.stderr[15:]}"
    assert expected in done.stderr and done.stderr.count("\n") == 1
    assert imports.read_text() == "", f"imported before the error: {imports.read_text()}"
