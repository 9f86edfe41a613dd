"""Sweeps over configs (``actlab sweep``); the tables of their results are :mod:`actlab.report`'s."""

from actlab.sweep.runner import RunResult, SweepRunner, run_sweep
from actlab.sweep.spec import Axis, AxisValue, ReportSpec, RunSpec, SweepSpec, config_hash

__all__ = [
    "Axis",
    "AxisValue",
    "ReportSpec",
    "RunResult",
    "RunSpec",
    "SweepRunner",
    "SweepSpec",
    "config_hash",
    "run_sweep",
]
