"""Keeps a run's measurements when the tracking server is unreachable: a local spool, replayed later.

:class:`ResilientClient` wraps an ``MlflowClient``. Its write calls (metrics, params, tags,
artifacts, run status) go to the server; when the server cannot be reached they are appended to
``mlruns/spool/<run_id>.jsonl`` (files copied to ``mlruns/spool/<run_id>/``) and training goes
on. From the first failure on, writes go straight to the spool, so their order is kept;
:meth:`ResilientClient.flush` (called at every epoch end and when the run ends) sends the spool
once the server answers again. ``actlab sync`` replays whatever is left after the process ended.

When the server cannot be reached even to create the run, the run gets a local *pending* id
(``pending-<hex>``) and its spool starts with a ``create_run`` record (experiment name, start
time, tags). Replaying it creates the experiment (if needed) and the run, records
``pending id -> run id`` in ``mlruns/spool/run_ids.json`` and sends the rest to the new run; a
checkpoint holding the pending id resumes that run.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from actlab.errors import error_line
from actlab.tracking.store import redact_credentials, spool_dir

log = logging.getLogger(__name__)

#: Prefix of the local id of a run the server has not created yet.
PENDING_PREFIX = "pending-"
#: Spool method that creates a pending run on the server (always its spool's first record).
CREATE_RUN = "create_run"

#: Writes that go to the artifact store (not the tracking store): an ``OSError`` there (a
#: read-only or full folder) skips the artifact instead of stopping training.
ARTIFACT_METHODS = frozenset({"log_text", "log_dict", "log_image", "log_artifact", "log_artifacts"})
#: Run tag saying how many artifacts could not be written, and why.
ARTIFACTS_SKIPPED_TAG = "artifacts_skipped"

#: SQLite's message for ``SQLITE_FULL`` (MLflow passes it on): the store's disk is full.
SQLITE_FULL = "database or disk is full"

#: HTTP client settings for remote tracking: fail in seconds, not minutes, when the server is down.
HTTP_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "0",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "10",
}


def new_pending_run_id() -> str:
    """A fresh local run id, ``pending-<32 hex digits>``."""
    return f"{PENDING_PREFIX}{uuid.uuid4().hex}"


def is_pending_run_id(run_id: str | None) -> bool:
    """Whether ``run_id`` is a local id of a run not (yet) known to be created on the server."""
    return isinstance(run_id, str) and run_id.startswith(PENDING_PREFIX)


class RunIds:
    """``<spool root>/run_ids.json``: the server's run id of every pending run created so far."""

    def __init__(self, root: Path) -> None:
        self.path = root / "run_ids.json"

    def load(self) -> dict[str, str]:
        try:
            return dict(json.loads(self.path.read_text()))
        except (OSError, ValueError):
            return {}

    def get(self, pending_id: str) -> str | None:
        return self.load().get(pending_id)

    def set(self, pending_id: str, run_id: str) -> None:
        ids = {**self.load(), pending_id: run_id}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, suffix=".json")
        with os.fdopen(fd, "w") as f:
            json.dump(ids, f, indent=1)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)


def create_run(
    client: Any, experiment_name: str, artifact_location: str | None, start_time: int, tags: dict
) -> str:
    """Create a pending run on the server: get or create its experiment by name, then the run
    with the original start time and tags (the run name is the ``mlflow.runName`` tag)."""
    from mlflow.exceptions import MlflowException

    experiment = client.get_experiment_by_name(experiment_name)
    if experiment is None:
        try:
            experiment_id = client.create_experiment(
                experiment_name, artifact_location=artifact_location
            )
        except MlflowException as err:  # created meanwhile by another process
            experiment = client.get_experiment_by_name(experiment_name)
            if experiment is None:
                raise err from None
            experiment_id = experiment.experiment_id
    elif experiment.lifecycle_stage == "deleted":
        msg = f"experiment {experiment_name!r} is deleted on the server: restore it to sync"
        raise MlflowException(msg)
    else:
        experiment_id = experiment.experiment_id
    run = client.create_run(experiment_id, start_time=start_time, tags=tags)
    return run.info.run_id


