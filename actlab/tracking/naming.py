"""How a run is found in MLflow: its experiment, name, tags, description and dataset inputs.

- Experiment: the ``experiment_name`` the config gives the logger, else the stem of the last
  ``--config`` file (``configs/quickstart.yaml`` -> ``quickstart``), else the dataset's name.
- Name: ``<backbone>-<activation>-<dataset>`` unless the config names the run (a sweep names its
  runs from their axis labels and seed, :attr:`actlab.sweep.spec.RunSpec.name`).
- Tags: ``backbone``, ``activation``, ``head``, ``dataset`` and ``seed`` (``seed_everything``, the
  init's; ``data.seed`` too when the data module split with another seed); tags set in the config
  (a sweep's ``axis.<name>``, ``config_hash``, ``seed``) win.
- Description (MLflow's ``mlflow.note.content``): the header comment of the config file (a
  sweep's runs: of their base config, else of the sweep file).
- Dataset inputs: one per split (``train``, ``val``, ``test``) under the dataset's name, with
  the split's size as its profile, so the UI's Dataset column and filter work.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from actlab.tracking.tracked import tracked

#: Tag of the data module's seed (its split), set when it is not the run's ``seed`` tag.
DATA_SEED_TAG = "data.seed"
#: MLflow's tag for a run's description (the markdown the run page shows).
DESCRIPTION_TAG = "mlflow.note.content"
#: MLflow's input tag naming the role of a dataset in a run.
DATASET_CONTEXT_TAG = "mlflow.data.context"
#: Splits logged as dataset inputs, with the data module attribute holding each.
SPLITS = {"train": "train_set", "val": "val_set", "test": "test_set"}


def header_comment(path: str | Path) -> str:
    """The comment lines at the top of a YAML file, without their ``#`` (empty when none)."""
    try:
        lines = Path(path).read_text().splitlines()
    except OSError:
        return ""
    text = []
    for line in lines:
        stripped = line.strip()
        if not stripped.startswith("#"):
            break
        text.append(stripped[1:].removeprefix(" ").rstrip())
    return "\n".join(text).strip()


def experiment_from(config_files: Sequence[str | Path], dataset: str) -> str:
    """The last config file's stem, or ``dataset`` when no file was given."""
    files = [Path(str(f)) for f in config_files or ()]
    return files[-1].stem if files else dataset


def description_from(config_files: Sequence[str | Path]) -> str:
    """The header comment of the last config file that has one."""
    for path in reversed([Path(str(f)) for f in config_files or ()]):
        text = header_comment(path)
        if text:
            return text
    return ""


def run_tags(
    backbone: str, activation: str, head: str | None, dataset: str, seed: int | None
) -> dict[str, str]:
    """The tags every run carries (``head`` and ``seed`` when known)."""
    tags = {"backbone": backbone, "activation": activation, "dataset": dataset}
    if head is not None:
        tags["head"] = head
    if seed is not None:
        tags["seed"] = str(seed)
    return tags


def run_seed(config: Any, datamodule: Any) -> int | None:
    """The run's seed: ``seed_everything`` when it is a number, else the data module's ``seed``."""
    seed = config.get("seed_everything") if hasattr(config, "get") else None
    if isinstance(seed, int) and not isinstance(seed, bool):
        return seed
    seed = getattr(datamodule, "seed", None)
    return seed if isinstance(seed, int) and not isinstance(seed, bool) else None


def describe_run(logger: Any, model: Any, datamodule: Any, config: Any) -> None:
    """Name, tag, describe and place ``logger``'s run before it is created (CLI ``before_*``)."""
    hparams = getattr(model, "hparams", {}) or {}
    backbone = str(hparams.get("backbone", type(model).__name__))
    task = tracked(model)
    activation = task.activation_name if task is not None else "native"
    head = hparams.get("head")
    dataset = str(getattr(datamodule, "name", type(datamodule).__name__))
    files = [str(f) for f in (config.get("config") or [])] if hasattr(config, "get") else []
    seed = run_seed(config, datamodule)
    tags = run_tags(backbone, activation, head, dataset, seed)
    data_seed = getattr(datamodule, "seed", None)
    if isinstance(data_seed, int) and not isinstance(data_seed, bool) and data_seed != seed:
        tags[DATA_SEED_TAG] = str(data_seed)  # the split's seed is not the init's: say both
    logger.describe(
        run_name=f"{backbone}-{activation}-{dataset}",
        tags=tags,
        experiment=experiment_from(files, dataset),
        description=description_from(files),
    )


def dataset_inputs(datamodule: Any) -> list[Any]:
    """One ``DatasetInput`` per split the data module has set up: its name and size.

    The digest identifies the split (dataset, split, size, seed, fold), so different splits of
    the same data are different entries and runs on the same split share one.
    """
    from mlflow.entities import Dataset, DatasetInput, InputTag

    name = str(getattr(datamodule, "name", type(datamodule).__name__))
    source = {
        "data_module": f"{type(datamodule).__module__}.{type(datamodule).__qualname__}",
        "seed": getattr(datamodule, "seed", None),
        "fold": getattr(datamodule, "fold", None),
    }
    inputs = []
    for split, attribute in SPLITS.items():
        data = getattr(datamodule, attribute, None)
        if data is None:
            continue
        size = len(data)
        profile = {"split": split, "num_rows": size}
        key = json.dumps({**source, "name": name, **profile}, sort_keys=True, default=str)
        digest = hashlib.sha256(key.encode()).hexdigest()[:8]
        dataset = Dataset(
            name=name,
            digest=digest,
            source_type="code",
            source=json.dumps(source, default=str),
            profile=json.dumps(profile),
        )
        inputs.append(DatasetInput(dataset, [InputTag(DATASET_CONTEXT_TAG, split)]))
    return inputs
