"""A run config as ``actlab fit`` reads it: parsed by the CLI's own parser, and its config hash.

A sweep checks every run config with this parser before it starts any run (a grid that sets an
unknown option, a bad value or a missing include stops the sweep in one line), and both the
sweep and ``actlab report`` identify a run's configuration by :func:`actlab.sweep.spec.config_hash`
of the config this parser resolves: code defaults filled in, included files read, the seed and
fold left out. ``actlab fit`` tags its run with the same hash of the config it parsed
(:mod:`actlab.cli.training`), so a run made any other way (``--set``, another sweep file, a
continued run) has another hash unless its config is the same.

The parser imports every ``class_path`` (torch, Lightning, timm), so :func:`resolve_runs`
parses in a child process (``python -m actlab.sweep.resolve FILE...``, one JSON line per file):
the driver of a sweep and ``actlab report`` stay light.
"""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from actlab.config_keys import flat_config
from actlab.errors import ActlabError
from actlab.sweep.spec import (
    REPLICATE_KEYS,
    RunSpec,
    SweepSpec,
    replicate_of,
    resolved_hash,
)


class _Parsed(Exception):  # noqa: N818 - a signal, not an error
    """Carries the parsed config out of :class:`_ParseOnly` before anything is instantiated."""

    def __init__(self, config: Any) -> None:
        super().__init__("parsed")
        self.config = config


def _parse_only_cli() -> type:
    from lightning.pytorch.cli import LightningCLI

    from actlab.cli.errors import parsing
    from actlab.cli.training import ActlabCLI

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
    content it runs with) with ``actlab fit``'s parser, in one child process, before any run
    starts.

    Raises:
        ActlabError: the first invalid config, named by its run, in one line.
    """
    # runs that differ only in seed and fold parse once (the 003 sweep: 168 runs, 56 parses);
    # each run's own seed and fold values are read from its config
    group = {run.index: resolved_hash(configs[run.index]) for run in runs}
    distinct: dict[str, RunSpec] = {}
    for run in runs:
        distinct.setdefault(group[run.index], run)
    with tempfile.TemporaryDirectory(prefix="actlab-sweep-") as folder:
        paths = []
        for key, run in distinct.items():
            path = Path(folder) / f"{key}.yaml"
            path.write_text(yaml.safe_dump(configs[run.index], sort_keys=False))
            paths.append(str(path))
        done = subprocess.run(
            [sys.executable, "-m", "actlab.sweep.resolve", *paths],
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    answers = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or len(answers) != len(paths):
        for key, answer in zip(distinct, answers, strict=False):
            if "error" in answer:
                msg = f"run {distinct[key].name!r}: invalid config: {answer['error']}"
                raise ActlabError(msg)
        tail = done.stderr.strip().splitlines()[-1:] or ["no output"]
        raise ActlabError(f"checking the run configs failed: {tail[0]}")
    parsed = dict(zip(distinct, answers, strict=True))
    resolved = {}
    for run in runs:
        answer = parsed[group[run.index]]
        flat = flat_config(configs[run.index])
        replicate = {k: str(flat[k]) if k in flat else v for k, v in answer["replicate"].items()}
        resolved[run.index] = Resolved(answer["config_hash"], replicate)
    return resolved


def main(paths: list[str]) -> int:
    """``python -m actlab.sweep.resolve FILE...``: one JSON line per file, ``config_hash`` and
    ``replicate``, or ``error`` (then stop, exit status 2)."""
    from actlab.cli import importable_current_folder

    importable_current_folder()
    for path in paths:
        try:
            parsed = parse_config_file(Path(path))
        except ActlabError as err:
            print(json.dumps({"error": str(err)}), flush=True)
            return 2
        answer = {"config_hash": resolved_hash(parsed), "replicate": replicate_of(parsed)}
        print(json.dumps(answer), flush=True)
    return 0


def grid_identities(spec: SweepSpec, smoke: bool = False) -> dict[int, Resolved]:
    """:func:`resolve_runs` of the sweep file's current grid (its configs as written, no
    ``--set``)."""
    runs = spec.runs(smoke=smoke)
    return resolve_runs(runs, {r.index: r.config for r in runs})


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