def _with_run_id(args: tuple, kwargs: dict[str, Any], old: str, new: str) -> tuple[tuple, dict]:
    """``args``/``kwargs`` of a client call with the run id ``old`` replaced by ``new``."""
    if kwargs.get("run_id") == old:
        kwargs = {**kwargs, "run_id": new}
    if args and args[0] == old:
        args = (new, *args[1:])
    return tuple(args), kwargs


def is_outage(err: BaseException) -> bool:
    """Whether ``err`` means the server could not be reached (not that it refused the request)."""
    try:
        import requests

        if isinstance(err, requests.exceptions.RequestException):
            return True
    except ImportError:  # pragma: no cover - requests ships with mlflow
        pass
    if isinstance(err, (ConnectionError, TimeoutError)):
        return True
    from mlflow.exceptions import MlflowException

    if isinstance(err, MlflowException):
        text = str(err)
        status = getattr(err, "get_http_status_code", lambda: 0)()
        if status in AUTH_STATUSES:
            return False
        return "API request to" in text or "Max retries" in text or status in (502, 503, 504)
    return False


#: HTTP statuses of a server that refused the client's credentials (not an outage).
AUTH_STATUSES = {401: "401 Unauthorized", 403: "403 Forbidden"}


def auth_refusal(err: BaseException) -> str | None:
    """``"HTTP 401 Unauthorized"`` (or 403) when ``err`` is the server refusing the client's
    credentials, else ``None``: the writes are fine, the login is not."""
    from mlflow.exceptions import MlflowException

    if not isinstance(err, MlflowException):
        return None
    status = AUTH_STATUSES.get(getattr(err, "get_http_status_code", lambda: 0)())
    return f"HTTP {status}" if status else None


def stop_reason(err: BaseException) -> str | None:
    """Why a replay stops at ``err`` with the write kept (unreachable, or a login refused);
    ``None`` when the server rejected the write itself."""
    if is_outage(err):
        return f"server unreachable ({type(err).__name__})"
    refused = auth_refusal(err)
    if refused:
        return (
            f"server refused the login: {refused} (set MLFLOW_TRACKING_USERNAME and "
            "MLFLOW_TRACKING_PASSWORD)"
        )
    return None


@dataclass(frozen=True)
class Replay:
    """What a replay of one spool did: ``left`` writes still in the spool (``reason`` says why),
    ``rejected`` writes the server refused, moved to ``dead_letter``."""

    left: int = 0
    reason: str | None = None
    rejected: int = 0
    dead_letter: Path | None = None
    first_rejection: str | None = None


def _to_json(value: Any, files: Path) -> Any:
    """Encode a call argument: MLflow entities as dicts, images and figures as PNG files
    (their paths relative to the spool folder, ``files``' parent, so a moved spool works)."""
    from mlflow.entities import DatasetInput, Metric, Param, RunTag

    if isinstance(value, DatasetInput):
        return {"__dataset_input__": value.to_dictionary()}

    if isinstance(value, Metric):
        return {"__metric__": [value.key, value.value, value.timestamp, value.step]}
    if isinstance(value, Param):
        return {"__param__": [value.key, value.value]}
    if isinstance(value, RunTag):
        return {"__tag__": [value.key, value.value]}
    if isinstance(value, (list, tuple)):
        return [_to_json(v, files) for v in value]
    if isinstance(value, dict):
        return {k: _to_json(v, files) for k, v in value.items()}
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    files.mkdir(parents=True, exist_ok=True)
    path = files / f"{uuid.uuid4().hex}.png"
    if hasattr(value, "savefig"):
        value.savefig(path)
    else:
        import numpy as np
        from PIL import Image

        array = np.asarray(value)
        if array.dtype != np.uint8:
            array = (np.clip(array, 0, 1) * 255).astype(np.uint8)
        Image.fromarray(array).save(path)
    return {"__png__": str(path.relative_to(files.parent))}


