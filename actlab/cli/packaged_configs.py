"""The configs that come with the package: the quickstart, the papers' sweeps, the showcase and
the recipes, usable by name from any folder after ``pip install actlab``.

The repository's ``configs/`` folder is the package's ``actlab/configs`` (a link in the source
tree, package data in the wheel), so the relative ``base:`` paths inside a packaged sweep resolve
next to it as they do in a clone. A name resolves to a packaged file only when no such file
exists where the command runs: a file always wins.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

#: Suffixes a config name may leave out.
SUFFIXES = (".yaml", ".yml")


def packaged_root() -> Path:
    """The folder of the packaged configs (``actlab/configs``)."""
    import actlab

    return Path(actlab.__file__).resolve().parent / "configs"


def packaged_path(name: str, *, sweep: bool = False, file_wins: bool = True) -> Path | None:
    """The packaged file ``name`` stands for, or ``None``: ``name`` itself, ``name.yaml``, and for
    a sweep a folder's ``sweep.yaml`` (``papers/004_cpaf``). Absolute paths, names leaving the
    configs folder and (with ``file_wins``) names that exist where the command runs give ``None``."""
    if not name or Path(name).is_absolute() or "\n" in name:
        return None
    if file_wins and Path(name).exists():
        return None
    root = packaged_root()
    base = (root / name).resolve()
    if not base.is_relative_to(root.resolve()):
        return None
    candidates = [base, *(base.with_name(base.name + s) for s in SUFFIXES)]
    if sweep:
        candidates.append(base / "sweep.yaml")
    return next((c for c in candidates if c.is_file()), None)


def resolve(name: str, *, sweep: bool = False) -> str:
    """``name`` itself when it is a file (or names no packaged config), else the packaged path."""
    found = packaged_path(name, sweep=sweep)
    return str(found) if found is not None else name


def resolve_config_args(argv: Sequence[str]) -> list[str]:
    """A training command line with each ``--config``/``-c`` value that names a packaged config
    (and no file here) replaced by its packaged path."""
    out = list(argv)
    for i, token in enumerate(out):
        if token.startswith("--config="):
            out[i] = "--config=" + resolve(token.split("=", 1)[1])
        elif i > 0 and out[i - 1] in ("-c", "--config"):
            out[i] = resolve(token)
    return out


@dataclass(frozen=True)
class PackagedConfig:
    """One packaged config: ``name`` as commands take it, ``kind`` (sweep or config) and the first
    line of its header comment."""

    name: str
    kind: str
    about: str
    path: Path


def is_sweep(text: str) -> bool:
    """Whether a YAML file's text is a sweep file (a top-level ``grid``)."""
    return any(line.startswith("grid:") for line in text.splitlines())


def list_configs() -> list[PackagedConfig]:
    """Every packaged config, sorted by name; a sweep file named ``sweep.yaml`` goes by its
    folder's name."""
    root = packaged_root()
    found = []
    for path in sorted(root.glob("**/*.y*ml")):
        text = path.read_text(encoding="utf-8")
        relative = path.relative_to(root)
        kind = "sweep" if is_sweep(text) else "config"
        name = relative.parent if relative.name == "sweep.yaml" else relative.with_suffix("")
        comment = next((ln for ln in text.splitlines() if ln.startswith("#")), "")
        found.append(PackagedConfig(name.as_posix(), kind, comment.lstrip("# ").strip(), path))
    return sorted(found, key=lambda c: c.name)


def configs(argv: list[str]) -> int:
    """``actlab configs``: list the packaged configs, or print one's path or text."""
    from actlab.cli.parsing import OneLineArgumentParser
    from actlab.errors import ActlabError, unknown_name_message

    parser = OneLineArgumentParser(
        prog="actlab configs",
        description="The configs that come with actlab. Use a name where a file goes: "
        "actlab fit --config quickstart, actlab sweep papers/004_cpaf (a file of that name "
        "in the working folder wins).",
    )
    parser.add_argument("name", nargs="?", help="print this config's text")
    parser.add_argument("--path", action="store_true", help="print its path instead")
    args = parser.parse_args(argv)
    listed = list_configs()
    if args.name is None:
        if args.path:
            print(packaged_root())
            return 0
        width = max(len(c.name) for c in listed)
        for c in listed:
            print(f"{c.name:<{width}}  {c.kind:<6}  {c.about}")
        print(f"{len(listed)} configs in {packaged_root()}")
        return 0
    path = packaged_path(args.name, sweep=True, file_wins=False)
    if path is None:
        names = [c.name for c in listed]
        raise ActlabError(unknown_name_message("packaged config", args.name, names))
    if args.path:
        print(path)
    else:
        print(path.read_text(encoding="utf-8"), end="")
    return 0
