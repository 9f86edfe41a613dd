"""Where actlab's runs are stored, without importing MLflow: the ``mlruns/`` folder, the default
tracking URI and artifact location, the outage spool folder and the experiment-name sanitiser;
the one-line checks of a store before any training, and its creation under a file lock.

This module imports only the standard library, so the light commands (``actlab --help``,
``report``, ``sync``, ``ui``, ``sweep --dry-run``) can find the store without loading torch,
Lightning or MLflow (:func:`ensure_store` imports MLflow only to create a new SQLite store).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import tempfile
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from actlab.errors import ActlabError, unknown_name_message

#: Folder of the local store (``mlruns/mlflow.db``), its artifacts and checkpoints.
MLRUNS_DIR = "mlruns"
#: Environment variable that moves ``mlruns/``.
MLRUNS_ENV = "ACTLAB_MLRUNS"
#: MLflow's environment variable for the tracking URI (read when a run starts).
TRACKING_URI_ENV = "MLFLOW_TRACKING_URI"
#: Experiment of a run that neither names one nor is described by the CLI (which names it
#: after the config file or the dataset, see :mod:`actlab.tracking.naming`).
DEFAULT_EXPERIMENT = "actlab"
#: File name of the SQLite store inside ``mlruns/``.
DB_NAME = "mlflow.db"


def mlruns_dir() -> Path:
    """Absolute path of ``mlruns/`` (``ACTLAB_MLRUNS`` overrides), created on first use."""
    path = Path(os.environ.get(MLRUNS_ENV) or MLRUNS_DIR).resolve()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        check_mlruns(path)  # raises StoreError with the reason in one line
        raise
    return path


def default_tracking_uri() -> str:
    """``MLFLOW_TRACKING_URI`` when set, else SQLite at ``mlruns/mlflow.db``; read at call time."""
    uri = os.environ.get(TRACKING_URI_ENV)
    if uri:
        return uri
    return f"sqlite:///{mlruns_dir() / DB_NAME}"


#: MLflow's own settings for HTTP basic auth (the documented way to give credentials).
USERNAME_ENV, PASSWORD_ENV = "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"


def adopt_credentials(uri: str) -> str:
    """``http(s)://user:pass@host/...`` -> ``http(s)://host/...``, the user and password moved to
    ``MLFLOW_TRACKING_USERNAME`` / ``MLFLOW_TRACKING_PASSWORD`` (MLflow sends them as HTTP basic
    auth, as it would have from the URL), so that no message, checkpoint, param, tag, spool or
    artifact of actlab holds them. Any other URI is returned unchanged (see
    :func:`redact_credentials` for database URIs)."""
    parts = urllib.parse.urlsplit(uri)
    if parts.scheme not in ("http", "https") or "@" not in parts.netloc:
        return uri
    userinfo, host = parts.netloc.rsplit("@", 1)
    user, has_password, password = userinfo.partition(":")
    os.environ[USERNAME_ENV] = urllib.parse.unquote(user)
    if has_password:
        os.environ[PASSWORD_ENV] = urllib.parse.unquote(password)
    return urllib.parse.urlunsplit(parts._replace(netloc=host))


def redact_credentials(text: str) -> str:
    """``scheme://user:pass@host`` -> ``scheme://user:***@host`` anywhere in ``text`` (a database
    URI such as ``postgresql://...`` must keep its password to be used, but never shows it)."""
    import re

    return re.sub(r"(?<=://)([^/@:\s]*):[^/@\s]*@", r"\1:***@", text)