def _from_json(value: Any, root: Path) -> Any:
    """Decode a call argument encoded by :func:`_to_json`; file paths are relative to ``root``
    (an absolute path, as older spools wrote, stays as it is)."""
    from mlflow.entities import DatasetInput, Metric, Param, RunTag

    if isinstance(value, list):
        return [_from_json(v, root) for v in value]
    if isinstance(value, dict):
        if "__metric__" in value:
            return Metric(*value["__metric__"])
        if "__param__" in value:
            return Param(*value["__param__"])
        if "__tag__" in value:
            return RunTag(*value["__tag__"])
        if "__dataset_input__" in value:
            from mlflow.entities import Dataset, InputTag

            entry = value["__dataset_input__"]
            tags = [InputTag(k, v) for k, v in entry["tags"].items()]
            return DatasetInput(Dataset(**entry["dataset"]), tags)
        if "__png__" in value:
            from PIL import Image

            return Image.open(root / value["__png__"]).copy()
        return {k: _from_json(v, root) for k, v in value.items()}
    return value


class Spool:
    """The pending writes of one run: ``<root>/<run_id>.jsonl`` plus its files."""

    def __init__(self, run_id: str, tracking_uri: str, root: Path | None = None) -> None:
        self.run_id = run_id
        self.tracking_uri = tracking_uri
        self.root = root or spool_dir()
        self.path = self.root / f"{run_id}.jsonl"
        self.files = self.root / run_id

    def __len__(self) -> int:
        return len(self.records())

    def has_records(self) -> bool:
        """Whether calls are waiting (a cheap check: the file is removed once sent)."""
        try:
            return self.path.stat().st_size > 0
        except OSError:
            return False

    def logged(self) -> tuple[dict[str, str], dict[str, set[int]]]:
        """Params and the steps of each metric waiting in the spool (for a resumed run)."""
        params: dict[str, str] = {}
        steps: dict[str, set[int]] = {}

        def scan(value: Any) -> None:
            if isinstance(value, list):
                for item in value:
                    scan(item)
            elif isinstance(value, dict):
                if "__metric__" in value:
                    key, _, _, step = value["__metric__"]
                    steps.setdefault(key, set()).add(int(step or 0))
                elif "__param__" in value:
                    params[value["__param__"][0]] = value["__param__"][1]
                else:
                    for item in value.values():
                        scan(item)

        for record in self.records():
            if record["method"] == "log_batch":
                scan([record["args"], record["kwargs"]])
        return params, steps

    def append(self, method: str, args: tuple, kwargs: dict[str, Any]) -> None:
        """Append one call; files (artifacts, images) are copied into the spool first and
        recorded by their path relative to the spool folder (:data:`PATH_ARGS`)."""
        self.root.mkdir(parents=True, exist_ok=True)
        if method == "log_artifact":
            if len(args) > 1:  # the path as a keyword, so that replay finds it
                kwargs = {**kwargs, "local_path": args[1]}
                args = (args[0], *args[2:])
            local = Path(kwargs["local_path"])
            copy = self.files / uuid.uuid4().hex / local.name  # the artifact keeps its name
            copy.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(local, copy)
            kwargs = {**kwargs, "local_path": str(copy.relative_to(self.root))}
        elif method == "log_artifacts":
            copy = self.files / uuid.uuid4().hex
            shutil.copytree(kwargs["local_dir"], copy)
            kwargs = {**kwargs, "local_dir": str(copy.relative_to(self.root))}
        record = {
            "method": method,
            "tracking_uri": self.tracking_uri,
            "args": _to_json(list(args), self.files),
            "kwargs": _to_json(kwargs, self.files),
        }
        with self.path.open("a") as f:
            f.write(json.dumps(record) + "\n")
            f.flush()
            os.fsync(f.fileno())

    @property
    def dead_letter(self) -> Path:
        """``<root>/rejected/<run_id>.jsonl``: the writes the server refused, with its reason."""
        return self.root / "rejected" / f"{self.run_id}.jsonl"

    def _reject(self, records: list[dict[str, Any]]) -> None:
        """Append refused writes (each with its ``error``) to :attr:`dead_letter`."""
        self.dead_letter.parent.mkdir(parents=True, exist_ok=True)
        with self.dead_letter.open("a") as f:
            f.writelines(json.dumps(r) + "\n" for r in records)
            f.flush()
            os.fsync(f.fileno())

    def requeue_rejected(self) -> int:
        """Put the writes of :attr:`dead_letter` back in front of the spool (to send them again
        once the cause is fixed); returns how many."""
        if not self.dead_letter.exists():
            return 0
        lines = [line for line in self.dead_letter.read_text().splitlines() if line.strip()]
        rejected = [{k: v for k, v in json.loads(line).items() if k != "error"} for line in lines]
        self._rewrite([*rejected, *self.records()])
        self.dead_letter.unlink()
        return len(rejected)

    def _rewrite(self, records: list[dict[str, Any]]) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.root, suffix=".tmp")
        with os.fdopen(fd, "w") as f:
            f.writelines(json.dumps(r) + "\n" for r in records)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)

    def records(self) -> list[dict[str, Any]]:
        """The spooled calls in order; lines that are not JSON (a write cut short when the
        process was killed) are left out and their numbers kept in :attr:`skipped`."""
        self.skipped: list[int] = []
        if not self.path.exists():
            return []
        records = []
        for number, line in enumerate(self.path.read_text().splitlines(), start=1):
            if not line.strip():
                continue
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                self.skipped.append(number)
        return records

    def replay(self, client: Any) -> Replay:
        """Send the pending calls in order through ``client``; a write leaves the spool only
        once the server acknowledged it (at least once: a write sent just before the process
        was killed is sent again).

        Stops at the first call the server cannot take now (unreachable, or a login refused:
        :func:`stop_reason`); that call and the rest stay. A call the server rejects (a run
        that does not exist there, a param logged twice with another value) moves to
        :attr:`dead_letter` with the error and the replay goes on. A pending run is created
        first (once: its id is recorded in ``run_ids.json``) and the calls are sent to it.
        """
        records = self.records()
        ids = RunIds(self.root)
        pending = is_pending_run_id(self.run_id)
        run_id = ids.get(self.run_id) if pending else self.run_id
        sent, reason = 0, None
        rejected: list[dict[str, Any]] = []
        for record in records:
            kwargs = _from_json(record["kwargs"], self.root)
            if record["method"] == CREATE_RUN:
                if run_id is None:
                    try:
                        run_id = create_run(client, **kwargs)
                    except Exception as err:  # noqa: BLE001 - keep everything until it works
                        reason = stop_reason(err) or f"cannot create the run: {error_line(err)}"
                        break
                    ids.set(self.run_id, run_id)
                    log.info("created run %s for %s", run_id, self.run_id)
                sent += 1
                continue
            if run_id is None:  # a pending run whose create_run record is missing
                reason = "the run was never created (its create_run record is missing)"
                break
            args, kwargs = _with_run_id(
                _from_json(record["args"], self.root), kwargs, self.run_id, run_id
            )
            for key in PATH_ARGS.get(record["method"], ()):
                if kwargs.get(key) is not None:
                    kwargs[key] = str(self.root / kwargs[key])
            try:
                getattr(client, record["method"])(*args, **kwargs)
            except Exception as err:  # noqa: BLE001 - sort outages from rejections
                reason = stop_reason(err)
                if reason is not None:
                    break
                rejected.append({**record, "error": error_line(err)})
            sent += 1
        if rejected:
            self._reject(rejected)
            log.warning(
                "server rejected %d spooled writes of run %s (first: %s); kept in %s",
                len(rejected),
                self.run_id,
                rejected[0]["error"],
                self.dead_letter,
            )
        rest = records[sent:]
        if rest:
            self._rewrite(rest)
        else:
            self.path.unlink(missing_ok=True)
            if not self.dead_letter.exists():  # rejected writes keep their files
                shutil.rmtree(self.files, ignore_errors=True)
        return Replay(
            left=len(rest),
            reason=reason if rest else None,
            rejected=len(rejected),
            dead_letter=self.dead_letter if rejected else None,
            first_rejection=rejected[0]["error"] if rejected else None,
        )


