"""Sweeps over configs (``actlab sweep``) and tables of their results (``actlab report``)."""

from actlab.sweep.report import RunRecord, Table, build_table, load_records, plot_curves, render
from actlab.sweep.runner import RunResult, SweepRunner, run_sweep
from actlab.sweep.spec import Axis, AxisValue, ReportSpec, RunSpec, SweepSpec, config_hash

__all__ = [
    "Axis",
    "AxisValue",
    "ReportSpec",
    "RunRecord",
    "RunResult",
    "RunSpec",
    "SweepRunner",
    "SweepSpec",
    "Table",
    "build_table",
    "config_hash",
    "load_records",
    "plot_curves",
    "render",
    "run_sweep",
]
