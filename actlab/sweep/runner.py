"""Run a sweep: one ``actlab fit`` process per run, resumable, in parallel, failures recorded.

Each run's merged config is written to ``<workdir>/<hash>.yaml`` with its MLflow experiment and
tags (``sweep``, ``config_hash``, ``seed``, ``axis.<name>``) set on the logger, then
``actlab fit --config <that file>`` runs with ``MLFLOW_TRACKING_URI`` pinned to the sweep's
store. Its output goes to ``<hash>.log`` beside the config. The workdir is
``<mlruns>/sweeps/<experiment>`` unless given (the Ray backend's ``--shared-dir``).

One runner, several executors: :class:`SweepRunner` plans (which runs are left), writes the
configs, records outcomes and drives the progress display; an :class:`Executor` only starts the
runs and reports how each ended. :class:`LocalExecutor` runs them on this machine, forked from a
preloaded server (:mod:`actlab.sweep.forkserver`: torch, Lightning, MLflow and timm imported
once for the whole sweep) or as plain subprocesses; ``actlab.sweep.ray_backend.RayExecutor``
places them on a Ray cluster.

Before any run starts, every distinct run config is parsed by ``actlab fit``'s own parser
(:mod:`actlab.sweep.resolve`): an invalid one stops the sweep in one line, and each run gets its
*identity*, the config hash ``actlab fit`` will tag it with plus its seed and fold.

Resuming: a run whose identity already has a FINISHED run in the experiment is skipped.
Claims: the sweep holds a lock file per identity (``<workdir>/claims/``) for as long as it runs,
and claims every run before it starts any; a run another sweep (of this file or another one
writing to the same experiment) holds is skipped, so two sweeps never run the same run twice.
Failures: a run that exits non-zero is FAILED in MLflow with its error as the tag
``sweep.error``: the line of its log that names the error, or how it died (``killed by
SIGKILL, out of memory?``); if it died before its MLflow run existed, the runner creates a
FAILED run with the same tags. A job's runs are found by its own tag ``sweep.job`` (never by
config or start time), so a failure is recorded only on the run of the job that failed.

This module imports neither torch nor Lightning: the driver of a sweep stays light.
"""

from __future__ import annotations

import contextlib
import copy
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import yaml

from actlab.distributed import PARENT_PID_ENV, usable_cores
from actlab.sweep.spec import RunSpec, SweepSpec, run_identity, set_key
from actlab.tracking.store import (
    default_artifact_location,
    default_tracking_uri,
    ensure_store,
    mlruns_dir,
    sanitize_experiment_name,
)

if TYPE_CHECKING:
    from actlab.sweep.resolve import Resolved

#: Status of a run in the sweep's summary.
FINISHED, FAILED, SKIPPED = "FINISHED", "FAILED", "SKIPPED"
#: Tag holding why the sweep counts a run failed (the fit's own reason is its ``error`` tag,
#: :data:`actlab.fit.guards.ERROR_TAG`).
SWEEP_ERROR_TAG = "sweep.error"
#: Tag naming the sweep job (one start of one run by one sweep) that made a run.
JOB_TAG = "sweep.job"
#: Error of a run skipped because another sweep holds its claim.
CLAIMED = "claimed by another sweep that is running it"


@dataclass
class RunResult:
    """Outcome of one run: its spec, status, seconds and (for failures) the error line.

    ``attempts`` counts the starts (more than one after a lost Ray worker), ``where`` names the
    node or slot that ran it.
    """

    run: RunSpec
    status: str
    seconds: float = 0.0
    error: str = ""
    log: Path | None = None
    attempts: int = 1
    where: str = ""


@dataclass
class Job:
    """One run to start: its spec, config file and log (both in the sweep's workdir)."""

    run: RunSpec
    config_file: Path
    log: Path
    #: The value of the tag :data:`JOB_TAG` of this job's MLflow runs.
    job_id: str = ""
    #: The config hash ``actlab fit`` tags the run with.
    config_hash: str = ""


@dataclass
class Outcome:
    """How an executor's job ended: ``returncode`` as :class:`subprocess.Popen` gives it
    (``-N`` for signal ``N``); ``error`` when the executor knows better than the log."""

    returncode: int
    seconds: float
    error: str = ""
    attempts: int = 1
    where: str = ""


