"""Runs/hour of one sweep of small runs through each way ``actlab sweep`` can start them, on one
machine, side by side:

- ``before``: 0.1.0's runner: each run a fresh ``python -m actlab fit`` with torch's default of
  one thread per core (``OMP_NUM_THREADS`` = cores), however many run at a time;
- ``subprocess``: the local runner, each run a fresh ``python -m actlab fit``;
- ``forkserver``: the local runner, each run forked from one preloaded server (the default);
- ``ray``: ``--backend ray`` on a Ray instance started for the sweep on this machine (as many
  CPUs as the machine has cores, one per run), each run a Ray task running ``actlab fit``;
  compare it with ``--workers`` = cores.

Each backend runs the same sweep into a fresh MLflow store, the order rotating over
``--repeats``; each run gets the threads the runner gives it (cores / workers; Ray: its CPUs
per run), ``before`` torch's thread per core. Wall seconds are the whole
``actlab sweep`` command (start-up included); CPU seconds are the command's and its children's.
The test accuracy of every config hash is compared across backends: they must be identical.

    python benchmarks/sweep_backends.py --runs 6 --workers 2
    python benchmarks/sweep_backends.py --runs 10 --backends subprocess forkserver --epochs 32
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
SHOWCASE = REPO / "configs" / "showcase" / "wdbc_heads.yaml"
BACKENDS = {
    # 0.1.0's runner: a fresh subprocess per run, each with torch's one thread per core
    "before": ["--no-fork-server"],
    "subprocess": ["--no-fork-server"],
    "forkserver": [],
    "ray": ["--backend", "ray"],
}


@dataclass
class Timing:
    """One sweep: wall and CPU seconds, and test/acc per config hash."""

    wall: float
    cpu: float
    accuracy: dict[str, float]


def wdbc_sweep(folder: Path, runs: int, epochs: int | None = None) -> Path:
    """The WDBC showcase (003, softmax vs DL-ReLU head) cut to ``runs`` runs (seeds x 2 heads)."""
    sweep = yaml.safe_load(SHOWCASE.read_text())
    sweep["base"] = [str((SHOWCASE.parent / b).resolve()) for b in sweep["base"]]
    sweep["seeds"] = list(range(max(1, runs // 2)))
    if epochs is not None:
        sweep.setdefault("fixed", {})["trainer.max_epochs"] = epochs
    path = folder / "sweep.yaml"
    path.write_text(yaml.safe_dump(sweep))
    return path


def test_accuracy(store: Path, experiment: str) -> dict[str, float]:
    """``test/acc`` of every FINISHED run of ``experiment`` in ``store``, by run name (axis
    labels and seed)."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{store / 'mlflow.db'}")
    found = client.get_experiment_by_name(experiment)
    runs = client.search_runs([found.experiment_id], "attributes.status = 'FINISHED'")
    return {r.info.run_name: r.data.metrics["test/acc"] for r in runs}


def timed_sweep(sweep: Path, extra: list[str], store: Path, workers: int) -> Timing:
    """Run ``actlab sweep SWEEP EXTRA`` into the fresh store folder ``store``."""
    env = {**os.environ, "ACTLAB_MLRUNS": str(store), "PYTHONPATH": str(REPO),
           "MLFLOW_TRACKING_URI": f"sqlite:///{store / 'mlflow.db'}"}  # fmt: skip
    # the local runner (and Ray) share the cores out between the runs; 0.1.0's did not
    env.pop("OMP_NUM_THREADS", None)
    if extra is BACKENDS["before"]:
        env["OMP_NUM_THREADS"] = str(os.cpu_count() or 1)
    if "ray" in extra:
        env["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"  # the local instance on 127.0.0.1
    else:
        extra = [*extra, "--workers", str(workers)]
    cmd = [sys.executable, "-m", "actlab", "sweep", str(sweep), "--no-progress", *extra]
    log = store.with_suffix(".log")
    start = time.perf_counter()
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)  # fmt: skip
        _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(cmd)} failed; see {log}:\n{log.read_text()[-3000:]}")
    experiment = yaml.safe_load(sweep.read_text())["experiment"]
    return Timing(wall, usage.ru_utime + usage.ru_stime, test_accuracy(store, experiment))


def compare(sweep: Path, backends: list[str], workers: int, repeats: int) -> dict[str, list]:
    """Every backend's timings over ``repeats`` rounds, rotating which goes first."""
    timings: dict[str, list[Timing]] = {b: [] for b in backends}
    with tempfile.TemporaryDirectory() as tmp:
        for repeat in range(repeats):
            order = backends[repeat % len(backends) :] + backends[: repeat % len(backends)]
            for backend in order:
                store = Path(tmp) / f"{backend}-{repeat}"
                timing = timed_sweep(sweep, BACKENDS[backend], store, workers)
                print(f"  {backend:<11} round {repeat}: {timing.wall:7.1f} s wall "
                      f"{timing.cpu:7.1f} s CPU", flush=True)  # fmt: skip
                timings[backend].append(timing)
    return timings


def report(timings: dict[str, list[Timing]], runs: int) -> None:
    """Print runs/hour, seconds per run and the ratio to the first backend; check results."""
    print(f"{'backend':<12}{'wall s':>9}{'CPU s':>9}{'CPU s/run':>11}{'runs/hour':>11}{'ratio':>7}")
    base = None
    for backend, rounds in timings.items():
        wall = sum(t.wall for t in rounds) / len(rounds)
        cpu = sum(t.cpu for t in rounds) / len(rounds)
        rate = runs * 3600 / wall
        base = base or rate
        print(f"{backend:<12}{wall:>9.1f}{cpu:>9.1f}{cpu / runs:>11.1f}{rate:>11.0f}"
              f"{rate / base:>7.2f}")  # fmt: skip
    print(f"test/acc per config hash identical across every sweep: {same_results(timings, runs)}")


def same_results(timings: dict[str, list[Timing]], runs: int) -> str:
    """``yes (N configs)`` when every sweep gave every config hash the same test accuracy."""
    results = [t.accuracy for rounds in timings.values() for t in rounds]
    same = all(r == results[0] for r in results) and len(results[0]) == runs
    return f"{'yes' if same else 'NO'} ({len(results[0])} configs)"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=6, help="runs (seeds x 2 heads)")
    parser.add_argument("--workers", type=int, default=2, help="runs at a time")
    parser.add_argument("--epochs", type=int, default=None, help="default: the showcase's 32")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--backends", nargs="+", choices=list(BACKENDS), default=list(BACKENDS))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        sweep = wdbc_sweep(Path(tmp), args.runs, args.epochs)
        runs = len(yaml.safe_load(sweep.read_text())["seeds"]) * 2
        print(f"WDBC showcase, {runs} runs, {args.workers} at a time, {os.cpu_count()} cores")
        timings = compare(sweep, args.backends, args.workers, args.repeats)
    report(timings, runs)


if __name__ == "__main__":
    main()
