"""The ``--config`` files of a training command, checked before anything heavy is imported:
a missing, empty, binary, non-YAML or non-mapping file is one line naming the file and the fix."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from actlab.cli.argv import option_values
from actlab.errors import ActlabError

#: Top-level sections of a training config that must be mappings when given.
MAPPING_SECTIONS = ("trainer", "tracking", "checkpoint")


def check_config_file(value: str, cwd: Path | None = None) -> None:
    """Raise :class:`ActlabError` with one line if the ``--config`` file ``value`` cannot be a
    config: missing, a folder, empty, not UTF-8 text, not YAML, or not a mapping of sections.

    Values that are not file names (jsonargparse also takes a YAML string) are left alone.
    """
    import yaml

    from actlab import yamlfile

    if "\n" in value or value.lstrip().startswith(("{", "[")):
        return
    path = (cwd or Path.cwd()) / value
    if path.is_dir():
        raise ActlabError(f"config {value} is a folder, not a YAML file")
    if not path.is_file():
        raise ActlabError(
            f"config {value}: no such file (looked in {path.parent}) nor packaged config "
            "(actlab configs lists them)"
        )
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        kind = "binary" if b"\x00" in data[:1024] else "non-UTF-8"
        msg = (
            f"config {value} is not a text file in UTF-8 ({kind}: byte {data[err.start]:#04x} "
            f"at offset {err.start}); a config is a YAML file"
        )
        raise ActlabError(msg) from None
    if "\x00" in text:
        raise ActlabError(
            f"config {value} is not a text file (it holds NUL bytes); a config is a YAML file"
        )
    try:
        tree = yamlfile.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise ActlabError(f"config {value} is not valid YAML{where}: {problem}") from None
    sections = "trainer, model, data, tracking, checkpoint, ckpt_path, seed_everything"
    if tree is None:
        raise ActlabError(
            f"config {value} is empty; a config maps sections ({sections}) to settings"
        )
    if not isinstance(tree, dict):
        msg = (
            f"config {value} must be a mapping of sections ({sections}); "
            f"got a {type(tree).__name__}"
        )
        raise ActlabError(msg)
    for section in MAPPING_SECTIONS:
        if section in tree and tree[section] is not None and not isinstance(tree[section], dict):
            msg = (
                f"config {value}: {section} must be a mapping of {section} options, "
                f"got {type(tree[section]).__name__} {tree[section]!r}"
            )
            raise ActlabError(msg)


def check_config_files(argv: Sequence[str]) -> None:
    """:func:`check_config_file` for every ``--config``/``-c`` value of a command line."""
    for _, value in option_values(argv, "-c", "--config"):
        check_config_file(value)
