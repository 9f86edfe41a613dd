"""A real full disk for a fit: a small tmpfs in a private mount namespace, filled mid-fit.

``python -m tests.cli.disk_filler MOUNT RESULT -- ARGS...`` (run inside ``unshare --mount
--propagation private``, as root) mounts a 16 MiB tmpfs at MOUNT, runs ``actlab ARGS`` with
``ACTLAB_MLRUNS=MOUNT/mlruns`` (store, spool and checkpoints on that disk), where
:class:`FillDisk` fills the disk at the end of one training epoch, then writes RESULT (JSON,
outside the tmpfs): the fit's exit status and output, the run as the store holds it on the
still-full disk, SQLite's integrity check, and, after the filler is deleted, the exit status and
run of ``actlab ARGS --ckpt_path last``. The mount lives only in the namespace: it is gone when
the driver's processes end, however they end.
"""

from __future__ import annotations

import errno
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

from lightning import Callback

#: Size of the tmpfs: the store, a checkpoint and the artifacts of a quickstart fit fit in it.
SIZE = "16m"
FILLER = "filler"
FIT_TIMEOUT = 240


class FillDisk(Callback):
    """At the end of training epoch ``epoch``, write ``MOUNT/filler`` until the disk is full
    (``ENOSPC``), as another process filling the disk would."""

    def __init__(self, folder: str, epoch: int = 1) -> None:
        self.folder = Path(folder)
        self.epoch = epoch

    def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        if trainer.current_epoch != self.epoch:
            return
        with open(self.folder / FILLER, "wb", buffering=0) as f:
            for size in (1 << 16, 1 << 10, 1):  # the last bytes too
                try:
                    while True:
                        f.write(b"\0" * size)
                except OSError as err:
                    if err.errno != errno.ENOSPC:
                        raise


def read_back(db: Path) -> dict[str, Any]:
    """The store's runs (status, tags, metric keys) and SQLite's integrity check, read only."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        integrity = conn.execute("PRAGMA integrity_check").fetchone()[0]
        runs = {
            run_id: {"status": status, "tags": {}, "metrics": []}
            for run_id, status in conn.execute("SELECT run_uuid, status FROM runs")
        }
        for run_id, key, value in conn.execute("SELECT run_uuid, key, value FROM tags"):
            runs[run_id]["tags"][key] = value
        for run_id, key in conn.execute("SELECT DISTINCT run_uuid, key FROM metrics"):
            runs[run_id]["metrics"].append(key)
    return {"integrity": integrity, "runs": runs}


def fit(args: list[str], env: dict[str, str]) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, "-m", "actlab", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=FIT_TIMEOUT,
        check=False,
    )
    return {"rc": result.returncode, "stdout": result.stdout, "stderr": result.stderr}


def main(mount: Path, result_path: Path, args: list[str]) -> None:
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={SIZE}", "actlab-full", str(mount)],
                   check=True, capture_output=True, timeout=30)  # fmt: skip
    mlruns = mount / "mlruns"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env["ACTLAB_MLRUNS"] = str(mlruns)
    result: dict[str, Any] = {"full": fit(args, env)}
    result["full_store"] = read_back(mlruns / "mlflow.db")
    stats = os.statvfs(mount)
    result["free_bytes"] = stats.f_bavail * stats.f_frsize
    (mount / FILLER).unlink()
    result["resumed"] = fit([*drop_filler(args), "--ckpt_path", "last"], env)
    result["resumed_store"] = read_back(mlruns / "mlflow.db")
    result_path.write_text(json.dumps(result))


def drop_filler(args: list[str]) -> list[str]:
    """``args`` without the FillDisk callback's two options (``--opt value`` pairs)."""
    kept: list[str] = []
    skip = False
    for arg in args:
        if skip:
            skip = False
            continue
        if arg.startswith("--trainer.callbacks") and (
            "FillDisk" in arg or arg == "--trainer.callbacks.folder"
        ):
            skip = arg == "--trainer.callbacks.folder"
            continue
        kept.append(arg)
    return kept


if __name__ == "__main__":
    mount_, result_, separator, *rest = sys.argv[1:]
    assert separator == "--"
    main(Path(mount_), Path(result_), rest)
