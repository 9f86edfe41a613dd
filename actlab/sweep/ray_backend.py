"""The Ray backend of ``actlab sweep --backend ray``: each run one Ray task on a cluster's node.

Every run is a plain ``@ray.remote`` task (:func:`fit_task`) placed by Ray's scheduler on a node
with ``--cpus-per-run`` CPUs and ``--gpus-per-run`` GPUs free (Ray sets the task's
``CUDA_VISIBLE_DEVICES`` and ``OMP_NUM_THREADS``). The task runs ``actlab fit`` as a subprocess
in its own process group that dies with the task's worker (:mod:`actlab.sweep.child`) and
returns its exit status:

- a run that exits non-zero is FAILED and not retried (it would fail again);
- a task whose worker or node dies is retried by Ray up to ``--retries`` times; the retry
  resumes from the run's ``last.ckpt`` under ``--shared-dir`` (``--ckpt_path``), so it continues
  the same MLflow run and logs each epoch once. A run lost before its first checkpoint starts
  over; its lost MLflow run is closed FAILED.

Every run keeps its config, log and checkpoints in ``<shared dir>/<hash>.yaml``, ``<hash>.log``
and ``<hash>/mlruns/``: on a cluster of several nodes the shared dir must be a folder every node
sees at the same path (NFS), and the tracking store a server every node reaches
(``docker/compose.yaml``): a local SQLite file is refused there.

Only this module imports ``ray`` (the optional extra ``actlab[ray]``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ray

from actlab.errors import ActlabError
from actlab.sweep.runner import Job, Outcome, SweepRunner, run_subprocess, timeout_message

#: Per-run folder of checkpoints and spool (``ACTLAB_MLRUNS`` of the run's ``actlab fit``).
RUN_MLRUNS = "mlruns"
#: Checkpoint names a retry resumes from (``last-v1.ckpt`` after a name clash).
LAST_CHECKPOINTS = ("last.ckpt", "last-v*.ckpt")


def last_checkpoint(mlruns: Path) -> Path | None:
    """The newest ``last.ckpt`` under a run's ``mlruns/<experiment>/<run>/checkpoints``."""
    found = [p for pattern in LAST_CHECKPOINTS for p in mlruns.glob(f"*/*/checkpoints/{pattern}")]
    return max(found, key=lambda p: p.stat().st_mtime) if found else None


def count_attempt(counter: Path) -> int:
    """Add one to the attempts recorded in ``counter``; returns this attempt's number."""
    attempt = int(counter.read_text() or 0) + 1 if counter.is_file() else 1
    counter.write_text(str(attempt))
    return attempt


@ray.remote
def fit_task(
    config_file: str, log: str, env: dict[str, str], cwd: str, timeout: float | None
) -> dict[str, Any]:
    """One run on a Ray worker: ``actlab fit --config CONFIG_FILE``, resumed from the run's last
    checkpoint when an earlier attempt left one; returns its exit status and where it ran."""
    config, log_file = Path(config_file), Path(log)
    run_dir = config.with_suffix("")
    mlruns = run_dir / RUN_MLRUNS
    attempt = count_attempt(run_dir.with_suffix(".attempts"))
    node = ray.get_runtime_context().get_node_id()
    args = ["fit", "--config", str(config)]
    resume = last_checkpoint(mlruns)
    if resume is not None:
        args += ["--ckpt_path", str(resume)]
    with open(log_file, "a") as out:
        resumed = f", resuming {resume}" if resume else ""
        out.write(f"actlab sweep: attempt {attempt} on Ray node {node}{resumed}\n")
    timed_out: list[bool] = []

    def note_timeout() -> None:
        timed_out.append(True)
        with open(log_file, "a") as out:
            out.write(f"\n{timeout_message(timeout)}\n")

    start = time.perf_counter()
    code = run_subprocess(
        args,
        log_file,
        {**env, "ACTLAB_MLRUNS": str(mlruns)},
        timeout,
        note_timeout,
        cwd=Path(cwd) if Path(cwd).is_dir() else run_dir.parent,
    )
    return {
        "returncode": code,
        "seconds": time.perf_counter() - start,
        "attempt": attempt,
        "node": node,
        "error": timeout_message(timeout) if timed_out else "",
    }


def alive_nodes() -> list[dict[str, Any]]:
    """The cluster's live nodes (``ray.nodes()`` entries)."""
    return [node for node in ray.nodes() if node.get("Alive")]


