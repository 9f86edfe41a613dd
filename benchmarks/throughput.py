"""Training throughput (images/s) of a config, e.g. the CIFAR ResNet-18 GPU recipe, per variant.

Each variant is the config plus its own overrides; all variants are built in one process and
their epochs are interleaved (variant A epoch 1, variant B epoch 1, A epoch 2, ...) so machine
noise hits them alike. The first epoch of each variant is a warm-up (torch.compile, cudnn
autotuning) and is left out of the median. Throughput counts training images only (validation
off), timed from the epoch's start to its last batch's end with CUDA synchronised there; the
whole epoch, with the tracking callback's epoch-end work (metrics, activation images), is shown too.

    python benchmarks/throughput.py                                   # the recipe: fast path vs plain
    python benchmarks/throughput.py --synthetic --samples 4096 --cpu  # no CIFAR on disk / no GPU
    python benchmarks/throughput.py --variant "cpaf=--model.activation cpaf_relu(k=2)"

``--synthetic`` swaps the data for random class patterns of CIFAR-10's shape (3x32x32, 10
classes), which costs the same per image as CIFAR once it is on the device.
"""

from __future__ import annotations

import argparse
import os
import shlex
import statistics
import tempfile
import time
from dataclasses import dataclass, field

import torch
from lightning import Callback

from actlab.cli import ActlabCLI

RECIPE = "configs/recipes/cifar10_resnet18_gpu.yaml"
#: The recipe's fast path switched off, for the ratio.
PLAIN = "--model.compile false --model.channels_last false --trainer.precision 32-true"


@dataclass
class EpochTimer(Callback):
    """Per training epoch: seconds from its start to its last batch's end (training alone), the
    whole epoch's seconds (with the epoch-end work of the tracking callback: metrics, activation
    images), and the images trained on."""

    train_seconds: list[float] = field(default_factory=list)
    epoch_seconds: list[float] = field(default_factory=list)
    images: int = 0

    def _sync(self, pl_module) -> None:
        if pl_module.device.type == "cuda":
            torch.cuda.synchronize(pl_module.device)

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self._sync(pl_module)
        self.images = 0
        self.start = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.images += len(batch[1])
        if batch_idx == trainer.num_training_batches - 1:
            self._sync(pl_module)
            self.train_seconds.append(time.perf_counter() - self.start)

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        self._sync(pl_module)
        self.epoch_seconds.append(time.perf_counter() - self.start)


def build(config: str, overrides: list[str], common: list[str]) -> tuple[ActlabCLI, EpochTimer]:
    cli = ActlabCLI(
        ["--config", config, *common, *overrides,
         "--trainer.limit_val_batches", "0", "--trainer.num_sanity_val_steps", "0",
         "--checkpoint.monitor", "train/loss", "--checkpoint.mode", "min"],
        run=False,
    )  # fmt: skip
    timer = EpochTimer()
    cli.trainer.callbacks.append(timer)
    return cli, timer


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--config", default=RECIPE)
    parser.add_argument("--epochs", type=int, default=4, help="epochs per variant (1st = warm-up)")
    parser.add_argument("--synthetic", action="store_true", help="CIFAR-10-shaped random data")
    parser.add_argument("--samples", type=int, default=50000, help="training images (synthetic)")
    parser.add_argument("--cpu", action="store_true", help="accelerator cpu, no compile, fp32")
    parser.add_argument(
        "--variant",
        action="append",
        default=None,
        metavar="NAME=OVERRIDES",
        help=f"named override set (repeatable); default: recipe=(none) and plain=({PLAIN})",
    )
    args = parser.parse_args()
    variants = dict(v.split("=", 1) for v in (args.variant or ["recipe=", f"plain={PLAIN}"]))
    common = ["--trainer.max_epochs", "1"]
    if args.synthetic:
        common += ["--data", "actlab.data.SyntheticDataModule",
                   "--data.input_shape", "[3, 32, 32]", "--data.num_classes", "10",
                   "--data.train_samples", str(args.samples), "--data.test_samples", "512",
                   "--data.val_on_test", "true"]  # fmt: skip
    if args.cpu:
        common += ["--trainer.accelerator", "cpu", "--model.compile", "false",
                   "--trainer.precision", "32-true"]  # fmt: skip

    with tempfile.TemporaryDirectory() as tmp:
        os.environ["ACTLAB_MLRUNS"] = tmp
        os.environ.pop("MLFLOW_TRACKING_URI", None)
        built = {name: build(args.config, shlex.split(o), common) for name, o in variants.items()}
        for epoch in range(args.epochs):  # interleaved: one epoch of every variant per round
            for cli, _ in built.values():
                cli.trainer.fit_loop.max_epochs = epoch + 1
                cli.trainer.fit(cli.model, datamodule=cli.datamodule)
                cli.trainer.should_stop = False

    device = (
        torch.cuda.get_device_name()
        if torch.cuda.is_available() and not args.cpu
        else f"cpu ({torch.get_num_threads()} threads)"
    )
    first = next(iter(built.values()))[0]
    print(f"\nthroughput: {args.config}{' (synthetic CIFAR-10 shape)' if args.synthetic else ''}, "
          f"batch {first.datamodule.batch_size}, {args.epochs} epochs each (1st = warm-up), {device}")  # fmt: skip
    base = None
    print(
        f"{'variant':<14}{'train img/s':>12}{'ratio':>8}  train s per epoch / with epoch-end tracking"
    )
    for name, (_, timer) in built.items():
        timed = timer.train_seconds[1:] or timer.train_seconds
        rate = statistics.median(timer.images / s for s in timed)
        base = base or rate
        epochs = " ".join(
            f"{t:.1f}/{e:.1f}"
            for t, e in zip(timer.train_seconds, timer.epoch_seconds, strict=True)
        )
        print(f"{name:<14}{rate:>12.0f}{rate / base:>8.2f}  {epochs}   overrides: {variants[name]}")


if __name__ == "__main__":
    main()
