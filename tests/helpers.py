"""Helpers the tests share: drive the real CLI in-process or in a subprocess, and run child
processes in their own process group so that a failing or timed-out test ends all of them."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "configs"


def tracking_uri(mlruns: Path) -> str:
    """The SQLite URI actlab uses for ``mlruns``."""
    return f"sqlite:///{mlruns / 'mlflow.db'}"


def all_runs(uri: str) -> list:
    """Every run of every experiment in the store at ``uri`` (oldest first); ``[]`` when it has
    none. Fits name their experiment after the config or dataset (``actlab.tracking.naming``)."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    ids = [e.experiment_id for e in client.search_experiments()]
    return client.search_runs(ids, order_by=["attributes.start_time ASC"]) if ids else []


def run_actlab(args: Sequence[str]) -> int:
    """Run ``actlab ARGS`` in-process; returns the exit code (0 when it returns normally)."""
    from actlab.cli import main

    try:
        main(list(args))
    except SystemExit as exit_:
        code = exit_.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    return 0


def actlab_subprocess(
    args: Sequence[str], env: dict[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess:
    """Run ``python -m actlab ARGS`` in a subprocess (own process group, ended on time-out)."""
    full_env = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    with process_group(
        [sys.executable, "-m", "actlab", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=full_env,
    ) as proc:
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            kill_group(proc)
            raise
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def kill_group(proc: subprocess.Popen, grace: float = 10.0) -> None:
    """End the process group ``proc`` leads: SIGTERM, then SIGKILL after ``grace`` seconds."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 30.0)):
        try:
            os.killpg(proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            break
        try:
            proc.wait(timeout=wait)
            # the leader is gone; members of its group may still live
            os.killpg(proc.pid, 0)
        except subprocess.TimeoutExpired:
            continue
        except (ProcessLookupError, PermissionError):
            break


@contextlib.contextmanager
def process_group(cmd: Sequence[str], **popen_kwargs) -> Iterator[subprocess.Popen]:
    """``Popen(cmd)`` as the leader of a new process group; the whole group is ended on exit,
    whether the block finished, failed or timed out."""
    proc = subprocess.Popen(list(cmd), start_new_session=True, **popen_kwargs)
    try:
        yield proc
    finally:
        kill_group(proc)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def install_or_skip(script: Path, *args: str, timeout: float = 900) -> str:
    """Run one of the project's install scripts (``scripts/install-*.sh``); return the last line it
    prints (the installed path).

    Where it cannot install (no apt, no root), the calling test is skipped with the script's reason;
    under ``CI=true`` it fails instead, since CI must run every test.
    """
    import pytest

    result = subprocess.run(
        ["bash", str(script), *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    if result.returncode != 0:
        reason = (result.stderr.strip().splitlines() or [f"exit status {result.returncode}"])[-1]
        message = f"{script.name} could not install: {reason}"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message)
        pytest.skip(message)
    return result.stdout.strip().splitlines()[-1]


def alive(pid: int) -> bool:
    """Whether process ``pid`` runs (a zombie, finished but not yet reaped, does not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def children(pid: int, marker: str = "") -> list[int]:
    """Pids of the live children of ``pid`` whose command line contains ``marker``."""
    try:
        pids = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return []
    found = []
    for child in pids:
        try:
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if marker in cmdline and alive(int(child)):
            found.append(int(child))
    return found


QUICKSTART = str(CONFIGS / "quickstart.yaml")
#: Options for a short fit without a progress bar.
FAST = ["--trainer.max_epochs", "3", "--trainer.enable_progress_bar", "false"]
#: ``fit`` of the quickstart config for one epoch, no progress bar.
ONE_EPOCH = ["fit", "--config", QUICKSTART, "--trainer.max_epochs", "1",
             "--trainer.enable_progress_bar", "false"]  # fmt: skip


def only_run(uri: str, experiment: str = "quickstart"):
    """``(client, run)`` of the one run of ``experiment`` in the store at ``uri``."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    exp = client.get_experiment_by_name(experiment)
    assert exp is not None, f"experiment {experiment!r} missing in {uri}"
    runs = client.search_runs([exp.experiment_id])
    assert len(runs) == 1
    return client, runs[0]


def error_lines(err: str) -> list[str]:
    """The ``actlab: error:`` lines of a command's stderr."""
    return [line for line in err.splitlines() if line.startswith("actlab: error:")]


#: Runs the command after it with SIGINT at its default (as in a terminal's foreground job): a
#: suite started in the background (``make test &``, a CI runner) ignores SIGINT, every child
#: inherits that across exec, and Python then never installs its KeyboardInterrupt handler.
SIGINT_DEFAULT = [
    sys.executable,
    "-c",
    "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
    "os.execvp(sys.argv[1], sys.argv[1:])",
]