def check_cluster(
    nodes: list[dict[str, Any]],
    tracking_uri: str,
    shared_dir: Path | None,
    cpus: float,
    gpus: float,
) -> None:
    """Refuse, in one line, a set-up in which the runs could not work or could never start."""
    if len(nodes) > 1 and not tracking_uri.startswith(("http://", "https://")):
        raise ActlabError(
            f"the Ray cluster has {len(nodes)} nodes but the tracking store is {tracking_uri}, "
            "a local file the other nodes cannot write to: start a tracking server (docker/"
            "compose.yaml) and pass --tracking-uri http://HOST:5000"
        )
    if len(nodes) > 1 and shared_dir is None:
        raise ActlabError(
            f"the Ray cluster has {len(nodes)} nodes: pass --shared-dir DIR, a folder every node "
            "sees at the same path (NFS), for the runs' configs, logs and checkpoints"
        )
    fits = [
        n
        for n in nodes
        if n["Resources"].get("CPU", 0) >= cpus and n["Resources"].get("GPU", 0) >= gpus
    ]
    if not fits:
        have = ", ".join(
            f"{n['Resources'].get('CPU', 0):g} CPU/{n['Resources'].get('GPU', 0):g} GPU"
            for n in nodes
        )
        raise ActlabError(
            f"no node of the Ray cluster has --cpus-per-run {cpus:g} and --gpus-per-run "
            f"{gpus:g} for a run (nodes: {have})"
        )


def check_gpus_per_run(runs: list[Any], gpus: float) -> None:
    """A run configured for a GPU needs ``--gpus-per-run`` > 0 (Ray hides GPUs otherwise)."""
    if gpus > 0:
        return
    for run in runs:
        accelerator = str((run.config.get("trainer") or {}).get("accelerator", "auto"))
        if accelerator in ("gpu", "cuda"):
            raise ActlabError(
                f"run {run.name!r} sets trainer.accelerator {accelerator} but --gpus-per-run is "
                "0: pass --gpus-per-run 1 (or a fraction, e.g. 0.5, to share a GPU)"
            )


class RayExecutor:
    """Runs a sweep's runs as Ray tasks (see the module docstring).

    Args:
        address: the cluster: ``auto`` (the one running on this machine), ``HOST:PORT``, or
            ``None`` (``RAY_ADDRESS``, else a Ray instance started here for the sweep).
        cpus_per_run: CPUs Ray reserves for each run.
        gpus_per_run: GPUs Ray reserves for each run (fractions share a GPU).
        retries: restarts of a run whose worker or node died.
        shared_dir: folder of the runs' configs, logs and checkpoints, seen by every node.
        timeout: seconds one run may take before its process group is killed.
    """

    name = "ray"

    def __init__(
        self,
        address: str | None = None,
        cpus_per_run: float = 1,
        gpus_per_run: float = 0,
        retries: int = 2,
        shared_dir: Path | None = None,
        timeout: float | None = None,
    ) -> None:
        self.address = address
        self.cpus_per_run = cpus_per_run
        self.gpus_per_run = gpus_per_run
        self.retries = retries
        self.shared_dir = shared_dir
        self.timeout = timeout
        self.tracking_uri = ""
        self._pending: list[Any] = []
        self._connected = False

    def open(self, runner: SweepRunner) -> None:
        check_gpus_per_run(runner.runs, self.gpus_per_run)
        if not ray.is_initialized():
            ray.init(address=self.address, logging_level=logging.WARNING, log_to_driver=False)
            self._connected = True
        try:
            check_cluster(
                alive_nodes(),
                runner.tracking_uri,
                self.shared_dir,
                self.cpus_per_run,
                self.gpus_per_run,
            )
        except ActlabError:
            self.close()
            raise
        self.tracking_uri = runner.tracking_uri

    def run(self, jobs: list[Job], finished: Callable[[Job, Outcome], None]) -> None:
        env = {"MLFLOW_TRACKING_URI": self.tracking_uri}
        task = fit_task.options(
            num_cpus=self.cpus_per_run,
            num_gpus=self.gpus_per_run,
            max_retries=self.retries,
            retry_exceptions=False,
            scheduling_strategy="SPREAD",
        )
        by_ref = {}
        for job in jobs:
            job.log.write_text("")
            job.config_file.with_suffix(".attempts").unlink(missing_ok=True)
            ref = task.remote(str(job.config_file), str(job.log), env, os.getcwd(), self.timeout)
            by_ref[ref] = job
        self._pending = list(by_ref)
        while self._pending:
            ready, self._pending = ray.wait(self._pending, num_returns=1)
            job = by_ref[ready[0]]
            finished(job, self._outcome(ready[0], job))

    def _outcome(self, ref: Any, job: Job) -> Outcome:
        try:
            done = ray.get(ref)
        except ray.exceptions.RayError as err:  # the worker or node died more than --retries times
            counter = job.config_file.with_suffix(".attempts")
            attempts = int(counter.read_text() or 0) if counter.is_file() else 0
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            error = f"the run's Ray worker died ({type(err).__name__}: {first[:300]})"
            return Outcome(-1, 0.0, error, attempts=attempts)
        return Outcome(
            done["returncode"],
            done["seconds"],
            done["error"],
            attempts=done["attempt"],
            where=f"node {done['node'][:8]}",
        )

    def close(self) -> None:
        for ref in self._pending:  # interrupted: no run outlives the sweep
            with contextlib.suppress(Exception):
                ray.cancel(ref, force=True)
        self._pending = []
        if self._connected:
            ray.shutdown()
            self._connected = False
