"""`actlab fit` against a hand-written PyTorch loop: training samples/s, side by side.

Both train the same architecture on the same in-memory batches with the same optimizer. The
hand loop's epochs run inside the Lightning fit, alternating with Lightning's epochs (a callback
runs one hand-loop epoch after each Lightning epoch), so machine noise hits both alike. Lightning
runs exactly as `actlab fit` does: ActlabCLI with its MLflow logger, torchmetrics, rich progress
bar and checkpointing. Validation is off (`limit_val_batches=0`) so both time training alone.

    python benchmarks/fit_vs_loop.py --backbone small_cnn --epochs 6
    python benchmarks/fit_vs_loop.py --accelerator gpu --batch-size 512
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import torch
import torch.nn.functional as F
from lightning import Callback

from actlab.cli import ActlabCLI
from actlab.tasks import create_backbone


class SideBySide(Callback):
    """Times Lightning's training epochs and runs one hand-loop epoch after each."""

    def __init__(self, hand_model: torch.nn.Module, lr: float) -> None:
        self.hand_model = hand_model
        self.hand_opt = torch.optim.Adam(hand_model.parameters(), lr=lr)
        self.lightning_s: list[float] = []
        self.hand_s: list[float] = []
        self.samples = 0

    def _sync(self, device: torch.device) -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self._sync(pl_module.device)
        self.start = time.perf_counter()

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        self._sync(pl_module.device)
        self.lightning_s.append(time.perf_counter() - self.start)
        self.hand_s.append(self.hand_epoch(trainer, pl_module.device))

    def hand_epoch(self, trainer, device: torch.device) -> float:
        loader = trainer.datamodule.train_dataloader()
        model, opt = self.hand_model.to(device).train(), self.hand_opt
        self._sync(device)
        start = time.perf_counter()
        samples = 0
        for x, y in loader:
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            samples += len(y)
        self._sync(device)
        self.samples = samples
        return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backbone", default="small_cnn")
    parser.add_argument("--backbone-kwargs", default="{channels: [32, 64]}")
    parser.add_argument("--input-shape", default="[3, 32, 32]")
    parser.add_argument("--samples", type=int, default=4096)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--accelerator", default="cpu")
    parser.add_argument("--lr", type=float, default=1e-3)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        import os

        os.environ["ACTLAB_MLRUNS"] = tmp
        os.environ.pop("MLFLOW_TRACKING_URI", None)
        cli = ActlabCLI(
            [
                "--model.backbone", args.backbone,
                "--model.backbone_kwargs", args.backbone_kwargs,
                "--model.optimizer", "torch.optim.Adam",
                "--model.optimizer.lr", str(args.lr),
                "--data", "actlab.data.SyntheticDataModule",
                "--data.input_shape", args.input_shape,
                "--data.train_samples", str(args.samples),
                "--data.val_on_test", "true",
                "--data.batch_size", str(args.batch_size),
                "--trainer.max_epochs", str(args.epochs),
                "--trainer.limit_val_batches", "0",
                "--trainer.num_sanity_val_steps", "0",
                "--trainer.accelerator", args.accelerator,
                "--checkpoint.monitor", "train/loss",
                "--checkpoint.mode", "min",
            ],
            run=False,
        )  # fmt: skip
        torch.manual_seed(0)
        hand = create_backbone(args.backbone, cli.datamodule.num_classes, cli.datamodule.input_shape,
                               **cli.model.hparams.backbone_kwargs)  # fmt: skip
        timer = SideBySide(hand, args.lr)
        cli.trainer.callbacks.append(timer)
        cli.trainer.fit(cli.model, datamodule=cli.datamodule)

    n = timer.samples
    rows = list(zip(timer.lightning_s, timer.hand_s, strict=True))[1:]  # epoch 0 warms up
    fit_rate = statistics.median(n / a for a, _ in rows)
    hand_rate = statistics.median(n / b for _, b in rows)
    ratio = statistics.median((n / a) / (n / b) for a, b in rows)
    device = (
        "cuda:" + torch.cuda.get_device_name()
        if args.accelerator == "gpu"
        else f"cpu ({torch.get_num_threads()} threads)"
    )
    print(f"\nactlab fit vs hand loop: {args.backbone} {args.backbone_kwargs}, input {args.input_shape}, "
          f"batch {args.batch_size}, {n} samples/epoch, {len(rows)} timed epochs, {device}")  # fmt: skip
    print(f"{'':<22}{'samples/s':>12}")
    print(f"{'actlab fit':<22}{fit_rate:>12.0f}")
    print(f"{'hand loop':<22}{hand_rate:>12.0f}")
    print(f"{'ratio fit / hand':<22}{ratio:>12.3f}   (per-epoch median of paired ratios)")


if __name__ == "__main__":
    main()
