"""jsonargparse's errors as one line: the key, the given value and what is valid.

jsonargparse (the parser under LightningCLI) explains a rejected value with every alternative
type it tried, over many lines, in English. Where it passes structured information this module
uses it (the exception type, ``ex.subcommand_parser``, the parser's own keys); the key and the
given value are only in the message, so those are read from it. The messages are those of the
jsonargparse versions ``pyproject.toml`` admits; ``tests/test_bad_inputs.py`` pins each one.
"""

from __future__ import annotations

import contextlib
import contextvars
import difflib
import importlib
import inspect
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, NoReturn

from lightning.pytorch.cli import LightningArgumentParser

from actlab.cli.argv import option_values
from actlab.errors import unknown_name_message

#: Lines of jsonargparse's explanations that say nothing about the fix.
_NOISE = ("Does not validate", "Subtypes:", "Errors:", "Given value type", "Expected a path but")
#: Arguments of the task and data module that are linked, never set in a config.
LINKED = ("num_classes", "input_shape")


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


def subclass_names(key: str) -> list[str]:
    """The classes a ``model`` or ``data`` key accepts, for error messages."""
    import actlab.data as data_pkg
    import actlab.tasks as task_pkg
    from actlab.data import ActlabDataModule
    from actlab.tasks import ClassificationModule

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


def _class_path_problem(key: str, message: str) -> str | None:
    """``--data.class_path actlab.data.Nope``: "unknown data class ...; valid: ..."."""
    given = re.search(r"Problem with given class_path '([^']+)'", message)
    if not given:
        return None
    group = key.split(".")[0]
    valid = subclass_names(group) if group in ("model", "data") else []
    if not valid:
        return None
    if given.group(1) in valid:  # the class is fine: a nested class_path failed to import
        return _nested_activation_problem(message)
    kind = "data module" if group == "data" else "task"
    return unknown_name_message(f"{kind} class for {group}", given.group(1), valid)


def _nested_activation_problem(message: str) -> str | None:
    """jsonargparse imports every ``class_path`` it meets, an activation spec's
    (``activation: {class_path: myacts.Snake}``) included: the activation resolver's own one
    line (module that does not import, missing attribute) instead of "unknown task class"."""
    import ast

    nested = re.search(r"NestedArg\(key='([\w.]+)', val=(.*)\)\s*$", message, re.M)
    if not nested:
        return None
    try:
        value = ast.literal_eval(nested.group(2))
    except (ValueError, SyntaxError):
        return None
    from actlab.activations import resolve_activation
    from actlab.errors import ActlabError

    try:
        resolve_activation(value)
    except ActlabError as err:
        return f"model.{nested.group(1)}: {err}"
    return None


def qualified_key(key: str, argv: Sequence[str]) -> str:
    """``head`` -> ``model.head`` when the command line or its configs set it under ``model``:
    jsonargparse names a class's option relative to the class."""
    if "." in key or not argv:
        return key
    for token in argv:
        flag = token.split("=")[0]
        for group in ("model", "data"):
            if flag in (f"--{group}.{key}", f"--{group}.init_args.{key}"):
                return f"{group}.{key}"
    for tree in config_trees(argv):
        found = _find_key(tree, key)
        if found and found[0] in ("model", "data"):
            return f"{found[0]}.{key}"
    return key


def condense_error(message: str, argv: Sequence[str] = ()) -> str:
    """Reduce jsonargparse's multi-line error to one line: the key, the given value, what is valid.

    jsonargparse explains a rejected value with every alternative type it tried, over several
    lines; this keeps the key, the value and the accepted types (``None`` left out).
    """
    key = re.search(r'Parser key "([^"]+)"', message)
    if not key:
        return re.sub(r"\s+", " ", message.strip()) or "invalid arguments"
    class_path = _class_path_problem(key.group(1), message)
    if class_path:
        return class_path
    given = re.search(r"(?:Given|Got) value: (.*)$", message, re.M)
    problems = []
    first = message.strip().splitlines()[0]
    rest_of_first = first[key.end() :].strip(" :")
    for line in ([rest_of_first] if rest_of_first else []) + message.splitlines()[1:]:
        line = line.strip().lstrip("- ").strip()
        if not line or line.startswith(_NOISE) or line == "Expected a <class 'NoneType'>":
            continue
        problems.append(line)
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
    text = f"invalid value for {qualified_key(key.group(1), argv)!r}"
    if given:
        text += f": got {given.group(1).strip()!r}"
    if expected:
        valid = " or ".join(dict.fromkeys(_type_name(e) for e in expected))
        if valid == "a class path":
            valid = f"a class path (valid: {', '.join(subclass_names(key.group(1)))})"
        text += f"; expected {valid}"
    if other:
        text += f"; {'; '.join(other)}"
    return text if len(text) < 800 else text[:797] + "..."


def _load_yaml(path: Path) -> Any:
    import yaml

    from actlab import yamlfile

    try:
        return yamlfile.safe_load(path.read_text())
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None


