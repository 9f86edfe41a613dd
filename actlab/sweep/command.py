"""``actlab sweep FILE``: run a sweep file's grid of runs."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import yaml

from actlab import yamlfile
from actlab.cli.packaged_configs import resolve
from actlab.cli.parsing import OneLineArgumentParser
from actlab.errors import ActlabError
from actlab.report.command import print_experiment_link, sweep_view
from actlab.sweep.runner import (
    FAILED,
    FINISHED,
    Executor,
    LocalExecutor,
    SweepRunner,
    run_sweep,
)
from actlab.sweep.spec import SweepSpec, parse_where
from actlab.tracking.store import (
    check_experiment_name,
    redact_credentials,
    sanitize_experiment_name,
)

#: Exit statuses above this mean something else to shells.
MAX_EXIT = 125


def parse_assignments(items: list[str], option: str) -> dict[str, Any]:
    """``["a.b=1", "c=x"]`` -> ``{"a.b": 1, "c": "x"}`` (values parsed as YAML)."""
    parsed: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ActlabError(f"{option} takes KEY=VALUE, got {item!r}")
        try:
            parsed[key.strip()] = yamlfile.safe_load(value) if value else ""
        except yaml.YAMLError as err:
            raise ActlabError(f"{option} {item!r}: the value is not YAML ({err})") from None
    return parsed


#: Options of ``--backend ray`` only, with their defaults there.
RAY_OPTIONS = {"address": None, "cpus_per_run": 1.0, "gpus_per_run": 0.0, "retries": 2}


def add_backend_arguments(parser: argparse.ArgumentParser) -> None:
    """``--backend`` and its options (the local runner's fork server, the Ray backend's)."""
    parser.add_argument(
        "--backend",
        choices=("local", "ray"),
        default="local",
        help="local: --workers runs at a time on this machine; ray: each run a task on a Ray "
        "cluster (pip install 'actlab[ray]')",
    )
    parser.add_argument(
        "--fork-server",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="local: fork each run from one process that imported torch, Lightning, MLflow "
        "and timm once (default), or start each as a fresh subprocess",
    )
    ray = parser.add_argument_group("--backend ray")
    ray.add_argument(
        "--address",
        default=None,
        help="the cluster: auto (the one started on this machine with `ray start`), HOST:PORT, "
        "or unset ($RAY_ADDRESS, else a Ray instance started here)",
    )
    ray.add_argument("--cpus-per-run", type=float, default=None, help="CPUs per run (default 1)")
    ray.add_argument(
        "--gpus-per-run", type=float, default=None, help="GPUs per run; 0.5 shares one (default 0)"
    )
    ray.add_argument(
        "--retries",
        type=int,
        default=None,
        help="restarts of a run whose worker or node died, resumed from its last checkpoint "
        "(default 2); a run that fails by itself is not retried",
    )
    ray.add_argument(
        "--shared-dir",
        type=Path,
        default=None,
        help="folder every node sees (NFS) for run configs, logs and checkpoints; needed on "
        "more than one node (default: mlruns/sweeps/<experiment>)",
    )


def make_executor(args: argparse.Namespace) -> Executor:
    """The executor ``--backend`` names, its options checked."""
    given = [name for name in [*RAY_OPTIONS, "shared_dir"] if getattr(args, name) is not None]
    if args.backend == "local":
        if given:
            flags = ", ".join("--" + name.replace("_", "-") for name in given)
            raise ActlabError(f"{flags}: options of --backend ray, not of the local runner")
        gpus = None if args.gpus is None else [g for g in args.gpus.split(",") if g.strip()]
        return LocalExecutor(args.workers, gpus, args.fork_server, args.timeout)
    if args.workers != 1 or args.gpus is not None:
        raise ActlabError(
            "--workers and --gpus belong to the local runner; with --backend ray, Ray places "
            "the runs by --cpus-per-run and --gpus-per-run"
        )
    options = {name: getattr(args, name) for name in RAY_OPTIONS}
    options = {k: RAY_OPTIONS[k] if v is None else v for k, v in options.items()}
    if options["retries"] < 0 or options["cpus_per_run"] < 0 or options["gpus_per_run"] < 0:
        raise ActlabError("--retries, --cpus-per-run and --gpus-per-run must be >= 0")
    try:
        from actlab.sweep.ray_backend import RayExecutor
    except ImportError:
        raise ActlabError(
            "--backend ray needs Ray: pip install 'actlab[ray]' (or pip install ray)"
        ) from None
    return RayExecutor(shared_dir=args.shared_dir, timeout=args.timeout, **options)


def sweep(argv: list[str]) -> int:
    parser = OneLineArgumentParser(
        prog="actlab sweep",
        description="Run every run of a sweep file not yet FINISHED in its MLflow experiment. "
        "Exit status: the number of failed runs (at most 125).",
    )
    parser.add_argument(
        "file",
        type=lambda name: Path(resolve(name, sweep=True)),
        help="sweep file (YAML), or a packaged sweep's name (actlab configs lists them)",
    )
    parser.add_argument("--dry-run", action="store_true", help="list the runs and their count")
    parser.add_argument(
        "--smoke", action="store_true", help="the tiny variant (experiment <name>-smoke)"
    )
    parser.add_argument("--workers", type=int, default=1, help="runs at a time (default 1)")
    parser.add_argument(
        "--gpus", default=None, help="GPU ids for round-robin, e.g. 0,1 (default: all visible)"
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config key in every run",
    )
    parser.add_argument(
        "--tracking-uri", default=None, help="default: $MLFLOW_TRACKING_URI or mlruns/mlflow.db"
    )
    parser.add_argument(
        "--where",
        action="append",
        default=[],
        metavar="AXIS=LABEL",
        help="run only the runs with this label on this axis (repeatable: axes all match, "
        "labels of one axis are alternatives), e.g. --where section=4.2",
    )
    parser.add_argument("--timeout", type=float, default=None, help="seconds one run may take")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_backend_arguments(parser)
    args = parser.parse_args(argv)
    if args.workers < 1:
        raise ActlabError(f"--workers must be >= 1, got {args.workers}")
    spec = SweepSpec.load(args.file)
    check_experiment_name(spec.experiment_name(args.smoke))  # before anything is created
    overrides = parse_assignments(args.set, "--set")
    runner = SweepRunner(
        spec,
        smoke=args.smoke,
        overrides=overrides,
        tracking_uri=args.tracking_uri,
        workdir=args.shared_dir / sanitize_experiment_name(spec.experiment_name(args.smoke))
        if args.shared_dir
        else None,
        progress=not args.no_progress,
        executor=make_executor(args),
    )
    total = len(runner.runs)
    if args.where:
        runner.runs = spec.select(runner.runs, parse_where(args.where, args.file))
    resolved = runner.resolve()  # every config parsed as actlab fit will, before any run
    if args.dry_run:
        for run in runner.runs:
            print(f"{run.index:4d}  {resolved[run.index].config_hash}  {run.name}")
        selected = f" (--where {' '.join(args.where)}: {len(runner.runs)} of {total})"
        print(
            f"{len(runner.runs)} runs in experiment {runner.experiment!r}"
            + (selected if args.where else "")
        )
        return 0
    results = run_sweep(runner)
    failed = [r for r in results if r.status == FAILED]
    finished = sum(r.status == FINISHED for r in results)
    skipped = len(results) - finished - len(failed)
    print(
        f"{runner.experiment}: {finished} finished, {len(failed)} failed, "
        f"{skipped} skipped (already finished, claimed by another sweep, or repeated); "
        f"store {redact_credentials(runner.tracking_uri)}"
    )
    for result in failed:
        print(f"FAILED {result.run.name}: {result.error} (log: {result.log})")
    view = sweep_view(spec, spec.report.rows, spec.report.metric)
    print_experiment_link(runner.tracking_uri, runner.experiment, view=view)
    return min(len(failed), MAX_EXIT)
