"""What tracking costs per epoch, against the epoch itself, and what each figure costs.

Runs ``actlab fit`` in-process (default: the quickstart, figures off) and times, per epoch,
everything actlab's tracking does on the training path: the tracking callback's hooks, the
logger's metric writes and spool flushes, and ``last.ckpt`` (wall and CPU seconds, nested calls
counted once). The epoch is timed from one ``on_train_epoch_start`` to the next. Then each
figure is drawn on the run's own data, ``--rounds`` times, and timed alone.

    python benchmarks/tracking_cost.py                  # quickstart, 10 epochs
    python benchmarks/tracking_cost.py --epochs 20 --rounds 5
"""

from __future__ import annotations

import argparse
import functools
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


class Clock:
    """Wall and CPU seconds spent inside wrapped methods (nested calls counted once)."""

    def __init__(self) -> None:
        self.depth = 0
        self.wall = 0.0
        self.cpu = 0.0
        self.by_name: dict[str, float] = {}

    def wrap(self, owner: type, name: str) -> None:
        original = getattr(owner, name)

        @functools.wraps(original)
        def timed(*args, **kwargs):
            if self.depth:
                return original(*args, **kwargs)
            self.depth += 1
            wall, cpu = time.perf_counter(), time.process_time()
            try:
                return original(*args, **kwargs)
            finally:
                self.wall += time.perf_counter() - wall
                spent = time.process_time() - cpu
                self.cpu += spent
                key = f"{owner.__name__}.{name}"
                self.by_name[key] = self.by_name.get(key, 0.0) + spent
                self.depth -= 1

        setattr(owner, name, timed)


def measure_fit(config: Path, epochs: int) -> dict[str, list[float]]:
    from lightning import Callback

    from actlab.fit.last_checkpoint import ResumableCheckpoint
    from actlab.tracking.callback import TrackingCallback
    from actlab.tracking.mlflow import ActlabMLFlowLogger
    from tests.helpers import run_actlab

    clock = Clock()
    for name in ("on_train_epoch_start", "on_train_batch_end", "on_validation_end",
                 "on_train_epoch_end", "on_save_checkpoint", "on_train_start"):  # fmt: skip
        clock.wrap(TrackingCallback, name)
    for name in ("log_metrics", "flush", "log_hyperparams"):
        clock.wrap(ActlabMLFlowLogger, name)
    for name in ("on_train_epoch_end", "on_validation_end"):
        clock.wrap(ResumableCheckpoint, name)

    rows: dict[str, list[float]] = {"epoch_wall": [], "epoch_cpu": [], "wall": [], "cpu": []}

    class EpochClock(Callback):
        start: tuple[float, float, float, float] | None = None

        def on_train_epoch_start(self, trainer, pl_module) -> None:
            now = (time.perf_counter(), time.process_time(), clock.wall, clock.cpu)
            if self.start is not None:
                rows["epoch_wall"].append(now[0] - self.start[0])
                rows["epoch_cpu"].append(now[1] - self.start[1])
                rows["wall"].append(now[2] - self.start[2])
                rows["cpu"].append(now[3] - self.start[3])
            self.start = now

    import benchmarks.tracking_cost as me

    me.EpochClock = EpochClock
    args = ["fit", "--config", str(config), "--trainer.max_epochs", str(epochs),
            "--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false",
            "--tracking.confusion_every_n_epochs", "0",
            "--tracking.activation_images_every_n_epochs", "0",
            "--trainer.callbacks+=benchmarks.tracking_cost.EpochClock"]  # fmt: skip
    assert run_actlab(args) == 0
    for key, seconds in sorted(clock.by_name.items(), key=lambda kv: -kv[1]):
        print(f"  CPU in {key}: {seconds * 1e3:.1f} ms over the fit")
    return rows


def time_it(fn, rounds: int) -> float:
    """Median CPU seconds of ``fn()`` (drawing is single-threaded: CPU time is its time on an
    idle machine, and it varies less than wall time on a busy one)."""
    times = []
    for _ in range(rounds):
        start = time.process_time()
        fn()
        times.append(time.process_time() - start)
    return statistics.median(times)


def measure_figures(rounds: int) -> dict[str, float]:
    """Median seconds of each figure, drawn on data shaped like the quickstart's and digits'."""
    import torch

    from actlab.activations import swap_activations
    from actlab.tracking import activation_params as ap
    from actlab.tracking.confusion import confusion_image, confusion_title
    from actlab.tracking.features import feature_scatter_image

    counts2 = torch.tensor([[60, 4], [3, 104]])
    counts10 = torch.randint(0, 4, (10, 10)) + 30 * torch.eye(10, dtype=torch.long)
    import timm

    import actlab.models  # noqa: F401

    net = timm.create_model("small_cnn", num_classes=10, in_chans=1, input_size=(1, 8, 8),
                            channels=[16, 32])  # fmt: skip
    swap_activations(net, "cpaf_relu(k=2)", input_shape=(1, 8, 8))
    acts = ap.trainable_activations(net)
    initial = ap.snapshot(acts)
    points, targets = torch.randn(540, 2), torch.randint(0, 10, (540,))
    return {
        "confusion_val (2 classes)": time_it(
            lambda: confusion_image(counts2, ["m", "b"], confusion_title("val", counts2, 3)), rounds
        ),
        "confusion_val (10 classes)": time_it(
            lambda: confusion_image(counts10, [], confusion_title("val", counts10, 3)), rounds
        ),
        f"act_ab_scatter ({len(acts)} layers)": time_it(
            lambda: ap.scatter_image(acts, initial, "t"), rounds
        ),
        f"act_curves ({len(acts)} layers)": time_it(
            lambda: ap.curves_image(acts, initial, "t"), rounds
        ),
        "features_test (540 points)": time_it(
            lambda: feature_scatter_image(points, targets, [], "t"), rounds
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=REPO / "configs" / "quickstart.yaml")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["ACTLAB_MLRUNS"] = str(Path(tmp) / "mlruns")
        os.environ.pop("MLFLOW_TRACKING_URI", None)
        os.chdir(tmp)
        rows = measure_fit(args.config.resolve(), args.epochs)
    epochs = len(rows["epoch_wall"])
    med = {k: statistics.median(v) for k, v in rows.items()}
    train_wall = med["epoch_wall"] - med["wall"]
    print(f"{args.config.name}, {epochs} epochs timed (the first is left out), medians per epoch:")
    print(
        f"  epoch            {med['epoch_wall'] * 1e3:8.1f} ms wall  {med['epoch_cpu'] * 1e3:8.1f} ms CPU"
    )
    print(f"  tracking in it   {med['wall'] * 1e3:8.1f} ms wall  {med['cpu'] * 1e3:8.1f} ms CPU")
    print(f"  tracking / rest of the epoch: {med['wall'] / train_wall:.1%} wall, "
          f"{med['cpu'] / max(med['epoch_cpu'] - med['cpu'], 1e-9):.1%} CPU")  # fmt: skip
    print(f"figures (median of {args.rounds}, CPU):")
    for name, seconds in measure_figures(args.rounds).items():
        print(f"  {name:<28} {seconds * 1e3:8.1f} ms")


if __name__ == "__main__":
    main()
