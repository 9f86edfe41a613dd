"""Where actlab's runs are stored, without importing MLflow: the ``mlruns/`` folder, the default
tracking URI and artifact location, the outage spool folder and the experiment-name sanitiser.

This module imports only the standard library, so the light commands (``actlab --help``,
``report``, ``sync``, ``ui``, ``sweep --dry-run``) can find the store without loading torch,
Lightning or MLflow.
"""

from __future__ import annotations

import os
from pathlib import Path

#: Folder of the local store (``mlruns/mlflow.db``), its artifacts and checkpoints.
MLRUNS_DIR = "mlruns"
#: Environment variable that moves ``mlruns/``.
MLRUNS_ENV = "ACTLAB_MLRUNS"
#: MLflow's environment variable for the tracking URI (read when a run starts).
TRACKING_URI_ENV = "MLFLOW_TRACKING_URI"
#: Experiment runs land in unless a config names another.
DEFAULT_EXPERIMENT = "actlab"
#: File name of the SQLite store inside ``mlruns/``.
DB_NAME = "mlflow.db"


def mlruns_dir() -> Path:
    """Absolute path of ``mlruns/`` (``ACTLAB_MLRUNS`` overrides), created on first use."""
    path = Path(os.environ.get(MLRUNS_ENV) or MLRUNS_DIR).resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


def default_tracking_uri() -> str:
    """``MLFLOW_TRACKING_URI`` when set, else SQLite at ``mlruns/mlflow.db``; read at call time."""
    uri = os.environ.get(TRACKING_URI_ENV)
    if uri:
        return uri
    return f"sqlite:///{mlruns_dir() / DB_NAME}"


def sqlite_path(tracking_uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` URI (``None`` for any other store)."""
    if not tracking_uri.startswith("sqlite:///"):
        return None
    return Path(tracking_uri.removeprefix("sqlite:///"))


def sanitize_experiment_name(name: str) -> str:
    """``name`` as a folder name: characters other than letters, digits, ``-_.`` become ``_``."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


def default_artifact_location(tracking_uri: str, experiment_name: str) -> str | None:
    """Artifacts of a local SQLite store go under ``mlruns/artifacts/``; servers choose their own."""
    db = sqlite_path(tracking_uri)
    if db is None:
        return None
    return (db.parent / "artifacts" / sanitize_experiment_name(experiment_name)).as_uri()


def spool_dir() -> Path:
    """``mlruns/spool/``: the pending writes of every run, one JSONL file per run."""
    return mlruns_dir() / "spool"