#: Arguments of spooled calls that are file paths relative to the spool folder.
PATH_ARGS = {"log_artifact": ("local_path",), "log_artifacts": ("local_dir",)}


class ResilientClient:
    """An ``MlflowClient`` whose writes survive a server outage (see the module docstring).

    Only the calls actlab and Lightning's ``MLFlowLogger`` make exist here, each written out:
    *writes* (``log_*``, ``set_*``, ``update_run``) go to the spool when the server cannot be
    reached; *reads* and run creation (``get_*``, ``create_*``) go to the server and may raise.
    A pending run id is replaced by the server's id once the run exists. For ``http(s)://``
    URIs every call runs with :data:`HTTP_DEFAULTS` (see :func:`http_settings`).

    Args:
        client: the wrapped ``MlflowClient``.
        tracking_uri: where the client writes (recorded in the spool for ``actlab sync``).
        spool_root: folder of the spool; ``mlruns/spool`` by default.
    """

    def __init__(self, client: Any, tracking_uri: str, spool_root: Path | None = None) -> None:
        self._client = client
        self._uri = tracking_uri
        self._spool_root = spool_root
        self._spools: dict[str, Spool] = {}
        self._remote = tracking_uri.startswith(("http://", "https://"))
        self.offline = False
        self._skipped: dict[str, int] = {}  # artifacts not written, by run

    def __getstate__(self) -> dict[str, Any]:
        # The wrapped client may hold a database engine: rebuild it in the new process.
        return {**self.__dict__, "_client": None, "_spools": {}}

    def __setstate__(self, state: dict[str, Any]) -> None:
        from mlflow.tracking import MlflowClient

        self.__dict__.update(state)
        self._client = MlflowClient(self._uri)

    @property
    def tracking_uri(self) -> str:
        return self._uri

    # -- reads and run creation: to the server, errors raised --------------------------------

    def _server(self, method: str, *args: Any, **kwargs: Any) -> Any:
        with http_settings(self._remote):
            return getattr(self._client, method)(*args, **kwargs)

    def get_experiment_by_name(self, name: str) -> Any:
        return self._server("get_experiment_by_name", name)

    def create_experiment(
        self, name: str, artifact_location: str | None = None, tags: dict | None = None
    ) -> str:
        return self._server(
            "create_experiment", name, artifact_location=artifact_location, tags=tags
        )

    def create_run(
        self,
        experiment_id: str,
        start_time: int | None = None,
        tags: dict[str, Any] | None = None,
        run_name: str | None = None,
    ) -> Any:
        return self._server(
            "create_run", experiment_id, start_time=start_time, tags=tags, run_name=run_name
        )

    def get_run(self, run_id: str) -> Any:
        return self._server("get_run", self.resolve(run_id))

    def get_metric_history(self, run_id: str, key: str) -> Any:
        return self._server("get_metric_history", self.resolve(run_id), key)

    # -- writes: spooled while the server is unreachable --------------------------------------

    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Any] = (),
        params: Sequence[Any] = (),
        tags: Sequence[Any] = (),
        synchronous: bool | None = None,
    ) -> None:
        kwargs: dict[str, Any] = {"metrics": list(metrics), "params": list(params)}
        kwargs["tags"] = list(tags)
        if synchronous is not None:
            kwargs["synchronous"] = synchronous
        self._write("log_batch", run_id, kwargs)

    def log_text(self, run_id: str, text: str, artifact_file: str) -> None:
        self._write("log_text", run_id, {"text": text, "artifact_file": artifact_file})

    def log_dict(self, run_id: str, dictionary: Any, artifact_file: str) -> None:
        self._write("log_dict", run_id, {"dictionary": dictionary, "artifact_file": artifact_file})

    def log_image(
        self,
        run_id: str,
        image: Any,
        artifact_file: str | None = None,
        key: str | None = None,
        step: int | None = None,
    ) -> None:
        kwargs = {"image": image, "artifact_file": artifact_file, "key": key, "step": step}
        self._write("log_image", run_id, {k: v for k, v in kwargs.items() if v is not None})

    def log_artifact(self, run_id: str, local_path: str, artifact_path: str | None = None) -> None:
        kwargs = {"local_path": str(local_path), "artifact_path": artifact_path}
        self._write("log_artifact", run_id, kwargs)

    def log_artifacts(self, run_id: str, local_dir: str, artifact_path: str | None = None) -> None:
        kwargs = {"local_dir": str(local_dir), "artifact_path": artifact_path}
        self._write("log_artifacts", run_id, kwargs)

    def log_inputs(self, run_id: str, datasets: Sequence[Any]) -> None:
        self._write("log_inputs", run_id, {"datasets": list(datasets)})

    def set_tag(self, run_id: str, key: str, value: Any) -> None:
        self._write("set_tag", run_id, {"key": key, "value": value})

    def delete_tag(self, run_id: str, key: str) -> None:
        self._write("delete_tag", run_id, {"key": key})

    def set_terminated(self, run_id: str, status: str | None = None) -> None:
        self._write("set_terminated", run_id, {"status": status})

    def update_run(self, run_id: str, status: str | None = None, name: str | None = None) -> None:
        kwargs = {"status": status, "name": name}
        self._write("update_run", run_id, {k: v for k, v in kwargs.items() if v is not None})

    def _write(self, method: str, run_id: str, kwargs: dict[str, Any]) -> None:
        """Send one write to the server, or append it to the run's spool (see module doc)."""
        args: tuple = (run_id,)
        spool = self.spool(run_id)
        if is_pending_run_id(run_id):
            created = self.resolve(run_id)
            if created == run_id or spool.has_records():  # not created, or queue behind
                spool.append(method, args, kwargs)
                return
            args = (created,)
            spool = self.spool(created)
        if not self.offline and not spool.has_records():
            try:
                self._server(method, *args, **kwargs)
                return
            except Exception as err:  # noqa: BLE001 - only outages are spooled
                if not is_outage(err):
                    if method in ARTIFACT_METHODS and isinstance(err, OSError):
                        self._skip_artifact(args[0], method, kwargs, err)
                        return
                    raise
                self.offline = True
                # MLflow reports SQLite's full disk as "temporarily unavailable": say which.
                full = SQLITE_FULL in str(err)
                why = SQLITE_FULL if full else f"unreachable ({type(err).__name__})"
                log.warning(
                    "tracking server %s: %s; keeping run %s's writes in %s",
                    redact_credentials(self._uri),
                    why,
                    args[0],
                    spool.path,
                )
        spool.append(method, args, kwargs)

    def _skip_artifact(
        self, run_id: str, method: str, kwargs: dict[str, Any], err: OSError
    ) -> None:
        """An artifact the artifact store cannot write (read-only or full folder): skipped with
        a warning and counted in the run's :data:`ARTIFACTS_SKIPPED_TAG`; training goes on,
        since the metrics, params and checkpoints are written elsewhere and intact."""
        name = kwargs.get("artifact_file") or kwargs.get("key") or kwargs.get("local_path")
        name = name or kwargs.get("local_dir") or method
        self._skipped[run_id] = self._skipped.get(run_id, 0) + 1
        count = self._skipped[run_id]
        reason = f"{type(err).__name__}: {err}"
        if count == 1:
            log.warning(
                "cannot write artifact %s of run %s (%s): skipped, training goes on; the run's "
                "tag %s counts what is missing",
                name,
                run_id,
                reason,
                ARTIFACTS_SKIPPED_TAG,
            )
        with contextlib.suppress(Exception):
            value = f"{count} artifact(s) not written: {reason}"
            self._server("set_tag", run_id, ARTIFACTS_SKIPPED_TAG, value)

    # -- the spool ----------------------------------------------------------------------------

    @property
    def spool_root(self) -> Path:
        return self._spool_root or spool_dir()

    def spool(self, run_id: str) -> Spool:
        if run_id not in self._spools:
            self._spools[run_id] = Spool(run_id, self._uri, self._spool_root)
        return self._spools[run_id]

    def create_pending_run(
        self, experiment_name: str, artifact_location: str | None, tags: dict[str, str]
    ) -> str:
        """Start a run the server could not create: returns its pending id (see module doc)."""
        run_id = new_pending_run_id()
        record = {
            "experiment_name": experiment_name,
            "artifact_location": artifact_location,
            "start_time": int(time.time() * 1000),
            "tags": {str(k): str(v) for k, v in tags.items()},
        }
        self.spool(run_id).append(CREATE_RUN, (), record)
        self.offline = True
        return run_id

    def resolve(self, run_id: str) -> str:
        """The server's id of a pending run once created; any other id unchanged."""
        if not is_pending_run_id(run_id):
            return run_id
        return RunIds(self.spool_root).get(run_id) or run_id

    def is_pending(self, run_id: str) -> bool:
        """Whether ``run_id`` is a run the server has not created yet."""
        return is_pending_run_id(self.resolve(run_id))

    def send(self, run_id: str) -> int:
        """Send the spool of ``run_id`` (creating a pending run); returns the writes unsent."""
        spool = self.spool(run_id)
        if not spool.has_records():
            return 0
        with http_settings(self._remote):
            return spool.replay(self._client).left

    def spooled(self, run_id: str) -> tuple[dict[str, str], dict[str, set[int]]]:
        """Params and metric steps of ``run_id`` waiting in its spool."""
        return self.spool(run_id).logged()

    def unsent(self) -> int:
        """Writes waiting in the spools of this client (without trying to send them)."""
        return sum(len(s) for s in self._spools.values())

    def flush(self) -> int:
        """Try to send every spooled write; returns how many are still unsent."""
        with http_settings(self._remote):
            spools = [s for s in list(self._spools.values()) if s.has_records()]
            left = sum(s.replay(self._client).left for s in spools)
        self.offline = left > 0
        return left


