"""What ``--ckpt_path`` does: which checkpoint a fit resumes, and which run it continues.

:func:`plan_resume` reads the checkpoint's entry (:mod:`actlab.fit.checkpoints`) and asks the
store about its run: an unfinished run is continued in place (held by this fit, so a second fit
cannot write it at the same time); a FINISHED run, a checkpoint older than its run's
``last.ckpt``, a deleted run or a run in another store start a new run from the weights
(``continued_from`` names where they came from); a store that refuses the login or fails
to answer stops the fit before training. :func:`checkpoint_to_evaluate` is the same
choice for ``validate``/``test``. :func:`clear_error` moves a resumed run's earlier ``error``
tag to :data:`PREVIOUS_ERROR_TAG` when it ends FINISHED.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from actlab.errors import error_line
from actlab.fit.checkpoints import (
    LAST_PATTERNS,
    Checkpoint,
    CheckpointError,
    check_same_fit,
    checkpoint_of,
    find_last_checkpoint,
    fit_hash,
    read_checkpoint,
)
from actlab.fit.guards import ERROR_TAG
from actlab.tracking.store import default_tracking_uri, hold_run, mlruns_dir, redact_credentials

#: ``--ckpt_path`` values Lightning resolves itself.
LIGHTNING_CKPT_NAMES = ("best", "hpc", "registry")


@dataclass(frozen=True)
class ResumePlan:
    """What a fit does with its ``--ckpt_path``: continue ``resume_run`` in place, or train on
    from the checkpoint in a new run (``continued_from`` names the run it came from)."""

    checkpoint: Checkpoint
    resume_run: str | None
    continued_from: str | None
    message: str

    def lineage(self) -> dict[str, Any] | None:
        """What the fit's run is continued from, for its checkpoints and its ``config_hash``:
        the checkpoint's own configuration and epoch when it starts a new run from a FINISHED
        one, what the continued run was itself continued from, or ``None`` (from scratch)."""
        if self.continued_from is not None:
            return {"config_hash": self.checkpoint.config_hash, "epoch": self.checkpoint.epoch}
        if self.resume_run is not None:
            return self.checkpoint.continued_from
        return None


def run_info(run_id: str, tracking_uri: str) -> tuple[str, str] | None:
    """``(status, name)`` of a run; ``("UNKNOWN", "")`` when the server cannot be reached,
    ``None`` when the store has no such run (or has it in the trash).

    Raises:
        CheckpointError: the store answered with anything else (a refused login, a server
            error): which run the fit continues cannot be known, so it does not start.
    """
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    from actlab.tracking.resilience import http_settings, is_outage, is_pending_run_id, stop_reason

    if is_pending_run_id(run_id):
        return "UNKNOWN", ""
    try:
        with http_settings(tracking_uri.startswith("http")):
            run = MlflowClient(tracking_uri).get_run(run_id)
    except MlflowException as err:
        if is_outage(err):
            return "UNKNOWN", ""
        if err.error_code == "RESOURCE_DOES_NOT_EXIST":
            return None
        reason = stop_reason(err) or error_line(err)
        msg = (
            f"--ckpt_path: cannot tell whether the checkpoint's run {run_id} can be continued, "
            f"{redact_credentials(tracking_uri)} answered: {reason}"
        )
        raise CheckpointError(msg) from err
    except Exception as err:  # noqa: BLE001 - an unreachable server is not fatal here
        if is_outage(err):
            return "UNKNOWN", ""
        raise
    if run.info.lifecycle_stage == "deleted":  # in the UI's trash: not a run to write into
        return None
    return run.info.status, run.info.run_name or ""


def plan_resume(
    ckpt_path: str, ours: dict[str, str], experiment: str | None, tracking_uri: str | None
) -> ResumePlan:
    """Choose and check the checkpoint of ``--ckpt_path`` (``last`` or a path) for a fit whose
    fit config is ``ours``, and decide which run it continues.

    A run that ended ``FINISHED`` is never changed: its checkpoint starts a new run; so does a
    checkpoint older than the run's ``last.ckpt`` (the run's metrics after it belong to weights
    this fit throws away: a run's history is the history of its weights).
    """
    hash_ = fit_hash(ours)
    if ckpt_path == "last":
        path = find_last_checkpoint(experiment, hash_)
        if path is None:
            msg = (
                f"--ckpt_path last: no last.ckpt of this configuration (experiment "
                f"{experiment!r}, fit config {hash_}) under "
                f"{mlruns_dir()}/*/*/checkpoints/; checkpoints of other configurations are never "
                "resumed: give a checkpoint's path, or fit without --ckpt_path"
            )
            raise CheckpointError(msg)
    else:
        path = Path(ckpt_path)
    content = read_checkpoint(path)
    check_same_fit(path, content, ours)
    found = checkpoint_of(path, content)
    where = f"{path} (epoch {found.epoch})"
    if experiment is None or found.run_id is None:
        return ResumePlan(found, None, None, f"training on from {where}")
    uri = tracking_uri or default_tracking_uri()
    if found.tracking_uri not in (None, uri, redact_credentials(uri)):
        msg = (
            f"checkpoint's run {found.run_id} is in {found.tracking_uri}, not "
            f"{redact_credentials(uri)}: starting a new run from {where}"
        )
        return ResumePlan(found, None, None, msg)
    info = run_info(found.run_id, uri)
    if info is None:
        msg = f"run {found.run_id} is not in {uri} (deleted?): starting a new run from {where}"
        return ResumePlan(found, None, None, msg)
    status, name = info
    label = f"run {found.run_id} ({name})" if name else f"run {found.run_id}"
    if status == "FINISHED":
        msg = (
            f"{label} is FINISHED and a finished run is never changed: "
            f"training on from {where} in a new run"
        )
        return ResumePlan(found, None, found.run_id, msg)
    newest = newest_epoch(path.parent)
    if found.epoch is not None and newest is not None and newest > found.epoch:
        msg = (
            f"{label} trained on to epoch {newest}; {where} is older, so training on from it "
            "starts a new run (the run keeps the history of its own weights)"
        )
        return ResumePlan(found, None, found.run_id, msg)
    return ResumePlan(found, found.run_id, None, f"resuming {label}, {status}, from {where}")


def newest_epoch(folder: Path) -> int | None:
    """The epoch of the ``last.ckpt`` in ``folder`` (a run's checkpoints), ``None`` without one."""
    for pattern in LAST_PATTERNS:
        for path in sorted(folder.glob(pattern)):
            try:
                epoch = checkpoint_of(path, read_checkpoint(path)).epoch
            except CheckpointError:
                continue
            if epoch is not None:
                return epoch
    return None


#: Tag keeping the ``error`` of an earlier attempt of a run that a resume then finished.
PREVIOUS_ERROR_TAG = "error.previous"


def clear_error(logger: Any) -> None:
    """A resumed run about to end FINISHED: move its earlier attempt's ``error`` tag to
    :data:`PREVIOUS_ERROR_TAG` (history), so a FINISHED run has no ``error``."""
    try:
        tags = logger.experiment.get_run(logger.run_id).data.tags
    except Exception:  # noqa: BLE001 - server down: the tag stays, as the run's history does
        return
    if ERROR_TAG in tags:
        logger.set_tags({PREVIOUS_ERROR_TAG: tags[ERROR_TAG]})
        logger.experiment.delete_tag(logger.run_id, ERROR_TAG)


def hold_resumed_run(plan: ResumePlan) -> None:
    """Hold the run ``plan`` continues in place; refused when another fit here writes it."""
    run = plan.resume_run
    if run is not None and not hold_run(run):
        raise CheckpointError(
            f"run {run} is being written by another fit on this machine (it holds "
            f"{mlruns_dir() / 'locks' / run}.lock): wait for it to end, or stop it"
        )


def checkpoint_to_evaluate(ckpt_path: str, experiment: str | None, ours: dict[str, str]) -> Path:
    """The checkpoint ``validate``/``test``/``predict`` evaluate for ``--ckpt_path`` (``last``:
    the newest of this configuration), checked to be a readable checkpoint."""
    path = (
        find_last_checkpoint(experiment, fit_hash(ours)) if ckpt_path == "last" else Path(ckpt_path)
    )
    if path is None:
        raise CheckpointError(
            f"--ckpt_path last: no last.ckpt of this configuration under {mlruns_dir()}"
        )
    read_checkpoint(path)
    return path