def config_trees(argv: Sequence[str], cwd: Path | None = None) -> Iterator[dict[str, Any]]:
    """The YAML mappings a command line loads: its ``--config`` files, and the files their
    ``model:``/``data:`` keys name (relative to the config that names them, as jsonargparse
    resolves them), then ``--model FILE``/``--data FILE``."""
    cwd = cwd or Path.cwd()
    for flag, value in option_values(argv, "-c", "--config", "--model", "--data"):
        if flag in ("-c", "--config"):
            path = cwd / value
            tree = _load_yaml(path)
            if isinstance(tree, dict):
                yield tree
                for group in ("model", "data"):
                    if isinstance(tree.get(group), str) and tree[group].endswith((".yaml", ".yml")):
                        nested = _load_yaml(path.parent / tree[group])
                        if isinstance(nested, dict):
                            yield {group: nested}
        elif flag in ("--model", "--data") and value.endswith((".yaml", ".yml")):
            nested = _load_yaml(cwd / value)
            if isinstance(nested, dict):
                yield {flag[2:]: nested}


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
    """Explain an unknown option ``name`` of a class: where it was given and the valid options."""
    from actlab.data import ActlabDataModule
    from actlab.tasks import ClassificationModule

    group, class_path = None, None
    trees = list(config_trees(argv))
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
        section = tree.get(group)
        if isinstance(section, dict):
            class_path = section.get("class_path", class_path)
    for _, value in option_values(argv, f"--{group}.class_path", f"--{group}"):
        if not value.endswith((".yaml", ".yml")):
            class_path = value
    cls: type = ClassificationModule if group == "model" else ActlabDataModule
    if class_path:
        module, _, attr = class_path.rpartition(".")
        try:
            cls = getattr(importlib.import_module(module or "actlab.data"), attr)
        except (ImportError, AttributeError):
            pass
    # data modules pass their base options on through **kwargs: option_names() walks the MRO
    names = getattr(cls, "option_names", lambda: list(inspect.signature(cls.__init__).parameters))()
    valid = [p for p in names if p != "self" and (p not in LINKED or group == "data")]
    return unknown_name_message(f"option of {group} ({cls.__name__})", name, valid)


def parser_keys(parser: Any) -> list[str]:
    """Every dotted key a (sub)command parser accepts, e.g. ``trainer.max_epochs``."""
    keys = []
    for action in getattr(parser, "_actions", []):
        dest = getattr(action, "dest", "")
        if dest and dest not in ("help", "config", "print_config") and not dest.startswith("_"):
            keys.append(dest)
    return keys


def unknown_key_message(subcommand: str, key: str, parser: Any) -> str:
    """``trainer.max_epoch`` -> "unknown option 'trainer.max_epoch' of 'fit'; did you mean
    'trainer.max_epochs'? valid: trainer.accelerator, ..." (the top-level keys if ``key``'s own
    group is unknown)."""
    keys = parser_keys(parser)
    group = key.split(".")[0]
    top = sorted({k.split(".")[0] for k in keys})
    if "." in key and group in top:
        within = [k for k in keys if k.startswith(f"{group}.")]
        close = difflib.get_close_matches(key, within, n=3, cutoff=0.6)
        text = f"unknown option {key!r} of '{subcommand}'; "
        if close:
            text += f"did you mean {', '.join(repr(c) for c in close)}? "
        names = ", ".join(k.removeprefix(f"{group}.") for k in within)
        return text + f"valid options of {group}: {names}"
    return unknown_name_message(f"top-level key of '{subcommand}'", group, top)


#: The command line being parsed (set by :func:`parsing`): jsonargparse reports an unknown
#: option of a class from a nested parser of its own, which knows neither argv nor the class.
_ARGV: contextvars.ContextVar[Sequence[str]] = contextvars.ContextVar("actlab_argv", default=())


@contextlib.contextmanager
def parsing(argv: Sequence[str]) -> Iterator[None]:
    """Within the block, parser errors are explained with the command line ``argv``."""
    token = _ARGV.set(list(argv))
    try:
        yield
    finally:
        _ARGV.reset(token)


class ActlabArgumentParser(LightningArgumentParser):
    """LightningCLI's parser whose errors are one line, without usage text or traceback."""

    def error(self, message: str, ex: Exception | None = None) -> NoReturn:
        from actlab.cli import fail

        text = message.strip()
        unknown = re.fullmatch(r"Option '(\w+)' is not accepted", text)
        top = re.fullmatch(r"Subcommand '(\w+)' does not accept option '([\w.]+)'", text)
        empty = re.match(r"Unexpected config: ", text)
        if unknown:
            text = unknown_option_message(unknown.group(1), _ARGV.get())
        elif top:
            parser = getattr(ex, "subcommand_parser", None) or self
            text = unknown_key_message(top.group(1), top.group(2), parser)
        elif empty:
            text = (
                "a config must be a mapping of top-level keys (trainer, model, data, ...); "
                f"got {text[len(empty.group(0)) :].strip()[:80]!r}"
            )
        else:
            text = condense_error(message, _ARGV.get())
        fail(text)