_http_lock = threading.RLock()
_http_depth = 0
_http_added: dict[str, str] = {}


@contextlib.contextmanager
def http_settings(active: bool = True) -> Iterator[None]:
    """Within the block, MLflow's HTTP client fails in seconds (:data:`HTTP_DEFAULTS`).

    MLflow reads these settings from the environment at each request, so they are set for the
    duration of actlab's own calls only (nested and concurrent blocks share one setting), never
    where the user set them, and removed afterwards: other MLflow clients in the process keep
    MLflow's defaults. ``active=False`` (a local store) changes nothing.
    """
    global _http_depth
    if not active:
        yield
        return
    with _http_lock:
        if _http_depth == 0:
            _http_added.clear()
            _http_added.update({k: v for k, v in HTTP_DEFAULTS.items() if k not in os.environ})
            os.environ.update(_http_added)
        _http_depth += 1
    try:
        yield
    finally:
        with _http_lock:
            _http_depth -= 1
            if _http_depth == 0:
                for key in _http_added:
                    os.environ.pop(key, None)
                _http_added.clear()


def recorded_uris(root: Path | None = None) -> dict[str, str]:
    """The tracking URI each spool under ``root`` was written for, by run id."""
    root = root or spool_dir()
    uris = {}
    for path in sorted(root.glob("*.jsonl")) if root.is_dir() else []:
        records = Spool(path.stem, "", root).records()
        if records:
            uris[path.stem] = records[0].get("tracking_uri") or ""
    return uris


