"""Where the learned CPAF parameters of a sweep's runs landed, beside 004 Fig. 14's ranges.

004 §4.2 (Fig. 14) plots the learned (a1, b1) and (a2, b2) of every activation site of its
cpaf_sigmoid Fashion-MNIST net (initial values (4, 2) and (4, -2), Table 1) and reads a1 at
about 3.75-4.5 and b1 at about 1.6-2.55. This reads ``activation_params/final.npz`` (arrays
``<layer>.a``, ``<layer>.b`` shaped ``(k, *site)``) of every FINISHED run that matches the
filters, pools the sites of all layers, and prints per run and parameter the range (min-max),
the 1st-99th percentile band and the share of sites inside the paper's range.

    ACTLAB_MLRUNS=/work/results/mlruns-fashion python scripts/cpaf_param_ranges.py \\
        paper-004-cpaf --where section=4.2 --where activation=cpaf_sigmoid
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

import numpy as np

#: 004 Fig. 14 (a): the ranges the paper reads off its scatter, by parameter.
PAPER_RANGES = {"a1": (3.75, 4.5), "b1": (1.6, 2.55)}


def pooled_parameters(npz_path: Path) -> dict[str, np.ndarray]:
    """``{"a1": ..., "b1": ..., "a2": ..., ...}``: every site of every layer, flattened."""
    arrays = np.load(npz_path)
    layers = sorted({key.rsplit(".", 1)[0] for key in arrays.files})
    pooled: dict[str, list[np.ndarray]] = {}
    for layer in layers:
        a, b = arrays[f"{layer}.a"], arrays[f"{layer}.b"]
        for i in range(a.shape[0]):
            pooled.setdefault(f"a{i + 1}", []).append(a[i].ravel())
            pooled.setdefault(f"b{i + 1}", []).append(b[i].ravel())
    return {name: np.concatenate(parts) for name, parts in pooled.items()}


def describe(values: np.ndarray, name: str) -> str:
    low, high = np.percentile(values, [1, 99])
    text = (
        f"{name}: {values.size} sites, range {values.min():.3f}..{values.max():.3f}, "
        f"1-99 % {low:.3f}..{high:.3f}, mean {values.mean():.3f}"
    )
    if name in PAPER_RANGES:
        lo, hi = PAPER_RANGES[name]
        inside = float(np.mean((values >= lo) & (values <= hi)))
        text += f"; paper {lo}..{hi}: {inside:.1%} of sites inside"
    return text


def main() -> None:
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    from mlflow.tracking import MlflowClient

    from actlab.tracking.mlflow import default_tracking_uri

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("experiment")
    parser.add_argument("--where", action="append", default=[], metavar="AXIS=LABEL")
    parser.add_argument("--tracking-uri", default=None)
    args = parser.parse_args()
    where = dict(item.split("=", 1) for item in args.where)
    client = MlflowClient(args.tracking_uri or default_tracking_uri())
    experiment = client.get_experiment_by_name(args.experiment)
    if experiment is None:
        raise SystemExit(f"no experiment {args.experiment!r}")
    runs = client.search_runs([experiment.experiment_id], "attributes.status = 'FINISHED'")
    runs = [r for r in runs if all(r.data.tags.get(f"axis.{k}") == v for k, v in where.items())]
    if not runs:
        raise SystemExit(f"no FINISHED run in {args.experiment!r} matches {where}")
    with tempfile.TemporaryDirectory() as tmp:
        for run in sorted(runs, key=lambda r: r.data.tags.get("seed", "")):
            print(f"run {run.info.run_name} seed {run.data.tags.get('seed')} ({run.info.run_id})")
            try:
                path = client.download_artifacts(
                    run.info.run_id, "activation_params/final.npz", tmp
                )
            except Exception as err:  # noqa: BLE001 - a run without trainable activations
                print(f"  no activation_params/final.npz ({type(err).__name__})")
                continue
            for name, values in pooled_parameters(Path(path)).items():
                print("  " + describe(values, name))


if __name__ == "__main__":
    main()
