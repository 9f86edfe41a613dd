"""A training command's misspelt options, reported before torch and Lightning are imported.

LightningCLI builds its parser from the classes' signatures, so it can only say "unrecognized
arguments" after importing torch, Lightning, torchmetrics and timm (5-8 s of CPU). Two kinds of
mistake need no import: a section that does not exist (``--trainr.max_epochs``) and a Trainer
option that does not exist or an integer option given a non-integer (``--trainer.max_epoch``,
``--trainer.max_epochs abc``), read from the signature in Lightning's source with :mod:`ast`.
Anything else is left to the parser. ``tests/cli/test_early_options.py`` checks both lists
against the real parser's help.
"""

from __future__ import annotations

import ast
import functools
import importlib.util
from collections.abc import Sequence
from pathlib import Path

from actlab.errors import ActlabError, unknown_name_message

#: The top-level options of actlab's training commands (``actlab fit --help``), union over
#: fit, validate, test and predict; ``help`` and ``config`` come from jsonargparse.
SECTIONS = frozenset(
    {
        "help",
        "config",
        "print_config",
        "seed_everything",
        "trainer",
        "model",
        "data",
        "tracking",
        "checkpoint",
        "ckpt_path",
        "weights_only",
        "verbose",
        "return_predictions",
    }
)


def _annotation_names(node: ast.expr | None) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)} if node else set()


@functools.cache
def trainer_options() -> dict[str, set[str]]:
    """``lightning.Trainer.__init__``'s parameters -> the type names in their annotations,
    read from Lightning's source without importing it (``{}`` if it cannot be read)."""
    spec = importlib.util.find_spec("lightning")
    if spec is None or not spec.submodule_search_locations:
        return {}
    source = Path(spec.submodule_search_locations[0]) / "pytorch" / "trainer" / "trainer.py"
    try:
        tree = ast.parse(source.read_text(encoding="utf-8"))
    except (OSError, SyntaxError):
        return {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and node.name == "Trainer":
            for item in node.body:
                if isinstance(item, ast.FunctionDef) and item.name == "__init__":
                    args = [*item.args.args, *item.args.kwonlyargs][1:]  # without self
                    return {a.arg: _annotation_names(a.annotation) for a in args}
    return {}


def _loads(value: str) -> object:
    """``value`` as jsonargparse reads a command-line value (YAML); unparsable text stays text."""
    import yaml

    from actlab import yamlfile

    try:
        return yamlfile.safe_load(value)
    except yaml.YAMLError:
        return value


def check_option_names(argv: Sequence[str]) -> None:
    """Raise :class:`ActlabError` with one line for the first misspelt section or Trainer option
    of a training command line (``argv`` after the command's name), or an integer-only Trainer
    option given something else."""
    if any(a in ("-h", "--help") for a in argv):
        return
    trainer = trainer_options()
    for index, token in enumerate(argv):
        if not token.startswith("--"):
            continue
        name, has_value, value = token[2:].partition("=")
        name = name.rstrip("+")  # --trainer.callbacks+=...
        section, _, rest = name.partition(".")
        if section not in SECTIONS:
            raise ActlabError(
                unknown_name_message("option", f"--{section}", [f"--{s}" for s in SECTIONS])
            )
        if section != "trainer" or not rest or not trainer:
            continue
        key = rest.split(".")[0]
        if key == "help":
            continue
        if key not in trainer:  # worded as the parser words it for a config file
            valid = [f"trainer.{k}" for k in trainer]
            raise ActlabError(unknown_name_message("option", f"trainer.{key}", valid))
        if not has_value:
            value = argv[index + 1] if index + 1 < len(argv) else ""
        if "." not in rest and trainer[key] <= {"int", "Optional"} and "int" in trainer[key]:
            loaded = _loads(value)
            nullable = "Optional" in trainer[key]
            if not (type(loaded) is int or (nullable and loaded is None)):
                expected = "int or null" if nullable else "int"
                raise ActlabError(
                    f"invalid value for 'trainer.{key}': got {value!r}; expected {expected}"
                )
