"""Time to 80 % accuracy of 004's Structure 1 per activation (004 Table 6), side by side.

004 Table 6 times Structure 1 on CIFAR-10 until 80 % test accuracy: CPAF 866 s against ReLU's
601 s per run (1.44x). This benchmark trains ``cpaf_structure1`` with each activation through
`actlab fit` (the 004 CIFAR config: RMSprop 1e-3, batch 128) and reads the tracking callback's
``time/seconds_to_val_acc_0.80`` and ``time/epochs_to_val_acc_0.80`` back from MLflow, plus the
mean epoch time. Runs alternate between activations over ``--repeats`` rounds.

    python benchmarks/time_to_accuracy.py                       # CIFAR-10-shaped synthetic data
    python benchmarks/time_to_accuracy.py --root data --gpu     # real CIFAR-10 on a GPU
    python benchmarks/time_to_accuracy.py --activation relu --activation "cpaf_relu(k=2)"

Without ``--root`` the data are random class patterns of CIFAR-10's shape (3x32x32, 10 classes):
the absolute times say nothing about CIFAR, but the ratio between activations does, because the
cost per epoch is the same and the threshold is reached in a similar number of epochs.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from mlflow.tracking import MlflowClient

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "configs" / "papers" / "004_cpaf" / "cifar.yaml"
DEFAULT_ACTIVATIONS = ["relu", "cpaf_relu(k=2)"]


def fit(activation: str, args: argparse.Namespace, store: str, root: Path) -> None:
    """One `actlab fit` of Structure 1 with ``activation`` (a subprocess, as a researcher runs it)."""
    cmd = [sys.executable, "-m", "actlab", "fit", "--config", str(CONFIG),
           "--model.backbone", "cpaf_structure1", "--model.activation", activation,
           "--trainer.max_epochs", str(args.max_epochs),
           "--trainer.accelerator", "gpu" if args.gpu else "cpu",
           "--tracking.thresholds", f"[{args.threshold}]"]  # fmt: skip
    if args.root:
        cmd += ["--data.root", str(args.root)]
    else:
        cmd += ["--data", "actlab.data.SyntheticDataModule", "--data.input_shape", "[3, 32, 32]",
                "--data.num_classes", "10", "--data.train_samples", str(args.samples),
                "--data.test_samples", "1000", "--data.noise", str(args.noise),
                "--data.batch_size", "128"]  # fmt: skip
    env = {**os.environ, "MLFLOW_TRACKING_URI": store, "PYTHONPATH": str(REPO)}
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False, cwd=root)
    if done.returncode != 0:
        raise SystemExit(f"fit with {activation} failed:\n{done.stderr[-3000:]}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--activation", action="append", default=None)
    parser.add_argument("--threshold", type=float, default=0.8)
    parser.add_argument("--max-epochs", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--root", type=Path, default=None, help="real CIFAR-10 under this root")
    parser.add_argument("--samples", type=int, default=5000, help="synthetic training samples")
    parser.add_argument("--noise", type=float, default=3.0, help="synthetic data noise")
    parser.add_argument("--gpu", action="store_true")
    args = parser.parse_args()
    activations = args.activation or DEFAULT_ACTIVATIONS

    with tempfile.TemporaryDirectory() as tmp:
        store = f"sqlite:///{Path(tmp) / 'mlflow.db'}"
        for _ in range(args.repeats):
            for activation in activations:
                fit(activation, args, store, Path(tmp))
        client = MlflowClient(store)
        experiments = [e.experiment_id for e in client.search_experiments()]
        runs = client.search_runs(experiments, order_by=["attributes.start_time ASC"])

        name = f"{args.threshold:.2f}"
        rows = {}
        for activation in activations:
            mine = [r for r in runs if r.data.params.get("model.activation") == activation]
            seconds = [r.data.metrics.get(f"time/seconds_to_val_acc_{name}") for r in mine]
            epochs = [r.data.metrics.get(f"time/epochs_to_val_acc_{name}") for r in mine]
            epoch_s = [
                statistics.median(m.value for m in client.get_metric_history(r.info.run_id, "time/epoch_seconds"))
                for r in mine
            ]  # fmt: skip
            rows[activation] = (
                seconds,
                epochs,
                epoch_s,
                [r.data.metrics.get("test/acc") for r in mine],
            )

    data = (
        f"CIFAR-10 at {args.root}"
        if args.root
        else f"synthetic CIFAR-10 shape ({args.samples} samples)"
    )
    print(f"\ntime to {args.threshold:.0%} val accuracy: cpaf_structure1, {data}, "
          f"{'GPU' if args.gpu else 'CPU'}, {args.repeats} run(s) each")  # fmt: skip
    print(
        f"{'activation':<36}{'s to thr':>10}{'epochs':>8}{'s/epoch':>9}{'ratio':>7}{'test acc':>10}"
    )
    base = None
    for activation, (seconds, epochs, epoch_s, acc) in rows.items():
        reached = [s for s in seconds if s is not None]
        s = statistics.median(reached) if reached else float("nan")
        base = base or s
        e = statistics.median([x for x in epochs if x is not None]) if reached else float("nan")
        print(f"{activation:<36}{s:>10.1f}{e:>8.0f}{statistics.median(epoch_s):>9.1f}"
              f"{s / base:>7.2f}{statistics.median(acc):>10.3f}"
              + ("" if len(reached) == len(seconds) else f"  ({len(seconds) - len(reached)} never reached)"))  # fmt: skip


if __name__ == "__main__":
    main()