class Executor(Protocol):
    """Starts a sweep's runs; see :class:`LocalExecutor` and the Ray backend."""

    #: One word for the summary ("local", "ray").
    name: str

    def open(self, runner: SweepRunner) -> None:
        """Get ready (connect to a cluster, refuse a set-up that cannot work); called before
        the runs are planned, so it must not need the tracking store."""

    def run(self, jobs: list[Job], finished: Callable[[Job, Outcome], None]) -> None:
        """Run every job (start what they need first); call ``finished`` (from any thread)
        as each one ends."""

    def close(self) -> None:
        """Release what :meth:`open` took; no run of this executor outlives it."""


def run_config(
    run: RunSpec, experiment: str, sweep: str, tags: dict[str, str] | None = None
) -> dict[str, Any]:
    """The config file content of ``run``: its merged config plus the logger's experiment, run
    name (:attr:`RunSpec.name`: its axis labels and seed), description and tags (``tags``
    added)."""
    config = copy.deepcopy(run.config)
    logger = config.get("trainer", {}).get("logger")
    if logger in (None, True) or not isinstance(logger, dict):
        set_key(config, "trainer.logger", {"class_path": "actlab.tracking.ActlabMLFlowLogger"})
    set_key(config, "trainer.logger.init_args.experiment_name", experiment)
    set_key(config, "trainer.logger.init_args.run_name", run.name)  # axis labels and seed
    if run.description:
        set_key(config, "trainer.logger.init_args.description", run.description)
    set_key(config, "trainer.logger.init_args.tags", {**run.tags(sweep), **(tags or {})})
    return config


def ensure_experiment(client: Any, name: str, tracking_uri: str) -> str:
    """Id of experiment ``name``, created (with actlab's artifact location) if missing."""
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    try:
        return client.create_experiment(
            name, artifact_location=default_artifact_location(tracking_uri, name)
        )
    except Exception:  # noqa: BLE001 - created meanwhile by another process
        return client.get_experiment_by_name(name).experiment_id


def finished_identities(client: Any, experiment_id: str) -> set[tuple[str, ...]]:
    """Identities (:func:`run_identity`) that have a FINISHED run in the experiment."""
    runs = client.search_runs(
        [experiment_id], filter_string="attributes.status = 'FINISHED'", max_results=50000
    )
    found = (run_identity(r.data.tags, r.data.params) for r in runs)
    return {identity for identity in found if identity is not None}


