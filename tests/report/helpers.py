"""Runs for the report's tests: records of a small experiment (2 activations x 2 models), per-seed
accuracies of three activations, and the small experiment written straight to MLflow."""

from __future__ import annotations

import random

from mlflow.tracking import MlflowClient

from actlab.report.load import RunRecord
from tests.helpers import CONFIGS

QUICKSTART = CONFIGS / "quickstart.yaml"


def client_runs(uri: str, experiment: str) -> list:
    client = MlflowClient(uri)
    return client.search_runs([client.get_experiment_by_name(experiment).experiment_id])


#: (activation, model, seed, test/acc)
RUNS = [
    ("relu", "mlp", 0, 0.90),
    ("relu", "mlp", 1, 0.92),
    ("relu", "cnn", 0, 0.95),
    ("prelu", "mlp", 0, 0.93),
    ("prelu", "mlp", 1, 0.95),
    ("prelu", "cnn", 0, 0.94),
]


def records() -> list[RunRecord]:
    out = [
        RunRecord(
            f"r{i}",
            {"axis.activation": act, "model": model, "seed": str(seed)},
            {"data.batch_size": "32"},
            {"test/acc": acc, "test/loss": 1 - acc},
        )
        for i, (act, model, seed, acc) in enumerate(RUNS)
    ]
    out.append(
        RunRecord(
            "failed", {"axis.activation": "relu", "model": "mlp"}, {}, {"test/acc": 0.1}, "FAILED"
        )
    )
    out.append(RunRecord("nometric", {"axis.activation": "relu", "model": "mlp"}, {}, {}))
    return out


#: Per-seed test accuracy % of three activations (seeds 0-4) and a baseline.
PER_SEED = {
    "relu": [87.6, 87.3, 87.9, 87.5, 87.2],
    "elu": [87.7, 87.2, 88.0, 87.4, 87.4],  # within noise of relu
    "cpaf": [88.9, 88.6, 89.2, 88.8, 88.7],  # about 1.3 above relu, on every seed
}


def seeded(per_seed: dict[str, list[float]], seeds: dict[str, list[int]] | None = None) -> list:
    """RunRecords of ``per_seed``, one per (row, seed), column ``fmnist``, in a shuffled order."""
    out = []
    for act, values in per_seed.items():
        for seed, value in zip((seeds or {}).get(act, range(len(values))), values, strict=True):
            tags = {"axis.activation": act, "dataset": "fmnist", "seed": str(seed)}
            params = {"seed_everything": str(seed), "data.seed": str(seed), "model.lr": "0.001"}
            out.append(RunRecord(f"{act}{seed}", tags, params, {"test/acc": value / 100}))
    random.Random(3).shuffle(out)  # MLflow returns runs in any order
    return out


def make_experiment(uri: str, name: str) -> None:
    """A small experiment written straight to MLflow: 2 activations x 2 models x 2 seeds."""
    client = MlflowClient(uri)
    exp = client.create_experiment(name)
    for act, model, seed, acc in RUNS:
        run = client.create_run(
            exp, tags={"axis.activation": act, "model": model, "seed": str(seed)}
        )
        for epoch in range(3):
            client.log_metric(run.info.run_id, "val/acc", acc * (epoch + 1) / 3, step=epoch)
        client.log_metric(run.info.run_id, "test/acc", acc)
        client.set_terminated(run.info.run_id, "FINISHED")