def sqlite_path(tracking_uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` URI (``None`` for any other store)."""
    if not tracking_uri.startswith("sqlite:///"):
        return None
    return Path(tracking_uri.removeprefix("sqlite:///"))


def sanitize_experiment_name(name: str) -> str:
    """``name`` as a folder name: characters other than letters, digits, ``-_.`` become ``_``."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


#: Longest experiment name a store keeps (MLflow's SQL column is ``VARCHAR(256)``; PostgreSQL
#: and MySQL refuse longer ones, SQLite would keep them).
MAX_EXPERIMENT_NAME = 256
#: Longest file name most filesystems take (``NAME_MAX``): the artifact folder's name.
MAX_FOLDER_NAME_BYTES = 255


def check_experiment_name(name: str) -> str:
    """``name`` when a store and the filesystem can both hold it, else :class:`StoreError`
    (one line, before anything is created): not empty, printable (no newline or control
    character), at most :data:`MAX_EXPERIMENT_NAME` characters, its artifact folder name
    (:func:`sanitize_experiment_name`) at most :data:`MAX_FOLDER_NAME_BYTES` bytes of UTF-8
    and neither ``.`` nor ``..``."""
    shown = repr(name if len(name) <= 40 else f"{name[:37]}...")
    valid = (
        f"valid: 1 to {MAX_EXPERIMENT_NAME} printable characters whose artifact folder name "
        f"takes at most {MAX_FOLDER_NAME_BYTES} bytes"
    )
    folder = sanitize_experiment_name(name)
    if not name.strip():
        problem = "is empty"
    elif not name.isprintable():
        problem = "holds a newline or control character"
    elif len(name) > MAX_EXPERIMENT_NAME:
        problem = f"has {len(name)} characters"
    elif len(folder.encode()) > MAX_FOLDER_NAME_BYTES:
        problem = f"makes an artifact folder name of {len(folder.encode())} bytes"
    elif folder in (".", ".."):
        problem = f"makes the artifact folder {folder!r}"
    else:
        return name
    raise StoreError(f"experiment name {shown} {problem}; {valid}")


def default_artifact_location(tracking_uri: str, experiment_name: str) -> str | None:
    """Artifacts of a local SQLite store go under ``mlruns/artifacts/``; servers choose their own."""
    db = sqlite_path(tracking_uri)
    if db is None:
        return None
    return (db.parent / "artifacts" / sanitize_experiment_name(experiment_name)).as_uri()


def spool_dir() -> Path:
    """``mlruns/spool/``: the pending writes of every run, one JSONL file per run."""
    return mlruns_dir() / "spool"


class StoreError(ActlabError):
    """The tracking store cannot be used: a bad URI, or a folder or database actlab cannot write."""


#: URI schemes (before any ``+driver``) of the stores MLflow can track to.
TRACKING_SCHEMES = ("http", "https", "sqlite", "postgresql", "mysql", "mssql", "file", "databricks")
#: Tracking URIs that are a word, not ``scheme:...`` (Databricks workspaces).
BARE_URIS = ("databricks", "databricks-uc", "uc")
#: First bytes of an SQLite database file.
SQLITE_HEADER = b"SQLite format 3\x00"


def _unwritable(folder: Path) -> str | None:
    """Why no file can be created in ``folder`` (``None`` if one can): tried, not guessed, since
    ``os.access`` says yes to root on read-only file systems."""
    try:
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".actlab-write-test-")
    except OSError as err:
        return err.strerror or str(err)
    os.close(fd)
    os.unlink(probe)
    return None


def check_mlruns(path: Path | None = None) -> Path:
    """Check that ``mlruns/`` is (or can be made) a folder actlab can write; returns its path.

    Raises:
        StoreError: ``ACTLAB_MLRUNS`` names a file, or a folder that cannot be created or
            written (read-only file system, permissions).
    """
    path = (path or Path(os.environ.get(MLRUNS_ENV) or MLRUNS_DIR)).resolve()
    named = f"{MLRUNS_ENV}={path}" if os.environ.get(MLRUNS_ENV) else f"the store folder {path}"
    existing = next((p for p in (path, *path.parents) if p.exists()), None)
    if existing is not None and not existing.is_dir():
        what = "is a file" if existing == path else f"is inside the file {existing}"
        msg = f"{named} {what}: it must be a folder (actlab keeps the SQLite store, artifacts and checkpoints there)"
        raise StoreError(msg)
    why = _unwritable(existing) if existing is not None else "no such folder"
    if why:
        where = "" if existing == path else f" (its parent {existing} cannot be written)"
        msg = f"{named} is not writable{where}: {why}; point {MLRUNS_ENV} at a folder you can write"
        raise StoreError(msg)
    return path


def check_tracking_uri(uri: str) -> None:
    """Check the form of a tracking URI (and, for SQLite, that its database can be written).

    Raises:
        StoreError: no known scheme (``MLFLOW_TRACKING_URI=not-a-uri``), an ``http`` URI without
            a host, or an SQLite database that is read-only or not a database.
    """
    source = f"{TRACKING_URI_ENV}={uri!r}" if os.environ.get(TRACKING_URI_ENV) == uri else repr(uri)
    if uri in BARE_URIS:
        return
    scheme, sep, rest = uri.partition(":")
    valid = (
        "valid: http(s)://HOST:PORT, sqlite:///PATH, postgresql://..., mysql://..., "
        f"file:///PATH, databricks, or unset {TRACKING_URI_ENV} for mlruns/{DB_NAME}"
    )
    if not sep or scheme.split("+")[0].lower() not in TRACKING_SCHEMES:
        raise StoreError(f"tracking URI {source} is not a tracking URI; {valid}")
    if scheme in ("http", "https") and not urllib.parse.urlsplit(uri).hostname:
        raise StoreError(f"tracking URI {source} has no host; {valid}")
    db = sqlite_path(uri)
    if scheme == "sqlite" and (db is None or not rest.removeprefix("///")):
        raise StoreError(f"tracking URI {source}: an SQLite store is sqlite:///PATH; {valid}")
    if db is None:
        return
    check_mlruns(db.parent)
    if not db.exists():
        return
    if db.is_dir():
        raise StoreError(f"the MLflow database {db} is a folder, not an SQLite file")
    try:
        with db.open("r+b") as f:
            head = f.read(len(SQLITE_HEADER))
    except OSError as err:
        msg = (
            f"the MLflow database {db} is read-only ({err.strerror or err}): actlab must write "
            f"runs there; make it writable or point {MLRUNS_ENV} elsewhere"
        )
        raise StoreError(msg) from None
    if head and head != SQLITE_HEADER:
        raise StoreError(
            f"the MLflow database {db} is not an SQLite database (starts with {head[:8]!r})"
        )


def check_store(uri: str | None = None) -> str:
    """Check ``mlruns/`` and the tracking URI (default: as ``actlab fit`` resolves it) once, up
    front, before any training; returns the URI. Cheap: no MLflow import, no network."""
    check_mlruns()
    uri = uri or default_tracking_uri()
    check_tracking_uri(uri)
    return uri


@contextlib.contextmanager
def store_lock(db: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``<db>.lock`` (``fcntl.flock``; no lock where that is missing)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    with open(db.with_name(db.name + ".lock"), "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


#: Lock files of the runs this process writes (:func:`hold_run`), by run id.
_HELD_RUNS: dict[str, object] = {}


def launching_process() -> bool:
    """Whether this is the process that starts a run (not a DDP rank > 0 a launcher started)."""
    return all(os.environ.get(name, "0") == "0" for name in ("RANK", "LOCAL_RANK", "NODE_RANK"))


def hold_run(run_id: str) -> bool:
    """Take the lock of run ``run_id`` (``<mlruns>/locks/<run id>.lock``, ``fcntl.flock``) until
    :func:`release_runs` or the end of this process; ``False`` when another fit holds it.

    Every fit holds the lock of the run it writes, so a second fit resuming the same run is
    refused while the first one runs, and a lock never outlives its process.
    """
    if run_id in _HELD_RUNS or not launching_process():
        return True
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        return True
    folder = mlruns_dir() / "locks"
    folder.mkdir(parents=True, exist_ok=True)
    handle = open(folder / f"{run_id}.lock", "a")  # noqa: SIM115 - held until release_runs
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        return False
    _HELD_RUNS[run_id] = handle
    return True


def release_runs() -> None:
    """Release every run lock this process holds (:func:`hold_run`)."""
    for handle in _HELD_RUNS.values():
        handle.close()  # type: ignore[attr-defined]
    _HELD_RUNS.clear()


def sqlite_store_created(db: Path) -> bool:
    """Whether MLflow has created its tables in ``db`` (its schema version is recorded)."""
    if not db.is_file() or db.stat().st_size == 0:
        return False
    try:
        with contextlib.closing(sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True)) as conn:
            row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.Error:
        return False
    return row is not None


def ensure_store(uri: str | None = None) -> str:
    """Check the store (:func:`check_store`) and create a new SQLite store safely; returns the URI.

    MLflow creates and migrates a new SQLite store in whichever process opens it first, and two
    processes doing that at once fail (``Online migration expected to match one row``). Here the
    creation runs under a file lock beside the database, so fits, sweeps and ``actlab ui``
    started together on a fresh ``mlruns/`` create it once. MLflow is imported only to create it.
    """
    uri = check_store(uri)
    db = sqlite_path(uri)
    if db is None:
        return uri
    db.parent.mkdir(parents=True, exist_ok=True)
    with store_lock(db):
        if not sqlite_store_created(db):
            from mlflow.tracking import MlflowClient

            MlflowClient(uri)  # creates the tables and runs the migrations
    return uri


@dataclass
class StoredRun:
    """One run as a report reads it: id, status, tags, params and latest metric values."""

    run_id: str
    status: str
    tags: dict[str, str]
    params: dict[str, str]
    metrics: dict[str, float]


#: Seconds a read of a local store waits for another process's write lock before it says so.
LOCK_WAIT = 10.0


def read_sqlite_runs(tracking_uri: str, experiment: str) -> list[StoredRun] | None:
    """The active runs of ``experiment`` in a local SQLite store, oldest first, read with
    ``sqlite3`` instead of MLflow (whose client costs more CPU to start than ``import torch``).

    Returns what ``MlflowClient.search_runs`` returns (metrics: the value at the latest step, as
    MLflow's ``latest_metrics`` table keeps it), or ``None`` when this cannot answer: not an
    SQLite URI, or a schema this reader does not know (then ask MLflow).

    Raises:
        StoreError: there is no database, or it has no experiment ``experiment`` (the message
            lists those it has).
    """
    db = sqlite_path(tracking_uri)
    if db is None:
        return None
    if not db.is_file():
        raise StoreError(f"no MLflow store at {db}: nothing was tracked there yet")
    try:
        connect = sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True, timeout=LOCK_WAIT)
        with contextlib.closing(connect) as conn:
            found = conn.execute(
                "SELECT experiment_id FROM experiments WHERE name = ?", (experiment,)
            ).fetchone()
            if found is None:
                names = [r[0] for r in conn.execute("SELECT name FROM experiments")]
                raise StoreError(
                    unknown_name_message(f"experiment in {tracking_uri}", experiment, names)
                )
            runs = conn.execute(
                "SELECT run_uuid, status FROM runs WHERE experiment_id = ? AND "
                "lifecycle_stage = 'active' ORDER BY start_time ASC, run_uuid ASC",
                (found[0],),
            ).fetchall()
            by_id = {run_id: StoredRun(run_id, status, {}, {}, {}) for run_id, status in runs}
            ids = f"SELECT run_uuid FROM runs WHERE experiment_id = {int(found[0])}"
            for table, target in (("tags", "tags"), ("params", "params")):
                rows = conn.execute(
                    f"SELECT run_uuid, key, value FROM {table} WHERE run_uuid IN ({ids})"
                )
                for run_id, key, value in rows:
                    if run_id in by_id:
                        getattr(by_id[run_id], target)[key] = value
            rows = conn.execute(
                f"SELECT run_uuid, key, value, is_nan FROM latest_metrics WHERE run_uuid IN ({ids})"
            )
            for run_id, key, value, is_nan in rows:
                if run_id in by_id:
                    by_id[run_id].metrics[key] = float("nan") if is_nan else float(value)
    except sqlite3.OperationalError as err:
        if "locked" in str(err) or "busy" in str(err):
            msg = (
                f"the store {db} is locked by another process (waited {LOCK_WAIT:g} s): "
                "try again when it is done"
            )
            raise StoreError(msg) from None
        return None
    except sqlite3.Error:
        return None
    return list(by_id.values())


def read_sqlite_experiments(tracking_uri: str, most: int) -> list[tuple[str, str]] | None:
    """``(experiment id, name)`` of the ``most`` most recently updated active experiments of a
    local SQLite store, read with ``sqlite3``; ``None`` when this cannot answer (as
    :func:`read_sqlite_runs`), ``[]`` when the store does not exist yet."""
    db = sqlite_path(tracking_uri)
    if db is None:
        return None
    if not db.is_file():
        return []
    try:
        with contextlib.closing(sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True)) as conn:
            rows = conn.execute(
                "SELECT experiment_id, name FROM experiments WHERE lifecycle_stage = 'active' "
                "ORDER BY last_update_time DESC, experiment_id DESC LIMIT ?",
                (most,),
            ).fetchall()
    except sqlite3.Error:
        return None
    return [(str(experiment_id), str(name)) for experiment_id, name in rows]
