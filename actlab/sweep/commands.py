"""``actlab sweep FILE`` and ``actlab report SOURCE``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import yaml

from actlab.cli import extra_command
from actlab.errors import ActlabError
from actlab.sweep.report import FORMATS, build_table, load_records, plot_curves, render
from actlab.sweep.runner import FAILED, FINISHED, SweepRunner, run_sweep
from actlab.sweep.spec import ReportSpec, SweepSpec, parse_where
from actlab.tracking.mlflow import default_tracking_uri

#: Exit statuses above this mean something else to shells.
MAX_EXIT = 125


def parse_assignments(items: list[str], option: str) -> dict[str, Any]:
    """``["a.b=1", "c=x"]`` -> ``{"a.b": 1, "c": "x"}`` (values parsed as YAML)."""
    parsed: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ActlabError(f"{option} takes KEY=VALUE, got {item!r}")
        parsed[key.strip()] = yaml.safe_load(value) if value else ""
    return parsed


def _where(items: list[str]) -> dict[str, str]:
    return {k: str(v) for k, v in parse_assignments(items, "--where").items()}


@extra_command("sweep", "run a sweep file's grid of runs (resumable, parallel, failures recorded)")
def sweep(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="actlab sweep",
        description="Run every run of a sweep file not yet FINISHED in its MLflow experiment. "
        "Exit status: the number of failed runs (at most 125).",
    )
    parser.add_argument("file", type=Path, help="sweep file (YAML)")
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
    args = parser.parse_args(argv)
    if args.workers < 1:
        raise ActlabError(f"--workers must be >= 1, got {args.workers}")
    spec = SweepSpec.load(args.file)
    overrides = parse_assignments(args.set, "--set")
    gpus = None if args.gpus is None else [g for g in args.gpus.split(",") if g.strip()]
    runner = SweepRunner(
        spec,
        smoke=args.smoke,
        overrides=overrides,
        workers=args.workers,
        gpus=gpus,
        tracking_uri=args.tracking_uri,
        timeout=args.timeout,
        progress=not args.no_progress,
    )
    total = len(runner.runs)
    if args.where:
        runner.runs = spec.select(runner.runs, parse_where(args.where, args.file))
    if args.dry_run:
        for run in runner.runs:
            print(f"{run.index:4d}  {run.config_hash}  {run.name}")
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
        f"{skipped} skipped (already finished); store {runner.tracking_uri}"
    )
    for result in failed:
        print(f"FAILED {result.run.name}: {result.error} (log: {result.log})")
    return min(len(failed), MAX_EXIT)


@extra_command("report", "table a metric over an experiment or sweep (mean ± std, paper numbers)")
def report(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="actlab report",
        description="Table a metric over the FINISHED runs of an experiment: rows x columns of "
        "fields (axis.<name> tag, tag or param), mean ± std over the rest (seeds, folds).",
    )
    parser.add_argument(
        "source",
        help="a sweep file (its experiment, report settings and references) or an experiment name",
    )
    parser.add_argument("--smoke", action="store_true", help="the sweep's smoke experiment")
    parser.add_argument(
        "--rows",
        default=None,
        help="row fields, comma-separated (default: sweep's, else activation)",
    )
    parser.add_argument(
        "--columns",
        default=None,
        help="column fields, comma-separated (default: sweep's, else model,dataset)",
    )
    parser.add_argument(
        "--metric", default=None, help="metric in the cells (default: sweep's, else test/acc)"
    )
    parser.add_argument(
        "--mode", choices=("max", "min"), default=None, help="best = max or min (default: by name)"
    )
    parser.add_argument(
        "--scale", type=float, default=None, help="multiply values (100 for percent)"
    )
    parser.add_argument(
        "--error", action=argparse.BooleanOptionalAction, default=None, help="show 1 - metric"
    )
    parser.add_argument("--digits", type=int, default=None)
    parser.add_argument(
        "--where",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="keep only matching runs",
    )
    parser.add_argument(
        "--no-references", action="store_true", help="leave the paper's numbers out"
    )
    parser.add_argument("--format", choices=FORMATS, default="rich")
    parser.add_argument("--output", "-o", type=Path, default=None, help="write the table here")
    parser.add_argument(
        "--curves",
        type=Path,
        default=None,
        metavar="PNG",
        help="also plot curves per row value of the --where cell",
    )
    parser.add_argument("--curve-metric", default="val/acc")
    parser.add_argument("--tracking-uri", default=None)
    args = parser.parse_args(argv)

    defaults, references, experiment = ReportSpec(), {}, args.source
    if args.source.endswith((".yaml", ".yml")) or Path(args.source).is_file():
        spec = SweepSpec.load(args.source)
        defaults, references, experiment = (
            spec.report,
            spec.references,
            spec.experiment_name(args.smoke),
        )
    rows = tuple(args.rows.split(",")) if args.rows else defaults.rows
    columns = tuple(args.columns.split(",")) if args.columns else defaults.columns
    metric = args.metric or defaults.metric
    uri = args.tracking_uri or default_tracking_uri()
    records = load_records(uri, experiment)
    where = _where(args.where)
    custom_metric = args.metric is not None and args.metric != defaults.metric
    table = build_table(
        records,
        rows,
        columns,
        metric,
        mode=args.mode or (None if custom_metric else defaults.mode),
        scale=args.scale if args.scale is not None else (1.0 if custom_metric else defaults.scale),
        error=args.error
        if args.error is not None
        else (False if custom_metric else defaults.error),
        references=None if args.no_references or custom_metric else references,
        digits=args.digits if args.digits is not None else defaults.digits,
        where=where,
        title=experiment,
    )
    if not table.cells:
        raise ActlabError(
            f"no FINISHED run in experiment {experiment!r} has {metric!r} and the fields "
            f"{[*rows, *columns]}" + (f" matching {where}" if where else "")
        )
    text = render(table, args.format)
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(text)
        print(f"wrote {args.output}")
    else:
        print(text, end="")
    if args.curves:
        plot_curves(uri, records, rows[0], args.curve_metric, args.curves, where, experiment)
        print(f"wrote {args.curves}")
    return 0
