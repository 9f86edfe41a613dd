"""Where the time of one `actlab fit` goes: training steps against everything else (issue 26.3).

Runs one real `actlab fit` in this process (``actlab.cli.main``, exactly as the command does:
MLflow logger, tracking callback, checkpoints, validation every epoch, the tests after fit) with
a callback that clocks each phase in CPU seconds of this process and in wall seconds:

- ``training steps``: from each training batch's start to its end (forward, backward, optimizer);
- ``validation``: each validation loop (the sanity check included);
- ``test``: each test loop after fit (final weights, then the best checkpoint unless it is the
  final weights);
- ``start``: from launch to the first training step (imports, parsing, data, run creation);
- ``the rest``: epoch ends (tracking metrics and figures, checkpoints) and the end of the fit.

The target is a whole fit within 1.25x of its training steps. Default: 004 §4.2's Fashion-MNIST
fit (configs/papers/004_cpaf/fashion.yaml) on the real data (``scripts/get-data.sh
fashion_mnist``), CPAF-ReLU per element, 2 epochs, one thread:

    python benchmarks/fit_cost.py
    python benchmarks/fit_cost.py --epochs 10 --activation prelu
    python benchmarks/fit_cost.py --set=--trainer.limit_train_batches=50
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path

T0_WALL = time.perf_counter()

import torch  # noqa: E402
from lightning import Callback  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
PHASES = ("start", "training steps", "validation", "test", "the rest")


def cpu_seconds() -> float:
    """CPU seconds (user + system) of this process so far, imports included."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class PhaseClock(Callback):
    """Sums CPU and wall seconds per phase of a fit (see the module docstring)."""

    totals: dict[str, list[float]] = {name: [0.0, 0.0] for name in PHASES}
    counts: dict[str, int] = {name: 0 for name in PHASES}
    #: minor page faults and system CPU seconds in the training steps (host_memory.py's concern)
    step_faults: list[float] = [0, 0.0]

    def __init__(self) -> None:
        self._open: dict[str, tuple[float, float]] = {}
        self._first_step = True

    def _begin(self, phase: str) -> None:
        self._open[phase] = (cpu_seconds(), time.perf_counter())

    def _end(self, phase: str) -> None:
        cpu, wall = self._open.pop(phase)
        self.totals[phase][0] += cpu_seconds() - cpu
        self.totals[phase][1] += time.perf_counter() - wall
        self.counts[phase] += 1

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if self._first_step:
            self._first_step = False
            self.totals["start"] = [cpu_seconds(), time.perf_counter() - T0_WALL]
        self._usage = resource.getrusage(resource.RUSAGE_SELF)
        self._begin("training steps")

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self._end("training steps")
        usage = resource.getrusage(resource.RUSAGE_SELF)
        self.step_faults[0] += usage.ru_minflt - self._usage.ru_minflt
        self.step_faults[1] += usage.ru_stime - self._usage.ru_stime

    def on_validation_start(self, trainer, pl_module) -> None:
        self._begin("validation")

    def on_validation_end(self, trainer, pl_module) -> None:
        self._end("validation")

    def on_test_start(self, trainer, pl_module) -> None:
        self._begin("test")

    def on_test_end(self, trainer, pl_module) -> None:
        self._end("test")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--config", default=str(REPO / "configs/papers/004_cpaf/fashion.yaml"))
    parser.add_argument("--activation", default="cpaf_relu(k=2, granularity=element)")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--root", default="/usr/share/datasets/fashion-mnist")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--set", nargs="*", default=[], help="further `actlab fit` arguments")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))

    from actlab.cli import main as actlab_main
    from actlab.fit.host_memory import keep_freed_memory  # what the fit set (cached)

    with tempfile.TemporaryDirectory() as tmp:
        os.environ["ACTLAB_MLRUNS"] = str(Path(tmp) / "mlruns")
        os.environ.pop("MLFLOW_TRACKING_URI", None)
        argv = [
            "fit", "--config", args.config,
            "--data.init_args.root", args.root,
            "--model.init_args.activation", args.activation,
            "--trainer.max_epochs", str(args.epochs),
            "--trainer.callbacks+=__main__.PhaseClock",
            *args.set,
        ]  # fmt: skip
        try:
            actlab_main(argv)
        except SystemExit as stop:  # the command's exit status; 0 on success
            if stop.code:
                raise
        total = [cpu_seconds(), time.perf_counter() - T0_WALL]

    clock = PhaseClock.totals
    counted = [sum(clock[p][i] for p in PHASES if p != "the rest") for i in (0, 1)]
    clock["the rest"] = [total[i] - counted[i] for i in (0, 1)]
    PhaseClock.counts["the rest"] = 1
    train_cpu, train_wall = clock["training steps"]
    print(f"\n{args.activation}, {args.epochs} epochs, {args.threads} thread(s)")
    print(f"{'phase':16s} {'CPU s':>8s} {'wall s':>8s} {'calls':>6s} {'CPU x steps':>12s}")
    for phase in PHASES:
        cpu, wall = clock[phase]
        print(f"{phase:16s} {cpu:8.1f} {wall:8.1f} {PhaseClock.counts[phase]:6d} "
              f"{cpu / train_cpu:12.2f}")  # fmt: skip
    print(f"{'whole fit':16s} {total[0]:8.1f} {total[1]:8.1f} {'':6s} {total[0] / train_cpu:12.2f}")
    print(f"whole fit / training steps: {total[0] / train_cpu:.2f}x CPU, "
          f"{total[1] / train_wall:.2f}x wall (target 1.25x)")  # fmt: skip
    steps = PhaseClock.counts["training steps"]
    faults, system = PhaseClock.step_faults
    print(
        f"per training step: {faults / steps:.0f} minor page faults, {system / steps * 1e3:.2f} "
        f"ms system CPU (freed memory kept: {keep_freed_memory()})"
    )


if __name__ == "__main__":
    main()
