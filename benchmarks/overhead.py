"""What a run costs beyond its training, in one run of this script, side by side (issue 16):

1. start-up CPU seconds and peak memory of each light command (``--help``, ``report``,
   ``sync``, ``ui --help``, ``sweep --dry-run``) against ``python -c "import torch"`` and against
   importing torch, Lightning, MLflow and timm;
2. the quickstart fit's wall and CPU seconds against its training time (the sum of its
   ``time/epoch_seconds``, as the run itself measured its epochs);
3. the per-run cost of a WDBC sweep (003's showcase, ``--runs`` runs, 2 at a time), the old
   runner (a fresh subprocess per run, torch's thread per core in each) against the new one
   (runs forked from a preloaded server, the cores shared out between the runs at a time), with
   the test accuracy of every config hash compared between the two.

CPU seconds (user + system, the command and its children) are what the noise of a shared
machine disturbs least; each light command is the median of ``--repeats`` starts.

    python benchmarks/overhead.py                 # all three, 10-run sweep
    python benchmarks/overhead.py --runs 20       # the full showcase
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sweep_backends import REPO, SHOWCASE, compare, same_results, wdbc_sweep


def measure(cmd: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float, float]:
    """``(wall s, CPU s, peak MB)`` of one command and its waited-for children."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
    _, _, usage = os.wait4(proc.pid, 0)
    return time.perf_counter() - start, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def light_commands(store: Path, repeats: int) -> None:
    """Part 1: the median start-up of each light command against importing the stack."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "ACTLAB_MLRUNS": str(store)}
    env.pop("MLFLOW_TRACKING_URI", None)
    python = [sys.executable, "-c"]
    actlab = [sys.executable, "-m", "actlab"]
    commands = {
        'python -c "import torch"': [*python, "import torch"],
        "import torch, lightning, mlflow, timm": [*python, "import torch, lightning, mlflow, timm"],
        "actlab --help": [*actlab, "--help"],
        "actlab report (showcase)": [*actlab, "report", str(SHOWCASE)],
        "actlab sync": [*actlab, "sync"],
        "actlab ui --help": [*actlab, "ui", "--help"],
        "actlab sweep --dry-run": [*actlab, "sweep", str(SHOWCASE), "--dry-run"],
    }
    print(f"\n1. start-up, median of {repeats} ({os.cpu_count()} cores)")
    print(f"{'command':<40}{'wall s':>8}{'CPU s':>8}{'peak MB':>9}{'CPU/torch':>11}")
    torch_cpu = None
    for name, cmd in commands.items():
        runs = [measure(cmd, env, store.parent) for _ in range(repeats)]
        wall, cpu, peak = (statistics.median(r[i] for r in runs) for i in range(3))
        torch_cpu = torch_cpu or cpu
        print(f"{name:<40}{wall:>8.2f}{cpu:>8.2f}{peak:>9.0f}{cpu / torch_cpu:>11.2f}")


def quickstart(store: Path) -> None:
    """Part 2: the quickstart fit against its own training time."""
    from mlflow.tracking import MlflowClient

    env = {**os.environ, "PYTHONPATH": str(REPO), "ACTLAB_MLRUNS": str(store)}
    env.pop("MLFLOW_TRACKING_URI", None)
    config = REPO / "configs" / "quickstart.yaml"
    cmd = [sys.executable, "-m", "actlab", "fit", "--config", str(config),
           "--trainer.enable_progress_bar", "false"]  # fmt: skip
    wall, cpu, peak = measure(cmd, env, store.parent)
    _, stack_cpu, _ = measure([sys.executable, "-c", "import torch, lightning, mlflow, timm"],
                              env, store.parent)  # fmt: skip
    client = MlflowClient(f"sqlite:///{store / 'mlflow.db'}")
    (run,) = client.search_runs([client.get_experiment_by_name("quickstart").experiment_id])
    epochs = client.get_metric_history(run.info.run_id, "time/epoch_seconds")
    training = sum(m.value for m in epochs)
    print(f"\n2. quickstart fit ({len(epochs)} epochs)")
    print(f"wall {wall:.1f} s, CPU {cpu:.1f} s, peak {peak:.0f} MB; training {training:.2f} s "
          f"(sum of time/epoch_seconds) = {100 * training / wall:.1f} % of the wall time; "
          f"CPU / CPU of importing torch, lightning, mlflow, timm ({stack_cpu:.1f} s): "
          f"{cpu / stack_cpu:.2f}")  # fmt: skip


def sweep_overhead(folder: Path, runs: int, repeats: int) -> None:
    """Part 3: a WDBC sweep, old runner against new."""
    sweep = wdbc_sweep(folder, runs)
    print(f"\n3. WDBC showcase sweep, {runs} runs, 2 at a time (per run: seconds / runs)")
    timings = compare(sweep, ["before", "forkserver"], workers=2, repeats=repeats)
    print(f"{'runner':<12}{'wall s':>9}{'wall s/run':>12}{'CPU s':>9}{'CPU s/run':>11}")
    for name, rounds in timings.items():
        wall = statistics.mean(t.wall for t in rounds)
        cpu = statistics.mean(t.cpu for t in rounds)
        print(f"{name:<12}{wall:>9.1f}{wall / runs:>12.1f}{cpu:>9.1f}{cpu / runs:>11.1f}")
    old, new = (statistics.mean(t.cpu for t in timings[k]) for k in ("before", "forkserver"))
    wold, wnew = (statistics.mean(t.wall for t in timings[k]) for k in ("before", "forkserver"))
    print(f"new / old: CPU {new / old:.2f}, wall {wnew / wold:.2f}; CPU saved per run "
          f"{(old - new) / runs:.1f} s; test/acc per config hash identical: "
          f"{same_results(timings, runs)}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=10, help="runs of the sweep (part 3)")
    parser.add_argument("--repeats", type=int, default=3, help="starts per light command")
    parser.add_argument("--sweep-repeats", type=int, default=1, help="rounds of part 3")
    parser.add_argument("--parts", nargs="+", type=int, default=[1, 2, 3], choices=[1, 2, 3])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        if 2 in args.parts or 1 in args.parts:
            store = folder / "quickstart" / "mlruns"
            store.mkdir(parents=True)
            if 2 in args.parts:
                quickstart(store)
            if 1 in args.parts:
                light_commands(store, args.repeats)
        if 3 in args.parts:
            sweep_overhead(folder, args.runs, args.sweep_repeats)


if __name__ == "__main__":
    main()
