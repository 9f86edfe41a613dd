"""Several small runs packed on one device vs one after another: runs/hour, side by side.

Small runs (the papers' MNIST, WDBC, 8x8-digits nets) leave a GPU mostly idle; `actlab sweep
--workers N` runs N of them at once (on GPU 0 with ``--gpus 0``). This benchmark runs the same
sweep of R small runs twice with ``actlab sweep`` as a researcher would, each time into a fresh
MLflow store: once with one worker, once packed with N workers, alternating the order over
``--repeats`` so that neither always runs on a warmer machine. Every run is a full `actlab fit`
subprocess (start-up, MLflow, test), so the figure is what a sweep really achieves.

    python benchmarks/packed_runs.py --runs 6 --workers 3                  # CPU, digits
    python benchmarks/packed_runs.py --runs 16 --workers 4 --gpu           # all on GPU 0
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
BASE = REPO / "configs" / "showcase" / "digits_base.yaml"


def write_sweep(folder: Path, runs: int, epochs: int, gpu: bool) -> Path:
    """A sweep of ``runs`` seeds of the digits showcase net."""
    base = yaml.safe_load(BASE.read_text())
    base["trainer"]["max_epochs"] = epochs
    base["trainer"]["accelerator"] = "gpu" if gpu else "cpu"
    (folder / "base.yaml").write_text(yaml.safe_dump(base))
    sweep = {
        "experiment": "bench-packed",
        "base": ["base.yaml"],
        "seeds": list(range(runs)),
        "grid": {
            "activation": [{"label": "cpaf_relu", "model.init_args.activation": "cpaf_relu(k=2)"}]
        },
    }
    path = folder / "sweep.yaml"
    path.write_text(yaml.safe_dump(sweep))
    return path


def timed_sweep(sweep: Path, workers: int, gpu: bool, store: Path) -> float:
    """Seconds for ``actlab sweep`` to run every run of ``sweep`` into a fresh store."""
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{store}", "PYTHONPATH": str(REPO)}
    env.pop("OMP_NUM_THREADS", None)  # the runner shares the cores out between the runs
    cmd = [sys.executable, "-m", "actlab", "sweep", str(sweep), "--workers", str(workers),
           "--no-progress", *(["--gpus", "0"] if gpu else [])]  # fmt: skip
    start = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"sweep with {workers} worker(s) failed:\n{done.stdout}\n{done.stderr}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=6)
    parser.add_argument("--workers", type=int, default=3, help="runs at a time when packed")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=1, help="pairs (alternating order)")
    parser.add_argument("--gpu", action="store_true", help="train on GPU 0 (all workers on it)")
    args = parser.parse_args()

    times: dict[int, list[float]] = {1: [], args.workers: []}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        sweep = write_sweep(folder, args.runs, args.epochs, args.gpu)
        for repeat in range(args.repeats):
            order = [1, args.workers] if repeat % 2 == 0 else [args.workers, 1]
            for workers in order:
                store = folder / f"store-{repeat}-{workers}.db"
                times[workers].append(timed_sweep(sweep, workers, args.gpu, store))

    device = "GPU 0" if args.gpu else f"cpu ({os.cpu_count()} cores)"
    print(f"\npacked runs: {args.runs} runs of small_cnn + cpaf_relu(k=2) on digits, "
          f"{args.epochs} epochs each, {device}, {args.repeats} repeat(s)")  # fmt: skip
    print(f"{'workers':<10}{'seconds':>10}{'runs/hour':>12}{'ratio':>8}")
    base = None
    for workers, seconds in times.items():
        mean = sum(seconds) / len(seconds)
        rate = args.runs * 3600 / mean
        base = base or rate
        print(f"{workers:<10}{mean:>10.1f}{rate:>12.0f}{rate / base:>8.2f}")


if __name__ == "__main__":
    main()
