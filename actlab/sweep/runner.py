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

Resuming: a run whose config hash already has a FINISHED run in the experiment is skipped.
Failures: a run that exits non-zero is FAILED in MLflow with its error as the tag
``sweep.error``: the line of its log that names the error, or how it died (``killed by
SIGKILL, out of memory?``); if it died before its MLflow run existed (a bad config), the runner
creates a FAILED run with the same tags.

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
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import yaml

from actlab.distributed import PARENT_PID_ENV, usable_cores
from actlab.sweep.spec import RunSpec, SweepSpec, set_key
from actlab.tracking.store import (
    default_artifact_location,
    default_tracking_uri,
    ensure_store,
    mlruns_dir,
    sanitize_experiment_name,
)

#: Status of a run in the sweep's summary.
FINISHED, FAILED, SKIPPED = "FINISHED", "FAILED", "SKIPPED"
#: Tag holding the error of a failed run.
ERROR_TAG = "sweep.error"


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
    #: MLflow start time (ms) from which a run of this job counts as its own.
    started_ms: int = 0


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


def run_config(run: RunSpec, experiment: str, sweep: str) -> dict[str, Any]:
    """The config file content of ``run``: its merged config plus the logger's experiment, run
    name (:attr:`RunSpec.name`: its axis labels and seed), description and tags."""
    config = copy.deepcopy(run.config)
    logger = config.get("trainer", {}).get("logger")
    if logger in (None, True) or not isinstance(logger, dict):
        set_key(config, "trainer.logger", {"class_path": "actlab.tracking.ActlabMLFlowLogger"})
    set_key(config, "trainer.logger.init_args.experiment_name", experiment)
    set_key(config, "trainer.logger.init_args.run_name", run.name)  # axis labels and seed
    if run.description:
        set_key(config, "trainer.logger.init_args.description", run.description)
    set_key(config, "trainer.logger.init_args.tags", run.tags(sweep))
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


def finished_hashes(client: Any, experiment_id: str) -> set[str]:
    """Config hashes that have a FINISHED run in the experiment."""
    runs = client.search_runs(
        [experiment_id], filter_string="attributes.status = 'FINISHED'", max_results=50000
    )
    return {r.data.tags["config_hash"] for r in runs if "config_hash" in r.data.tags}


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
        self._tracking_uri = tracking_uri
        self._workdir = workdir
        self._lock = threading.Lock()

    @property
    def tracking_uri(self) -> str:
        """The MLflow store of the sweep (resolved on first use, as ``actlab fit`` does)."""
        if self._tracking_uri is None:
            self._tracking_uri = default_tracking_uri()
        return self._tracking_uri

    @property
    def workdir(self) -> Path:
        """Folder of the run configs and logs."""
        if self._workdir is None:
            self._workdir = mlruns_dir() / "sweeps" / sanitize_experiment_name(self.experiment)
        return self._workdir

    def execute(self, on_result: Callable[[RunResult], None] | None = None) -> list[RunResult]:
        """Run every run not yet FINISHED; returns one result per run (skipped ones included)."""
        from mlflow.tracking import MlflowClient

        self.executor.open(self)  # refuses a set-up that cannot work before anything is written
        try:
            ensure_store(self.tracking_uri)  # checked; created once if new (under a file lock)
            client = MlflowClient(self.tracking_uri)
            experiment_id = ensure_experiment(client, self.experiment, self.tracking_uri)
            done = finished_hashes(client, experiment_id)
            self.workdir.mkdir(parents=True, exist_ok=True)
            results = [RunResult(run, SKIPPED) for run in self.runs if run.config_hash in done]
            for result in results:
                if on_result is not None:
                    on_result(result)
            jobs = [self._job(run) for run in self.runs if run.config_hash not in done]

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
        return sorted(results, key=lambda r: r.run.index)

    def _job(self, run: RunSpec) -> Job:
        config_file = self.workdir / f"{run.config_hash}.yaml"
        config = run_config(run, self.experiment, self.spec.experiment)
        config_file.write_text(yaml.safe_dump(config, sort_keys=False))
        started_ms = int(time.time() * 1000) - 1000
        return Job(run, config_file, self.workdir / f"{run.config_hash}.log", started_ms)

    def _result(self, client: Any, experiment_id: str, job: Job, outcome: Outcome) -> RunResult:
        """The :class:`RunResult` of ``outcome``, recorded in MLflow when the run failed."""
        kwargs = {"log": job.log, "attempts": outcome.attempts, "where": outcome.where}
        if outcome.returncode == 0:
            if outcome.attempts > 1:
                self._close_lost_attempts(client, experiment_id, job)
            return RunResult(job.run, FINISHED, outcome.seconds, **kwargs)
        error = failure_error(outcome, job.log)
        self._record_failure(client, experiment_id, job.run, job.started_ms, error)
        return RunResult(job.run, FAILED, outcome.seconds, error, **kwargs)

    def _attempt_runs(self, client: Any, experiment_id: str, run: RunSpec, since_ms: int) -> list:
        return client.search_runs(
            [experiment_id],
            filter_string=(
                f"tags.config_hash = '{run.config_hash}' and attributes.start_time >= {since_ms}"
            ),
        )

    def _close_lost_attempts(self, client: Any, experiment_id: str, job: Job) -> None:
        """A run retried without a checkpoint to resume left its first MLflow run RUNNING: FAILED."""
        for found in self._attempt_runs(client, experiment_id, job.run, job.started_ms):
            if found.info.status == "RUNNING":
                client.set_tag(found.info.run_id, ERROR_TAG, "its worker was lost; retried")
                client.set_terminated(found.info.run_id, status="FAILED")

    def _record_failure(
        self, client: Any, experiment_id: str, run: RunSpec, started_ms: int, error: str
    ) -> None:
        """Mark this attempt's MLflow run FAILED, or create a FAILED run if it never started."""
        runs = self._attempt_runs(client, experiment_id, run, started_ms)
        if runs:
            for found in runs:
                client.set_tag(found.info.run_id, ERROR_TAG, error)
                if found.info.status != "FAILED":
                    client.set_terminated(found.info.run_id, status="FAILED")
            return
        tags = {**run.tags(self.spec.experiment), ERROR_TAG: error}
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
            elif result.status == FAILED:
                console.print(
                    f"[red]FAILED[/]  {result.run.name}: {result.error}  (log: {result.log}{retried})"
                )
            progress.update(task, advance=1, description=describe())

        return runner.execute(on_result)
