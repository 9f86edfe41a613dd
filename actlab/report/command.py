"""``actlab report SOURCE``: the table of a sweep file's or any experiment's runs, and the link
to them in MLflow's UI (which ``actlab sweep`` prints too)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from actlab.cli.packaged_configs import is_sweep, packaged_path
from actlab.cli.parsing import OneLineArgumentParser
from actlab.errors import ActlabError, unknown_name_message
from actlab.report.compare import compare_cells
from actlab.report.curves import plot_curves
from actlab.report.load import load_records, select_runs
from actlab.report.render_html import html_report
from actlab.report.render_text import FORMATS, render
from actlab.report.table import build_table
from actlab.sweep.spec import ReportSpec, SweepSpec, parse_where
from actlab.tracking import links
from actlab.tracking.store import default_tracking_uri


def _where(items: list[str]) -> dict[str, str]:
    """``actlab report --where FIELD=VALUE``: values as written, as ``actlab sweep --where``
    reads them (:func:`parse_where`: ``1.10`` stays ``1.10``, ``true`` stays ``true``)."""
    where = parse_where(items, "actlab report")
    repeated = [field for field, values in where.items() if len(values) > 1]
    if repeated:
        raise ActlabError(
            f"actlab report: --where takes one value per field; {repeated[0]} has several"
        )
    return {field: values[0] for field, values in where.items()}


def sweep_view(spec: SweepSpec, rows: tuple[str, ...], metric: str) -> dict[str, Any]:
    """The runs table a sweep's link opens: grouped by its first row axis (the tag
    ``axis.<name>``), its metric, every axis tag and the seed as columns, every run shown."""
    from actlab.sweep.spec import _labels_by_axis
    from actlab.tracking import links

    axes = list(_labels_by_axis(spec.grids))
    group = f"axis.{rows[0]}" if rows[0] in axes else rows[0]
    return links.runs_view(group, metric, [*(f"axis.{a}" for a in axes), "seed"])


def print_experiment_link(
    tracking_uri: str, experiment: str, file: Any = None, view: dict[str, Any] | None = None
) -> None:
    """``open the runs: <link>`` to the experiment's runs table in MLflow's UI (in ``view``)."""
    from mlflow.tracking import MlflowClient

    from actlab.tracking import links

    url = links.experiment_link(MlflowClient(tracking_uri), tracking_uri, experiment, view)
    if url is not None:
        print(f"open the runs: {url}{links.ui_hint(tracking_uri)}", file=file)


def _log_summary(tracking_uri: str, experiment: str, files: dict[str, bytes]) -> None:
    """Log the report page and its learned-shape figures to the experiment's summary run and
    print the link that opens it (:func:`actlab.report.shapes.log_summary`)."""
    from mlflow.tracking import MlflowClient

    from actlab.report.shapes import log_summary
    from actlab.tracking import links

    experiment_id, run_id = log_summary(MlflowClient(tracking_uri), experiment, files)
    url = links.run_url(links.ui_url(tracking_uri), experiment_id, run_id)
    shapes = sum(name.startswith("learned_shapes/") for name in files)
    print(
        f"logged the page and {shapes} learned-shape figures to the summary run: "
        f"{url}{links.ui_hint(tracking_uri)}"
    )


def report(argv: list[str]) -> int:
    parser = OneLineArgumentParser(
        prog="actlab report",
        description="Table a metric over the FINISHED runs of an experiment: rows x columns of "
        "fields (axis.<name> tag, tag or param), n, mean ± std and the confidence interval of the "
        "mean over the rest (seeds, folds), each cell tested against a baseline row or its "
        "column's best mean (paired by seed, Holm-corrected), with the seeds a paired test needs.",
    )
    parser.add_argument(
        "source",
        help="a sweep file (its experiment, report settings and references), a packaged "
        "sweep's name (actlab configs), or an experiment name",
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
        help="column fields, comma-separated (default: sweep's, else backbone,dataset)",
    )
    parser.add_argument(
        "--metric", default=None, help="metric in the cells (default: sweep's, else test/acc)"
    )
    parser.add_argument(
        "--mode", choices=("max", "min"), default=None, help="best = max or min (default: by name)"
    )
    parser.add_argument(
        "--scale",
        type=float,
        default=None,
        help="multiply values (100 for percent; default: the sweep's, for any --metric)",
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
    parser.add_argument(
        "--baseline",
        default=None,
        metavar="ROW",
        help="test every other cell of a column against this row's cell (default: the sweep's "
        "report.baseline, else the column's best mean)",
    )
    parser.add_argument(
        "--alpha",
        type=float,
        default=None,
        help="significance level of the Holm-corrected tests; intervals at 1 - alpha "
        "(default: the sweep's, else 0.05)",
    )
    parser.add_argument(
        "--mde",
        type=float,
        default=None,
        metavar="DELTA",
        help="plan the seeds needed for this difference, in the table's units (default: the "
        "observed difference)",
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
    parser.add_argument(
        "--html",
        type=Path,
        default=None,
        metavar="HTML",
        help="also write one page: the table, and per row value the curves of --curve-metric "
        "and the learned activation shapes",
    )
    parser.add_argument(
        "--summary",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="with --html: also log the page and the learned-shape figures to the run 'report' "
        "of experiment <experiment>-summary, where the MLflow UI shows them (default: on)",
    )
    parser.add_argument("--tracking-uri", default=None)
    args = parser.parse_args(argv)

    defaults, references, experiment, sweep_metric = ReportSpec(), {}, args.source, None
    spec = None
    packaged = packaged_path(args.source, sweep=True)
    if packaged is not None and is_sweep(packaged.read_text(encoding="utf-8")):
        args.source = str(packaged)
    grid: set[str] | None = None
    if args.source.endswith((".yaml", ".yml")) or Path(args.source).is_file():
        from actlab.sweep.resolve import grid_identities

        spec = SweepSpec.load(args.source)
        grid = {r.config_hash for r in grid_identities(spec, args.smoke).values()}
        defaults, references, experiment = (
            spec.report,
            spec.references,
            spec.experiment_name(args.smoke),
        )
        sweep_metric = spec.report.metric
    rows = tuple(args.rows.split(",")) if args.rows else defaults.rows
    columns = tuple(args.columns.split(",")) if args.columns else defaults.columns
    metric = args.metric or defaults.metric
    uri = args.tracking_uri or default_tracking_uri()
    records, selection_notes = select_runs(load_records(uri, experiment), grid)
    where = _where(args.where)
    custom_metric = args.metric is not None and args.metric != defaults.metric
    table = build_table(
        records,
        rows,
        columns,
        metric,
        mode=args.mode or (None if custom_metric else defaults.mode),
        # the sweep's scale (percent) holds for any metric; the caption says it (measured)
        scale=args.scale if args.scale is not None else defaults.scale,
        error=args.error
        if args.error is not None
        else (False if custom_metric else defaults.error),
        references=None if args.no_references or custom_metric else references,
        digits=args.digits if args.digits is not None else defaults.digits,
        where=where,
        title=experiment,
        alpha=args.alpha if args.alpha is not None else defaults.alpha,
        mde=args.mde,
    )
    table.sweep_metric = sweep_metric
    table.notes[:0] = selection_notes
    if not table.cells:
        raise ActlabError(
            f"no FINISHED run in experiment {experiment!r} has {metric!r} and the fields "
            f"{[*rows, *columns]}" + (f" matching {where}" if where else "")
        )
    baseline = args.baseline if args.baseline is not None else defaults.baseline
    if baseline is not None and baseline in table.rows:
        compare_cells(table, baseline, args.mde)
    elif args.baseline is not None:
        raise ActlabError(unknown_name_message("--baseline row", args.baseline, table.rows))
    elif baseline is not None:  # the sweep's baseline, filtered out by --where or --smoke
        table.notes.append(
            f"report.baseline {baseline!r} has no runs in this table: each cell is compared "
            "with its column's best mean"
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
    if args.html:
        figures: dict[str, bytes] = {}
        page = html_report(
            table, uri, records, rows[0], args.curve_metric, where, experiment, figures
        )
        args.html.parent.mkdir(parents=True, exist_ok=True)
        args.html.write_text(page)
        print(f"wrote {args.html}")
        if args.summary:
            _log_summary(uri, experiment, {"report.html": page.encode(), **figures})
    # a machine-readable table on stdout stays clean: the link goes to stderr there
    plain = args.format == "rich" or args.output is not None
    if spec is not None:
        view = sweep_view(spec, rows, metric)
    else:  # an experiment by name: its runs' axis tags if they have them
        axes = sorted({k[len("axis.") :] for r in records for k in r.tags if k.startswith("axis.")})
        group = f"axis.{rows[0]}" if rows[0] in axes else rows[0]
        view = links.runs_view(group, metric, [*(f"axis.{a}" for a in axes), "seed"])
    print_experiment_link(uri, experiment, None if plain else sys.stderr, view)
    return 0
