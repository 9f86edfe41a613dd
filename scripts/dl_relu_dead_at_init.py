"""Why 003's DL-ReLU head collapses under PyTorch's initialisation and not under Keras'.

For each seed, builds 003's FFNN as ``actlab fit`` does under each ``weight_init`` and prints,
before any training step, the share of training samples whose output o_c is positive, per class.
A class whose output is <= 0 for every sample gets no gradient through ReLU(o_c), so it stays
dead (docs/showcase.md). ``--data wdbc``: the WDBC showcase (FFNN 128-64-32, the seed's own 70/30
split); ``--data fashion_mnist``: 003's split protocol (FFNN 512-512-512 on 256 PCA components;
``--root`` holds the IDX files, ``scripts/get-data.sh fashion_mnist`` prints it).

    python scripts/dl_relu_dead_at_init.py [--data wdbc] [--seeds 10]
"""

from __future__ import annotations

import argparse

import lightning as L
import torch

from actlab.data import FashionMNISTDataModule, WDBCDataModule
from actlab.tasks import ClassificationModule


def positive_shares(
    weight_init: str, seed: int, dataset: str = "wdbc", root: str = ""
) -> tuple[list[float], float]:
    """Share of training samples with o_c > 0 per class, and the mean |o|, at initialisation."""
    L.seed_everything(seed, verbose=False)
    if dataset == "wdbc":
        data = WDBCDataModule(batch_size=256, test_fraction=0.3, val_fraction=0.1, seed=seed)
        backbone, kwargs = "mlp", {"hidden_sizes": [128, 64, 32], "drop_rate": 0.1}
    else:  # configs/papers/003_dlrelu/vision.yaml
        data = FashionMNISTDataModule(
            root=root, normalize=False, standardize=True, pca_components=256, flatten=True,
            val_on_test=True, batch_size=256, seed=seed,
        )  # fmt: skip
        backbone, kwargs = "agarap_ffnn", {}
    data.setup("fit")
    model = ClassificationModule(
        backbone=backbone,
        num_classes=data.num_classes,
        input_shape=tuple(data.input_shape),
        backbone_kwargs=kwargs,
        head="relu",
        weight_init=weight_init,
    )
    x = torch.cat([batch[0] for batch in data.train_dataloader()])
    with torch.no_grad():
        o = model.eval()(x)
    return (o > 0).float().mean(0).tolist(), o.abs().mean().item()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--data", choices=["wdbc", "fashion_mnist"], default="wdbc")
    parser.add_argument("--root", default="/usr/share/datasets/fashion-mnist")
    args = parser.parse_args()
    head = "| seed | torch: o_c > 0, per class | torch mean abs(o) | keras: o_c > 0, per class"
    print(head + " | keras mean abs(o) |")
    print("|---|---|---|---|---|")
    for seed in range(args.seeds):
        cells = []
        for weight_init in ("torch", "keras"):
            shares, size = positive_shares(weight_init, seed, args.data, args.root)
            cells += [", ".join(f"{100 * s:.0f} %" for s in shares), f"{size:.3f}"]
        print(f"| {seed} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
