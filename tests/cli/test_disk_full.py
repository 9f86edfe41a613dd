"""A full disk ends a fit with one line and exit status 74, and loses none of the run's data.

The disk is really full: a 16 MiB tmpfs holding ``mlruns/`` (store, spool, checkpoints), mounted
in a private mount namespace (``unshare --mount``, root only), filled by another writer at the end
of the fit's second and last epoch (tests/cli/disk_filler.py). The namespace's mount disappears with its
processes, so nothing is left mounted even when the test fails or is killed.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from actlab.cli.disk_full import DISK_FULL, disk_full_line, find_disk_full
from tests.helpers import CONFIGS, REPO, kill_group

#: Upper bound of the whole driver: two short fits and the checks.
DRIVER_TIMEOUT = 420
UNSHARE = ["unshare", "--mount", "--propagation", "private", "--"]


def private_mounts_or_skip(tmp_path: Path) -> None:
    """Skip unless this process may mount a tmpfs in a private mount namespace."""
    if shutil.which("unshare") is None or os.geteuid() != 0:
        pytest.skip("needs root and unshare(1) to mount a small tmpfs in a private namespace")
    probe = tmp_path / "probe"
    probe.mkdir()
    result = subprocess.run(
        [*UNSHARE, "mount", "-t", "tmpfs", "-o", "size=1m", "probe", str(probe)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs in a private namespace: {result.stderr.strip()}")


@pytest.mark.slow  # two fits in subprocesses
def test_a_full_disk_is_one_line_exit_74_and_the_run_is_intact(tmp_path: Path) -> None:
    private_mounts_or_skip(tmp_path)
    mount, result_path = tmp_path / "disk", tmp_path / "result.json"
    mount.mkdir()
    args = ["fit", "--config", str(CONFIGS / "quickstart.yaml"), "--trainer.max_epochs", "2",
            "--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false",
            "--trainer.callbacks+=tests.cli.disk_filler.FillDisk",
            "--trainer.callbacks.folder", str(mount)]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    cmd = [*UNSHARE, sys.executable, "-m", "tests.cli.disk_filler", str(mount), str(result_path)]
    proc = subprocess.Popen([*cmd, "--", *args], env=env, cwd=tmp_path, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # fmt: skip
    try:
        out, _ = proc.communicate(timeout=DRIVER_TIMEOUT)
    finally:
        kill_group(proc)
    assert proc.returncode == 0, out[-4000:]
    result = json.loads(result_path.read_text())

    full = result["full"]
    assert full["rc"] == DISK_FULL, full["stderr"][-4000:]
    lines = [line for line in full["stderr"].splitlines() if line.startswith("actlab: ")]
    (line,) = lines
    assert result["free_bytes"] < 1 << 20  # the disk was still full when the store was read
    store = result["full_store"]
    assert store["integrity"] == "ok"
    ((run_id, run),) = store["runs"].items()
    # The line names the full disk, the store and the run's state as the store holds it.
    db = mount / "mlruns" / "mlflow.db"
    assert line.startswith(f"actlab: error: the disk of {mount / 'mlruns'} is full ("), line
    # SQLite cannot record the run's end on a full disk, and the line says so.
    assert run["status"] == "RUNNING"
    assert f"run {run_id} is left RUNNING in {db}: its end could not be written" in line
    assert line.endswith("free space, then resume it with --ckpt_path last")
    assert full["stderr"].rstrip().endswith(line)  # the last line; no `actlab: bug:`
    # No traceback (MLflow's error log of each refused write is filtered); the spool's warning
    # names the reason.
    assert "Traceback" not in full["stderr"], full["stderr"][-4000:]
    assert f"{db}: database or disk is full; keeping run {run_id}'s writes" in full["stderr"]
    # What was logged before the disk filled is there: the first epoch's metrics.
    assert {"train/loss", "val/acc"} <= set(run["metrics"])

    # After freeing space, the remedy the line gives works: the same run trains on and ends.
    resumed = result["resumed"]
    assert resumed["rc"] == 0, resumed["stderr"][-4000:]
    assert f"resuming run {run_id}" in resumed["stderr"] + resumed["stdout"]
    after = result["resumed_store"]
    assert after["integrity"] == "ok"
    assert after["runs"][run_id]["status"] == "FINISHED"
    assert "test/acc" in after["runs"][run_id]["metrics"]


def test_disk_full_is_found_anywhere_in_the_chain(tmp_path: Path) -> None:
    """A real ENOSPC raised while handling another error (a spool write while the fit fails)."""
    try:
        try:
            raise RuntimeError("the fit failed")
        except RuntimeError:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)) from None
    except OSError as err:
        wrapped = err
    try:
        raise ValueError("outer") from wrapped
    except ValueError as err:
        outer = err
    assert find_disk_full(outer) is wrapped
    line = disk_full_line(outer)
    assert line is not None and line.endswith("the command stopped; free space on that disk")
    assert find_disk_full(ValueError("no disk involved")) is None
    assert disk_full_line(OSError(errno.EACCES, "Permission denied")) is None
