"""Reading docker/compose.yaml the way Docker Compose does, for tests that have no Docker engine.

`load_compose` parses the YAML (anchors and merge keys included) and interpolates ``${VAR}``,
``${VAR:-default}``, ``${VAR-default}``, ``${VAR:?error}``, ``${VAR?error}`` and ``$$`` from a given
environment, the subset of Compose's interpolation the file uses.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
DOCKER_DIR = REPO_ROOT / "docker"
COMPOSE_FILE = DOCKER_DIR / "compose.yaml"
ENV_EXAMPLE = DOCKER_DIR / ".env.example"
#: Both images' entrypoint: exports the secrets named by *_FILE variables, then runs the command.
SECRET_ENV = DOCKER_DIR / "secret-env.sh"

_VARIABLE = re.compile(
    r"\$(?:(?P<escaped>\$)|\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}"
    r"|(?P<bare>[A-Za-z_][A-Za-z0-9_]*))"
)


class InterpolationError(KeyError):
    """A ``${VAR:?message}`` variable was unset or empty (Compose refuses such a file)."""


def interpolate(text: str, env: Mapping[str, str]) -> str:
    """Substitute Compose variables in ``text`` from ``env``."""

    def replace(match: re.Match[str]) -> str:
        if match["escaped"]:
            return "$"
        name = match["name"] or match["bare"]
        op, arg = match["op"], match["arg"] or ""
        value = env.get(name)
        if op in (":-", ":?"):
            missing = not value
        else:
            missing = value is None
        if not missing:
            return value
        if op in (":-", "-"):
            return arg
        if op in (":?", "?"):
            raise InterpolationError(f"{name}: {arg}")
        return ""

    return _VARIABLE.sub(replace, text)


def _interpolate_tree(node: Any, env: Mapping[str, str]) -> Any:
    if isinstance(node, str):
        return interpolate(node, env)
    if isinstance(node, list):
        return [_interpolate_tree(item, env) for item in node]
    if isinstance(node, dict):
        return {key: _interpolate_tree(value, env) for key, value in node.items()}
    return node


def raw_compose() -> dict[str, Any]:
    """The compose file as parsed YAML, before interpolation."""
    return yaml.safe_load(COMPOSE_FILE.read_text())


def load_compose(env: Mapping[str, str]) -> dict[str, Any]:
    """The compose file interpolated with ``env`` (raises `InterpolationError` like Compose)."""
    return _interpolate_tree(raw_compose(), env)


def read_env_file(path: Path = ENV_EXAMPLE) -> dict[str, str]:
    """``KEY=value`` lines of an env file (comments and blank lines skipped)."""
    values: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        assert sep, f"{path}: not KEY=value: {line!r}"
        values[key.strip()] = value.strip()
    return values


def option_value(command: list[str], flag: str) -> str:
    """The value after ``flag`` in an exec-form command."""
    assert command.count(flag) == 1, f"{flag} must appear once in {command}"
    return command[command.index(flag) + 1]


def replace_option(command: list[str], flag: str, value: str) -> list[str]:
    """A copy of ``command`` with the value after ``flag`` replaced."""
    index = command.index(flag) + 1
    return [*command[:index], value, *command[index + 1 :]]
