"""Links into the MLflow UI that open a run, or an experiment's runs table, in its
machine-learning view.

MLflow 3 opens an experiment in its GenAI view (traces, evaluations) unless the page's URL says
``workflowType=machine_learning``; its pages live behind a hash router
(``<ui>/#/experiments/<id>/runs/<run id>``), so the query goes inside the fragment. A local
store (SQLite, files) is seen through ``actlab ui`` (http://127.0.0.1:5000 by default); a
tracking server serves its own UI at its URI; ``actlab ui`` leaves its address beside a local
store (:func:`record_ui`), so links name the port and host that actually serve it. No MLflow
import.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

#: Where ``actlab ui`` serves a local store by default.
DEFAULT_UI_HOST = "127.0.0.1"
DEFAULT_UI_PORT = 5000
#: The query that makes MLflow 3 show runs, metrics and charts rather than traces.
ML_VIEW = "workflowType=machine_learning"


def local_ui_url(host: str = DEFAULT_UI_HOST, port: int = DEFAULT_UI_PORT) -> str:
    """The address ``actlab ui --host HOST --port PORT`` serves."""
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else host
    return f"http://{shown}:{port}"


#: The file ``actlab ui`` writes beside a local store: its address and process id.
UI_FILE = "ui.json"


def store_folder(tracking_uri: str) -> Path | None:
    """The folder of a local store (the SQLite file's, or the file store itself); ``None`` for a
    server."""
    if tracking_uri.startswith("sqlite:///"):
        return Path(tracking_uri[len("sqlite:///") :]).parent
    if tracking_uri.startswith("file:"):
        return Path(urlsplit(tracking_uri).path)
    return None if "://" in tracking_uri else Path(tracking_uri)


def record_ui(tracking_uri: str, url: str, pid: int | None = None) -> None:
    """Note that ``url`` serves the local store ``tracking_uri`` (``actlab ui`` calls it just
    before it becomes ``mlflow ui``, keeping its process id)."""
    folder = store_folder(tracking_uri)
    if folder is not None and folder.is_dir():
        record = {"url": url, "pid": os.getpid() if pid is None else pid}
        (folder / UI_FILE).write_text(json.dumps(record) + "\n")


def serving_ui(tracking_uri: str) -> str | None:
    """The address of the ``actlab ui`` serving the local store ``tracking_uri``: the one it
    recorded, while its process lives and its port accepts connections; else ``None``."""
    folder = store_folder(tracking_uri)
    try:
        record = json.loads((folder / UI_FILE).read_text()) if folder else None
        os.kill(int(record["pid"]), 0)
        parts = urlsplit(record["url"])
        with socket.create_connection((parts.hostname, parts.port), timeout=0.5):
            return str(record["url"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def ui_url(tracking_uri: str, local_ui: str | None = None) -> str:
    """The UI's root for ``tracking_uri``: the server itself, or the address of the ``actlab ui``
    serving the store (:func:`serving_ui`; 127.0.0.1:5000 when none does).

    Credentials in a server URI (``http://user:pw@host``) are left out of the link.
    """
    if tracking_uri.startswith(("http://", "https://")):
        parts = urlsplit(tracking_uri)
        netloc = parts.hostname or ""
        if parts.port:
            netloc += f":{parts.port}"
        return urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))
    return (local_ui or serving_ui(tracking_uri) or local_ui_url()).rstrip("/")


#: Prefix of the experiment tags holding MLflow UI's shared views (its "Share" button): the
#: page ``#/experiments/<id>?viewStateShareKey=<key>`` restores the view in tag ``<prefix><key>``,
#: a JSON object of search facets and UI state (MLflow 3.x's ``experiment-page`` code:
#: ``EXPERIMENT_PAGE_VIEW_STATE_SHARE_TAG_PREFIX``, ``EXPERIMENT_PAGE_UI_STATE_FIELDS``).
SHARED_VIEW_PREFIX = "mlflow.sharedViewState."
SHARED_VIEW_PARAM = "viewStateShareKey"


def runs_view(group_by: str, metric: str, tags: Sequence[str]) -> dict[str, Any]:
    """MLflow UI state of a runs table grouped by tag ``group_by`` (mean per group in the
    charts), with ``metric`` and ``tags`` as columns, every run shown (not the first ten)."""
    return {
        "selectedColumns": [f"metrics.`{metric}`", *(f"tags.`{t}`" for t in tags)],
        "runsHiddenMode": "SHOW_ALL",
        "groupBy": {
            "aggregateFunction": "average",
            "groupByKeys": [{"mode": "tag", "groupByData": group_by}],
        },
        "useGroupedValuesInCharts": True,
        "hideEmptyCharts": True,
    }


def shared_view(view: dict[str, Any]) -> tuple[str, str, str]:
    """``(tag key, tag value, share key)`` of ``view``: the key is its content's hash, so the
    same view is one tag however often it is shared."""
    value = json.dumps(view, sort_keys=True)
    key = "actlab-" + hashlib.sha256(value.encode()).hexdigest()[:16]
    return SHARED_VIEW_PREFIX + key, value, key


def experiment_url(ui: str, experiment_id: str, view_key: str | None = None) -> str:
    """The experiment's runs table in the machine-learning view (in the shared view
    ``view_key`` when given, see :func:`shared_view`)."""
    page = f"{ui.rstrip('/')}/#/experiments/{quote(str(experiment_id))}"
    if view_key:  # the runs tab itself: the experiment's root drops the key when it redirects
        return f"{page}/runs?{SHARED_VIEW_PARAM}={quote(view_key)}&{ML_VIEW}"
    return f"{page}?{ML_VIEW}"


def run_url(ui: str, experiment_id: str, run_id: str) -> str:
    """The run's page (overview, params, metrics, artifacts) in the machine-learning view."""
    path = f"/#/experiments/{quote(str(experiment_id))}/runs/{quote(str(run_id))}"
    return f"{ui.rstrip('/')}{path}?{ML_VIEW}"


def is_local(tracking_uri: str) -> bool:
    """Whether the store is read through ``actlab ui`` (not a tracking server)."""
    return not tracking_uri.startswith(("http://", "https://"))


def experiment_link(
    client: Any, tracking_uri: str, experiment: str, view: dict[str, Any] | None = None
) -> str | None:
    """The runs-table link of the experiment named ``experiment`` (``None`` if it does not exist),
    looked up through ``client`` (an ``MlflowClient`` of ``tracking_uri``); with ``view``
    (:func:`runs_view`), stored as the experiment's shared view, which the link opens."""
    found = client.get_experiment_by_name(experiment)
    if found is None:
        return None
    key = None
    if view is not None:
        tag, value, key = shared_view(view)
        try:
            client.set_experiment_tag(found.experiment_id, tag, value)
        except Exception:  # noqa: BLE001 - a store that refuses it (read-only): the plain link
            key = None
    return experiment_url(ui_url(tracking_uri), found.experiment_id, key)


def ui_hint(tracking_uri: str) -> str:
    """What to do before a link of a local store opens: start ``actlab ui``."""
    return "  (start the UI with `actlab ui`)" if is_local(tracking_uri) else ""
