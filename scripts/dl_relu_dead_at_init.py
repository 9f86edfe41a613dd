"""Why 003's DL-ReLU head collapses under PyTorch's initialisation and not under Keras'.

For each seed of the WDBC showcase (003's FFNN 128-64-32, the seed's own 70/30 split), builds the
net as ``actlab fit`` does under each ``weight_init`` and prints, before any training step, the
share of training samples whose output o_c is positive, per class. A class whose output is <= 0
for every sample gets no gradient through ReLU(o_c), so it stays dead (docs/showcase.md).

    python scripts/dl_relu_dead_at_init.py [--seeds 10]
"""

from __future__ import annotations

import argparse

import lightning as L
import torch

from actlab.data import WDBCDataModule
from actlab.tasks import ClassificationModule


def positive_shares(weight_init: str, seed: int) -> tuple[list[float], float]:
    """Share of training samples with o_c > 0 per class, and the mean |o|, at initialisation."""
    L.seed_everything(seed, verbose=False)
    data = WDBCDataModule(batch_size=256, test_fraction=0.3, val_fraction=0.1, seed=seed)
    model = ClassificationModule(
        backbone="mlp",
        num_classes=2,
        input_shape=(30,),
        backbone_kwargs={"hidden_sizes": [128, 64, 32], "drop_rate": 0.1},
        head="relu",
        weight_init=weight_init,
    )
    data.setup("fit")
    x = torch.cat([batch[0] for batch in data.train_dataloader()])
    with torch.no_grad():
        o = model.eval()(x)
    return (o > 0).float().mean(0).tolist(), o.abs().mean().item()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    args = parser.parse_args()
    print(
        "| seed | torch: o_0 > 0, o_1 > 0 | torch mean abs(o) | keras: o_0 > 0, o_1 > 0 | keras mean abs(o) |"
    )
    print("|---|---|---|---|---|")
    for seed in range(args.seeds):
        cells = []
        for weight_init in ("torch", "keras"):
            shares, size = positive_shares(weight_init, seed)
            cells += [", ".join(f"{100 * s:.0f} %" for s in shares), f"{size:.3f}"]
        print(f"| {seed} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