class Claims:
    """Lock files (``fcntl.flock``) of the runs a sweep claims, held until :meth:`release`;
    the OS releases them when the process dies, so a crashed sweep leaves no claim behind."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._held: list[Any] = []

    def claim(self, identity: tuple[str, ...]) -> bool:
        """Take the claim of ``identity``; ``False`` when another process holds it."""
        import fcntl
        import hashlib

        self.folder.mkdir(parents=True, exist_ok=True)
        name = hashlib.sha256("/".join(identity).encode()).hexdigest()[:20]
        handle = open(self.folder / f"{name}.lock", "a+")  # noqa: SIM115 - held until release
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return False
        self._held.append(handle)
        return True

    def release(self) -> None:
        for handle in self._held:
            handle.close()
        self._held.clear()


def visible_gpus() -> list[str]:
    """GPU ids runs are spread over: ``CUDA_VISIBLE_DEVICES`` if set, else every NVIDIA GPU the
    driver lists (without importing torch or initialising CUDA in the sweep's driver)."""
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    if env is not None:
        return [g.strip() for g in env.split(",") if g.strip() and g.strip() != "-1"]
    gpus = Path("/proc/driver/nvidia/gpus")
    with contextlib.suppress(OSError):
        return [str(i) for i in range(len(list(gpus.iterdir())))]
    return []


def last_error_line(text: str) -> str:
    """The line that names the error in a run's output (the last non-empty one, else a default)."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for line in reversed(lines):
        if "error" in line.lower() or "exception" in line.lower():
            return line[:500]
    return lines[-1][:500] if lines else "the run exited with an error and printed nothing"


def signal_error(returncode: int) -> str | None:
    """How a run that a signal ended died, e.g. ``killed by SIGKILL, out of memory?``; ``None``
    for a run that exited by itself. ``-N`` is signal ``N`` (``Popen``'s convention); ``128+N``
    is a shell's or a wrapper's report of it."""
    number, exit_code = -returncode, None
    if returncode > 128:
        number, exit_code = returncode - 128, returncode
    try:
        name = signal.Signals(number).name
    except ValueError:
        return None
    text = f"killed by {name}" + (f" (exit {exit_code})" if exit_code else "")
    return text + (", out of memory?" if number == signal.SIGKILL else "")


def failure_error(outcome: Outcome, log: Path) -> str:
    """The error recorded for a failed run: the executor's, a signal's, or the log's line."""
    if outcome.error:
        return outcome.error
    died = signal_error(outcome.returncode)
    if died:
        return died
    text = log.read_text(errors="replace") if log.is_file() else ""
    return last_error_line(text)


def timeout_message(timeout: float | None) -> str:
    """The error of a run killed for taking longer than ``timeout`` seconds."""
    return f"actlab sweep: error: the run exceeded the timeout of {timeout} s"


#: The variable torch (OpenMP) reads its number of CPU threads from.
THREADS_ENV = "OMP_NUM_THREADS"


def threads_per_run(workers: int) -> int:
    """CPU threads of each of ``workers`` runs at a time: the cores shared out, at least 1.

    torch starts one thread per core in every process; ``workers`` runs at a time then keep
    ``workers`` times as many threads as there are cores spinning for them (Ray gives each task
    ``OMP_NUM_THREADS = num_cpus`` for the same reason). On 2 cores the quickstart fit took
    2.5x the CPU seconds with 2 threads than with 1 while another fit ran beside it.
    """
    return max(1, usable_cores() // max(1, workers))


class LocalExecutor:
    """Runs on this machine, ``workers`` at a time, GPUs assigned round-robin over worker slots.

    Args:
        workers: runs at a time.
        gpus: GPU ids; ``None`` detects them (:func:`visible_gpus`).
        fork_server: fork each run from a preloaded server (imports paid once per sweep); when
            ``False``, or when the server cannot start, each run is a fresh subprocess.
        timeout: seconds one run may take before its process group is killed.
    """

    name = "local"

    def __init__(
        self,
        workers: int = 1,
        gpus: list[str] | None = None,
        fork_server: bool = True,
        timeout: float | None = None,
    ) -> None:
        self.workers = max(1, workers)
        self.gpus = visible_gpus() if gpus is None else gpus
        self.fork_server = fork_server
        self.timeout = timeout
        self.tracking_uri = ""
        self._server: Any = None
        self._server_log = Path(os.devnull)
        self._groups: set[int] = set()  # process groups of the subprocess runs going on

    def environment(self, slot: int) -> dict[str, str | None]:
        """What a run in worker ``slot`` changes in the environment: the store, its GPU, and its
        share of the cores (:func:`threads_per_run`) unless ``OMP_NUM_THREADS`` is set."""
        env: dict[str, str | None] = {"MLFLOW_TRACKING_URI": self.tracking_uri}
        if self.gpus:
            env["CUDA_VISIBLE_DEVICES"] = self.gpus[slot % len(self.gpus)]
        if THREADS_ENV not in os.environ:
            env[THREADS_ENV] = str(threads_per_run(self.workers))
        return env

    def open(self, runner: SweepRunner) -> None:
        self.tracking_uri = runner.tracking_uri
        self._server_log = runner.workdir / "forkserver.log"

    def _start_server(self) -> None:
        """Start the fork server (when asked for); fall back to subprocesses if it cannot."""
        from actlab.sweep.forkserver import ForkServer, ForkUnsafe

        env = {**os.environ, "MLFLOW_TRACKING_URI": self.tracking_uri}
        try:
            self._server = ForkServer(self._server_log, env=env)
        except ForkUnsafe as err:
            print(f"actlab sweep: {err}; starting each run as a subprocess", file=sys.stderr)

    def run(self, jobs: list[Job], finished: Callable[[Job, Outcome], None]) -> None:
        if self.fork_server and self._server is None:
            self._start_server()
        free_slots = list(range(self.workers))
        lock = threading.Lock()

        def work(job: Job) -> None:
            with lock:
                slot = free_slots.pop(0)
            try:
                outcome = self._launch(job, slot)
            finally:
                with lock:
                    free_slots.append(slot)
            finished(job, outcome)

        pool = ThreadPoolExecutor(max_workers=self.workers)
        try:
            for future in [pool.submit(work, job) for job in jobs]:
                future.result()
        except BaseException:  # Ctrl-C: end the runs now rather than wait for them
            self._end_runs()
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def _end_runs(self) -> None:
        """Ctrl-C: pass SIGINT on to every run still going (their process groups: each ends its
        MLflow run FAILED, tagged ``stopped by SIGINT``), SIGKILL what is left after
        :data:`INTERRUPT_GRACE` seconds, and stop the fork server."""
        groups = [*self._groups, *(self._server.pids() if self._server is not None else [])]
        deadline = time.monotonic() + INTERRUPT_GRACE
        for sig in (signal.SIGINT, signal.SIGKILL):
            for pid in groups:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(pid, sig)
            while groups and time.monotonic() < deadline:
                groups = [pid for pid in groups if _group_exists(pid)]
                time.sleep(0.1)
        self.close()

    def _launch(self, job: Job, slot: int) -> Outcome:
        """Start one run in worker ``slot`` and wait for it (killed after :attr:`timeout`)."""
        args = ["fit", "--config", str(job.config_file)]
        env = self.environment(slot)
        job.log.write_text("")
        start = time.perf_counter()
        timed_out = threading.Event()

        def note_timeout() -> None:
            timed_out.set()
            with open(job.log, "a") as log:
                log.write(f"\n{timeout_message(self.timeout)}\n")

        if self._server is not None:
            code = self._server.run(
                args, job.log, env, timeout=self.timeout, on_timeout=note_timeout
            )
        else:
            pids: list[int] = []

            def started(pid: int) -> None:
                pids.append(pid)
                self._groups.add(pid)

            code = run_subprocess(args, job.log, env, self.timeout, note_timeout, on_start=started)
            self._groups.difference_update(pids)
        error = timeout_message(self.timeout) if timed_out.is_set() else ""
        where = f"slot {slot}" + (f", GPU {env['CUDA_VISIBLE_DEVICES']}" if self.gpus else "")
        return Outcome(code, time.perf_counter() - start, error, where=where)

    def close(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None


#: Seconds the runs get to end their MLflow runs after a sweep's Ctrl-C, before SIGKILL.
INTERRUPT_GRACE = 30.0


def _group_exists(pgid: int) -> bool:
    """Whether process group ``pgid`` still has a process (a zombie not yet reaped counts)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def run_subprocess(
    args: list[str],
    log: Path,
    env: dict[str, str | None],
    timeout: float | None = None,
    on_timeout: Callable[[], None] | None = None,
    cwd: Path | None = None,
    on_start: Callable[[int], None] | None = None,
) -> int:
    """``actlab ARGS`` as a subprocess in its own process group, dying with this process
    (:mod:`actlab.sweep.child`); output appended to ``log``; returns its exit status.

    The whole process group is killed on time-out and when this call is interrupted;
    ``on_start`` gets its id (the run's pid) as soon as it exists.
    """
    full_env = {**os.environ, PARENT_PID_ENV: str(os.getpid())}
    for key, value in env.items():
        if value is None:
            full_env.pop(key, None)
        else:
            full_env[key] = value
    with open(log, "a") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "actlab.sweep.child", *args],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=full_env,
            cwd=cwd,
            start_new_session=True,
        )
    if on_start is not None:
        on_start(proc.pid)
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        if on_timeout is not None:
            on_timeout()
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        return proc.wait()
    finally:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)  # its children too, whatever happened
        proc.wait()


class SweepRunner:
    """Runs the runs of a sweep; see the module docstring.

    Args:
        spec: the parsed sweep.
        smoke: run the smoke variant (its own experiment ``<experiment>-smoke``).
        overrides: ``key: value`` pairs applied to every run last.
        workers: runs at a time (parallel processes) of the default :class:`LocalExecutor`.
        gpus: GPU ids assigned round-robin over the worker slots; ``None`` detects them.
        tracking_uri: the MLflow store; ``None`` resolves as ``actlab fit`` does.
        workdir: where run configs and logs go; default ``<mlruns>/sweeps/<experiment>``.
        timeout: seconds one run may take before it is killed and counted FAILED.
        progress: show a rich progress display.
        executor: what starts the runs; default a :class:`LocalExecutor` of ``workers``,
            ``gpus`` and ``timeout``.
    """

    def __init__(
        self,
        spec: SweepSpec,
        smoke: bool = False,
        overrides: dict[str, Any] | None = None,
        workers: int = 1,
        gpus: list[str] | None = None,
        tracking_uri: str | None = None,
        workdir: Path | None = None,
        timeout: float | None = None,
        progress: bool = True,
        executor: Executor | None = None,
    ) -> None:
        self.spec = spec
        self.smoke = smoke
        self.experiment = spec.experiment_name(smoke)
        self.runs = spec.runs(smoke=smoke, overrides=overrides)
        self.progress = progress
        self.executor = executor or LocalExecutor(workers, gpus, timeout=timeout)
        self._uri = tracking_uri
        self._workdir = workdir
        self._lock = threading.Lock()
        self._resolved: dict[int, Resolved] | None = None

    @property
    def tracking_uri(self) -> str:
        """The MLflow store of the sweep (resolved on first use, as ``actlab fit`` does)."""
        if self._uri is None:
            self._uri = default_tracking_uri()
        return self._uri

    @property
    def workdir(self) -> Path:
        """Folder of the run configs and logs."""
        if self._workdir is None:
            self._workdir = mlruns_dir() / "sweeps" / sanitize_experiment_name(self.experiment)
        return self._workdir

    def resolve(self) -> dict[int, Resolved]:
        """Parse every distinct run config with ``actlab fit``'s parser (once); an invalid one
        is an :class:`ActlabError` naming its run, raised before any run starts."""
        if self._resolved is None:
            from actlab.sweep.resolve import resolve_runs

            configs = {
                r.index: run_config(r, self.experiment, self.spec.experiment) for r in self.runs
            }
            self._resolved = resolve_runs(self.runs, configs)
        return self._resolved

    def execute(self, on_result: Callable[[RunResult], None] | None = None) -> list[RunResult]:
        """Run every run not yet FINISHED; returns one result per run (skipped ones included)."""
        from mlflow.tracking import MlflowClient

        resolved = self.resolve()  # every config checked before anything starts
        self.executor.open(self)  # refuses a set-up that cannot work before anything is written
        claims = Claims(self.workdir / "claims")
        try:
            ensure_store(self.tracking_uri)  # checked; created once if new (under a file lock)
            client = MlflowClient(self.tracking_uri)
            experiment_id = ensure_experiment(client, self.experiment, self.tracking_uri)
            self.workdir.mkdir(parents=True, exist_ok=True)
            results: list[RunResult] = []
            jobs: list[Job] = []
            planned: set[tuple[str, ...]] = set()
            todo = []
            for run in self.runs:
                identity = resolved[run.index].identity
                if identity in planned:  # a repeated seed or an overlapping grid part
                    results.append(
                        RunResult(run, SKIPPED, error="the same run is earlier in this sweep")
                    )
                    continue
                planned.add(identity)
                if not claims.claim(identity):
                    results.append(RunResult(run, SKIPPED, error=CLAIMED))
                    continue
                todo.append(run)
            done = finished_identities(client, experiment_id)  # read after claiming
            for run in todo:
                if resolved[run.index].identity in done:
                    results.append(RunResult(run, SKIPPED))
                else:
                    jobs.append(self._job(run, resolved[run.index].config_hash))
            for result in results:
                if on_result is not None:
                    on_result(result)

            def finished(job: Job, outcome: Outcome) -> None:
                result = self._result(client, experiment_id, job, outcome)
                with self._lock:
                    results.append(result)
                    if on_result is not None:
                        on_result(result)

            if jobs:
                self.executor.run(jobs, finished)
        finally:
            self.executor.close()
            claims.release()
        return sorted(results, key=lambda r: r.run.index)

    def _job(self, run: RunSpec, config_hash: str = "") -> Job:
        job_id = uuid.uuid4().hex
        config_file = self.workdir / f"{run.key}.yaml"
        config = run_config(run, self.experiment, self.spec.experiment, {JOB_TAG: job_id})
        config_file.write_text(yaml.safe_dump(config, sort_keys=False))
        return Job(run, config_file, self.workdir / f"{run.key}.log", job_id, config_hash)

    def _result(self, client: Any, experiment_id: str, job: Job, outcome: Outcome) -> RunResult:
        """The :class:`RunResult` of ``outcome``, recorded in MLflow when the run failed."""
        kwargs = {"log": job.log, "attempts": outcome.attempts, "where": outcome.where}
        if outcome.returncode == 0:
            if outcome.attempts > 1:
                self._close_lost_attempts(client, experiment_id, job)
            return RunResult(job.run, FINISHED, outcome.seconds, **kwargs)
        error = failure_error(outcome, job.log)
        self._record_failure(client, experiment_id, job, error)
        return RunResult(job.run, FAILED, outcome.seconds, error, **kwargs)

    def _attempt_runs(self, client: Any, experiment_id: str, job: Job) -> list:
        """The MLflow runs of ``job`` (its tag :data:`JOB_TAG`): never another job's."""
        return client.search_runs(
            [experiment_id], filter_string=f"tags.`{JOB_TAG}` = '{job.job_id}'"
        )

    def _close_lost_attempts(self, client: Any, experiment_id: str, job: Job) -> None:
        """A run retried without a checkpoint to resume left its first MLflow run RUNNING: FAILED."""
        for found in self._attempt_runs(client, experiment_id, job):
            if found.info.status == "RUNNING":
                client.set_tag(found.info.run_id, SWEEP_ERROR_TAG, "its worker was lost; retried")
                client.set_terminated(found.info.run_id, status="FAILED")

    def _record_failure(self, client: Any, experiment_id: str, job: Job, error: str) -> None:
        """Mark this job's MLflow run FAILED, or create a FAILED run if it never started."""
        runs = self._attempt_runs(client, experiment_id, job)
        if runs:
            for found in runs:
                client.set_tag(found.info.run_id, SWEEP_ERROR_TAG, error)
                if found.info.status != "FAILED":
                    client.set_terminated(found.info.run_id, status="FAILED")
            return
        run = job.run
        tags = {**run.tags(self.spec.experiment), JOB_TAG: job.job_id, SWEEP_ERROR_TAG: error}
        if job.config_hash:
            tags["config_hash"] = job.config_hash
        created = client.create_run(experiment_id, tags=tags, run_name=f"failed {run.name}")
        client.set_terminated(created.info.run_id, status="FAILED")


def run_sweep(runner: SweepRunner, console: Any = None) -> list[RunResult]:
    """Execute ``runner`` with a rich progress display of runs done / failed / skipped / left."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    console = console or Console()
    counts = {FINISHED: 0, FAILED: 0, SKIPPED: 0}
    total = len(runner.runs)

    def describe() -> str:
        left = total - sum(counts.values())
        return (
            f"[green]{counts[FINISHED]} done[/] [red]{counts[FAILED]} failed[/] "
            f"[dim]{counts[SKIPPED]} skipped[/] {left} left"
        )

    with Progress(
        TextColumn(f"[bold]{runner.experiment}[/]"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=console,
        disable=not runner.progress,
    ) as progress:
        task = progress.add_task(describe(), total=total)

        def on_result(result: RunResult) -> None:
            counts[result.status] += 1
            retried = f", {result.attempts} attempts" if result.attempts > 1 else ""
            where = f", {result.where}" if result.where and runner.executor.name != "local" else ""
            if result.status == FINISHED:
                console.print(
                    f"[green]done[/]    {result.run.name}  ({result.seconds:.1f} s{where}{retried})"
                )
            elif result.status == SKIPPED and result.error:
                console.print(f"[dim]skipped[/] {result.run.name}: {result.error}")
            elif result.status == FAILED:
                console.print(
                    f"[red]FAILED[/]  {result.run.name}: {result.error}  (log: {result.log}{retried})"
                )
            progress.update(task, advance=1, description=describe())

        return runner.execute(on_result)