def same_server(a: str, b: str) -> bool:
    """Whether two tracking URIs name the same store (credentials and a final ``/`` aside)."""
    return strip_credentials(a).rstrip("/") == strip_credentials(b).rstrip("/")


def strip_credentials(uri: str) -> str:
    """``http://user:pass@host/x`` -> ``http://host/x``; any other text unchanged."""
    import re

    return re.sub(r"(?<=://)[^/@\s]*@", "", uri)


def sync(
    tracking_uri: str | None = None, root: Path | None = None, retry_rejected: bool = False
) -> dict[str, Replay]:
    """Replay every spool under ``root`` to the tracking URI it was recorded with (or to
    ``tracking_uri``: the caller checks that it is the same server, see :func:`same_server`).
    ``retry_rejected`` first puts the writes the server rejected before back in the spools."""
    from mlflow.tracking import MlflowClient

    root = root or spool_dir()
    if retry_rejected:
        for path in sorted((root / "rejected").glob("*.jsonl")):
            Spool(path.stem, "", root).requeue_rejected()
    done: dict[str, Replay] = {}
    with http_settings():
        for path in sorted(root.glob("*.jsonl")):
            spool = Spool(path.stem, "", root)
            records = spool.records()
            if not records:
                path.unlink()
                continue
            uri = tracking_uri or records[0]["tracking_uri"]
            done[spool.run_id] = spool.replay(MlflowClient(uri))
    return done
