"""A full disk ends a command with one line and exit status 74, not a bug's traceback.

:func:`disk_full_line` finds a full disk behind an error (an ``OSError`` ``ENOSPC``/``EDQUOT``
anywhere in its chain, or SQLite's ``database or disk is full``) and says what could not be
written (the full disk, measured) and what the store holds of the fit's run, read back from the
store rather than assumed: on a full disk SQLite cannot record the run's end, so the run is
usually left ``RUNNING``, and the line says so. :class:`~actlab.fit.guards.RunFailure` names
the run and its store on the error (``run_id``, ``tracking_uri``).
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

from actlab.tracking.resilience import SQLITE_FULL

#: Exit status of a full disk (``EX_IOERR`` of sysexits.h).
DISK_FULL = 74
#: ``errno`` values of a full disk or an exhausted quota.
FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
#: Free bytes under which a file system counts as full (what a failed write leaves is less).
NEARLY_FULL = 1 << 20


def _chain(err: BaseException) -> list[BaseException]:
    """``err`` and every exception it was raised from or while handling, each once."""
    seen: list[BaseException] = []
    stack: list[BaseException | None] = [err]
    while stack:
        current = stack.pop()
        if current is None or any(current is s for s in seen):
            continue
        seen.append(current)
        stack += [current.__context__, current.__cause__]
    return seen


def find_disk_full(err: BaseException) -> BaseException | None:
    """The exception of ``err``'s chain that says a disk is full; SQLite's first (it names the
    store), else the first ``OSError`` with a full-disk ``errno``; ``None`` if there is none."""
    chain = _chain(err)
    for current in chain:
        if SQLITE_FULL in str(current):
            return current
    for current in chain:
        if isinstance(current, OSError) and current.errno in FULL_ERRNOS:
            return current
    return None


def _attribute(err: BaseException, name: str) -> str | None:
    for current in _chain(err):
        value = getattr(current, name, None)
        if isinstance(value, str) and value:
            return value
    return None


def run_state(run_id: str, tracking_uri: str) -> str | None:
    """The run's status as the store holds it now (reading needs no free space); ``None`` when it
    cannot be read."""
    from mlflow.tracking import MlflowClient

    from actlab.tracking.resilience import http_settings

    try:
        with http_settings(not tracking_uri.startswith("sqlite")):
            return MlflowClient(tracking_uri).get_run(run_id).info.status
    except Exception:  # noqa: BLE001 - an unreadable store is said as such
        return None


def full_disks(paths: list[Path]) -> list[Path]:
    """Those of ``paths`` (the nearest existing folder of each) whose file system has less than
    :data:`NEARLY_FULL` bytes free for this user, one per file system."""
    found: list[Path] = []
    devices: set[int] = set()
    for path in paths:
        folder = next((p for p in (path, *path.parents) if p.is_dir()), None)
        if folder is None:
            continue
        try:
            device, stats = folder.stat().st_dev, os.statvfs(folder)
        except OSError:
            continue
        if device not in devices and stats.f_bavail * stats.f_frsize < NEARLY_FULL:
            devices.add(device)
            found.append(folder)
    return found


def disk_full_line(err: BaseException) -> str | None:
    """One line for an error caused by a full disk (``None`` for any other error): which disk is
    full (measured now), and the state of the fit's run in its store (read back)."""
    full = find_disk_full(err)
    if full is None:
        return None
    from actlab.tracking.resilience import Spool, is_pending_run_id
    from actlab.tracking.store import MLRUNS_DIR, MLRUNS_ENV, redact_credentials, sqlite_path

    uri = _attribute(err, "tracking_uri")
    db = sqlite_path(uri) if uri else None
    store = str(db) if db is not None else redact_credentials(uri or "the tracking store")
    reason = SQLITE_FULL if SQLITE_FULL in str(full) else (full.strerror or "ENOSPC")
    filename = getattr(full, "filename", None)
    candidates = [Path(filename)] if isinstance(filename, str) else []
    candidates += [db.parent] if db is not None else []
    mlruns = Path(os.environ.get(MLRUNS_ENV) or MLRUNS_DIR).resolve()  # not created here
    disks = full_disks([*candidates, mlruns])
    if disks:
        what = f"the disk of {', '.join(map(str, disks))} is full ({reason})"
    else:
        what = f"a disk was full ({reason}; it has space again now)"
    run_id = _attribute(err, "run_id")
    if run_id is None or uri is None:
        return f"{what}; the command stopped; free space on that disk"
    if is_pending_run_id(run_id):
        state = f"run {run_id} was never created in {store}"
    else:
        status = run_state(run_id, uri)
        if status is None:
            state = f"the state of run {run_id} in {store} cannot be read"
        elif status == "RUNNING":
            state = f"run {run_id} is left RUNNING in {store}: its end could not be written"
        else:
            state = f"run {run_id} is {status} in {store}"
    try:
        waiting = len(Spool(run_id, uri))
    except Exception:  # noqa: BLE001 - a spool that cannot be read is not counted
        waiting = 0
    if waiting:
        state += f"; {waiting} writes wait in its spool (`actlab sync` sends them)"
    return f"{what}; the fit stopped and {state}; free space, then resume it with --ckpt_path last"
