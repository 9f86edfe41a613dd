"""Run a sweep: one ``actlab fit`` subprocess per run, resumable, in parallel, failures recorded.

Each run's merged config is written to ``<mlruns>/sweeps/<experiment>/<hash>.yaml`` with its
MLflow experiment and tags (``sweep``, ``config_hash``, ``seed``, ``axis.<name>``) set on the
logger, then ``python -m actlab fit --config <that file>`` runs with ``MLFLOW_TRACKING_URI``
pinned to the sweep's store. Its output goes to ``<hash>.log`` beside the config.

Resuming: a run whose config hash already has a FINISHED run in the experiment is skipped.
Failures: a run that exits non-zero is FAILED in MLflow; if it died before its MLflow run existed
(a bad config), the runner creates a FAILED run with the same tags and the error's last line.
"""

from __future__ import annotations

import copy
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

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
#: Tag holding the last line of a failed run's output.
ERROR_TAG = "sweep.error"


@dataclass
class RunResult:
    """Outcome of one run: its spec, status, seconds and (for failures) the error line."""

    run: RunSpec
    status: str
    seconds: float = 0.0
    error: str = ""
    log: Path | None = None


def run_config(run: RunSpec, experiment: str, sweep: str) -> dict[str, Any]:
    """The config file content of ``run``: its merged config plus the logger's experiment and tags."""
    config = copy.deepcopy(run.config)
    logger = config.get("trainer", {}).get("logger")
    if logger in (None, True) or not isinstance(logger, dict):
        set_key(config, "trainer.logger", {"class_path": "actlab.tracking.ActlabMLFlowLogger"})
    set_key(config, "trainer.logger.init_args.experiment_name", experiment)
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
    """GPU ids runs are spread over: ``CUDA_VISIBLE_DEVICES`` if set, else all CUDA devices."""
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    if env is not None:
        return [g.strip() for g in env.split(",") if g.strip() and g.strip() != "-1"]
    # Asked in a child process: the sweep driver itself never imports torch (nor starts CUDA).
    probe = "import torch; print(torch.cuda.device_count())"
    try:
        out = subprocess.run(
            [sys.executable, "-c", probe], capture_output=True, text=True, timeout=300
        )
        return [str(i) for i in range(int(out.stdout.strip() or 0))]
    except Exception:  # noqa: BLE001
        return []


def last_error_line(text: str) -> str:
    """The line that names the error in a run's output (the last non-empty one, else a default)."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for line in reversed(lines):
        if "error" in line.lower() or "exception" in line.lower():
            return line[:500]
    return lines[-1][:500] if lines else "the run exited with an error and printed nothing"


class SweepRunner:
    """Runs the runs of a sweep; see the module docstring.

    Args:
        spec: the parsed sweep.
        smoke: run the smoke variant (its own experiment ``<experiment>-smoke``).
        overrides: ``key: value`` pairs applied to every run last.
        workers: runs at a time (parallel processes).
        gpus: GPU ids assigned round-robin over the worker slots; ``None`` detects them.
        tracking_uri: the MLflow store; ``None`` resolves as ``actlab fit`` does.
        workdir: where run configs and logs go; default ``<mlruns>/sweeps/<experiment>``.
        timeout: seconds one run may take before it is killed and counted FAILED.
        progress: show a rich progress display.
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
    ) -> None:
        self.spec = spec
        self.smoke = smoke
        self.experiment = spec.experiment_name(smoke)
        self.runs = spec.runs(smoke=smoke, overrides=overrides)
        self.workers = max(1, workers)
        self.gpus = visible_gpus() if gpus is None else gpus
        self.tracking_uri = tracking_uri or default_tracking_uri()
        safe = sanitize_experiment_name(self.experiment)
        self.workdir = workdir or mlruns_dir() / "sweeps" / safe
        self.timeout = timeout
        self.progress = progress
        self._lock = threading.Lock()

    def command(self, config_file: Path) -> list[str]:
        """The command line of one run."""
        return [sys.executable, "-m", "actlab", "fit", "--config", str(config_file)]

    def environment(self, slot: int) -> dict[str, str]:
        """Environment of a run in worker ``slot``: the store pinned, a GPU chosen round-robin."""
        env = {**os.environ, "MLFLOW_TRACKING_URI": self.tracking_uri}
        if self.gpus:
            env["CUDA_VISIBLE_DEVICES"] = self.gpus[slot % len(self.gpus)]
        return env

    def execute(self, on_result: Callable[[RunResult], None] | None = None) -> list[RunResult]:
        """Run every run not yet FINISHED; returns one result per run (skipped ones included)."""
        from mlflow.tracking import MlflowClient

        ensure_store(self.tracking_uri)  # checked up front; created once if new (file lock)
        client = MlflowClient(self.tracking_uri)
        experiment_id = ensure_experiment(client, self.experiment, self.tracking_uri)
        done = finished_hashes(client, experiment_id)
        self.workdir.mkdir(parents=True, exist_ok=True)
        results: list[RunResult] = []
        todo = []
        for run in self.runs:
            if run.config_hash in done:
                results.append(RunResult(run, SKIPPED))
            else:
                todo.append(run)
        free_slots = list(range(self.workers))

        def work(run: RunSpec) -> RunResult:
            with self._lock:
                slot = free_slots.pop(0)
            try:
                result = self._run_one(client, experiment_id, run, slot)
            finally:
                with self._lock:
                    free_slots.append(slot)
            if on_result is not None:
                with self._lock:
                    on_result(result)
            return result

        for result in results:
            if on_result is not None:
                on_result(result)
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            results += list(pool.map(work, todo))
        return sorted(results, key=lambda r: r.run.index)

    def _run_one(self, client: Any, experiment_id: str, run: RunSpec, slot: int) -> RunResult:
        config_file = self.workdir / f"{run.config_hash}.yaml"
        log_file = self.workdir / f"{run.config_hash}.log"
        config = run_config(run, self.experiment, self.spec.experiment)
        config_file.write_text(yaml.safe_dump(config, sort_keys=False))
        started_ms = int(time.time() * 1000) - 1000
        start = time.perf_counter()
        with open(log_file, "w") as log:
            try:
                code = subprocess.run(
                    self.command(config_file),
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=self.environment(slot),
                    timeout=self.timeout,
                ).returncode
            except subprocess.TimeoutExpired:
                code = -1
                log.write(
                    f"\nactlab sweep: error: the run exceeded the timeout of {self.timeout} s\n"
                )
        seconds = time.perf_counter() - start
        if code == 0:
            return RunResult(run, FINISHED, seconds, log=log_file)
        error = last_error_line(log_file.read_text(errors="replace"))
        self._record_failure(client, experiment_id, run, started_ms, error)
        return RunResult(run, FAILED, seconds, error, log_file)

    def _record_failure(
        self, client: Any, experiment_id: str, run: RunSpec, started_ms: int, error: str
    ) -> None:
        """Mark this attempt's MLflow run FAILED, or create a FAILED run if it never started."""
        runs = client.search_runs(
            [experiment_id],
            filter_string=(
                f"tags.config_hash = '{run.config_hash}' and attributes.start_time >= {started_ms}"
            ),
        )
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
            if result.status == FINISHED:
                console.print(f"[green]done[/]    {result.run.name}  ({result.seconds:.1f} s)")
            elif result.status == FAILED:
                console.print(
                    f"[red]FAILED[/]  {result.run.name}: {result.error}  (log: {result.log})"
                )
            progress.update(task, advance=1, description=describe())

        return runner.execute(on_result)
