"""A run config as ``actlab fit`` reads it: parsed by the CLI's own parser, and its config hash.

A sweep checks every run config with this parser before it starts any run (a grid that sets an
unknown option, a bad value or a missing include stops the sweep in one line), and both the
sweep and ``actlab report`` identify a run's configuration by :func:`actlab.sweep.spec.config_hash`
of the config this parser resolves: code defaults filled in, included files read, the seed and
fold left out. ``actlab fit`` tags its run with the same hash of the config it parsed
(:mod:`actlab.cli.lifecycle`), so a run made any other way (``--set``, another sweep file, a
continued run) has another hash unless its config is the same.

Imports torch, Lightning and timm (the parser imports every ``class_path``): only sweeps and
reports that need the hashes load this module.
"""

from __future__ import annotations

import contextlib
import io
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from actlab.errors import ActlabError
from actlab.sweep.spec import REPLICATE_KEYS, RunSpec, SweepSpec, replicate_of, resolved_hash


class _Parsed(Exception):  # noqa: N818 - a signal, not an error
    """Carries the parsed config out of :class:`_ParseOnly` before anything is instantiated."""

    def __init__(self, config: Any) -> None:
        super().__init__("parsed")
        self.config = config


def _parse_only_cli() -> type:
    from lightning.pytorch.cli import LightningCLI

    from actlab.cli.errors import parsing
    from actlab.cli.lifecycle import ActlabCLI

    class _ParseOnly(ActlabCLI):
        """``actlab fit``'s parser; stops before seeding, the store or any instance."""

        def parse_arguments(self, parser: Any, args: Any) -> None:
            with parsing(self._argv):
                LightningCLI.parse_arguments(self, parser, args)
            raise _Parsed(self.config[self.config["subcommand"]])

    return _ParseOnly


def parse_config_file(path: Path) -> dict[str, Any]:
    """The resolved config of ``actlab fit --config PATH`` (its ``fit`` section, as a dict).

    Raises:
        ActlabError: the CLI's own one-line error for an invalid config.
    """
    cli = _parse_only_cli()
    stderr = io.StringIO()
    try:
        with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
            cli(["fit", "--config", str(path)])
    except _Parsed as parsed:
        return parsed.config.as_dict()
    except SystemExit:
        lines = [ln for ln in stderr.getvalue().splitlines() if ln.strip()]
        line = lines[-1] if lines else "invalid config"
        raise ActlabError(line.removeprefix("actlab: error: ")) from None
    raise ActlabError(f"{path}: the parser returned no config")  # pragma: no cover


@dataclass(frozen=True)
class Resolved:
    """A sweep run as ``actlab fit`` will read it: its config hash and replicate (seed, fold)."""

    config_hash: str
    replicate: dict[str, str]

    @property
    def identity(self) -> tuple[str, ...]:
        """What makes a run the same run: its config hash and replicate."""
        return (self.config_hash, *(self.replicate[k] for k in REPLICATE_KEYS))


def resolve_runs(runs: list[RunSpec], configs: dict[int, dict[str, Any]]) -> dict[int, Resolved]:
    """Parse every distinct config of ``runs`` (``configs``: a run's index -> the config file
    content it runs with) with ``actlab fit``'s parser, before any run starts.

    Raises:
        ActlabError: the first invalid config, named by its run, in one line.
    """
    resolved: dict[int, Resolved] = {}
    seen: dict[str, Resolved] = {}
    with tempfile.TemporaryDirectory(prefix="actlab-sweep-") as folder:
        for run in runs:
            if run.key not in seen:
                path = Path(folder) / f"{run.key}.yaml"
                path.write_text(yaml.safe_dump(configs[run.index], sort_keys=False))
                try:
                    parsed = parse_config_file(path)
                except ActlabError as err:
                    raise ActlabError(f"run {run.name!r}: invalid config: {err}") from None
                seen[run.key] = Resolved(resolved_hash(parsed), replicate_of(parsed))
            resolved[run.index] = seen[run.key]
    return resolved


def grid_identities(spec: SweepSpec, smoke: bool = False) -> dict[int, Resolved]:
    """:func:`resolve_runs` of the sweep file's current grid (its configs as written, no
    ``--set``)."""
    runs = spec.runs(smoke=smoke)
    return resolve_runs(runs, {r.index: r.config for r in runs})
