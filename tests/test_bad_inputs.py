"""A catalogue of bad inputs: each ends with exit status != 0 and one ``actlab: error:`` line that
names what was wrong and what is valid, prints no traceback, and leaves no run RUNNING (a run it
created is FAILED with the error as its ``error`` tag).

Every case runs in-process through the real CLI (``tests.helpers.run_actlab``); the cases that
need a read-only database run in a subprocess without the root's permission override. Add a
case by appending to ``CASES`` in ``tests/bad_input_cases.py``: ``{Q}`` is the quickstart config, ``{tmp}`` the test's folder,
``{ckpt}`` a real ``last.ckpt`` of a one-epoch quickstart fit; ``files`` are written under
``{tmp}`` first.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.bad_input_cases import CASES, FIT, QUICKSTART, Case
from tests.data.conftest import load_generator
from tests.helpers import REPO, run_actlab


def test_the_catalogue_has_at_least_100_cases_with_unique_ids() -> None:
    ids = [case.id for case in CASES]
    assert len(ids) >= 100 and len(set(ids)) == len(ids)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``last.ckpt`` of a one-epoch quickstart fit (its own store)."""
    root = tmp_path_factory.mktemp("ckpt")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ACTLAB_MLRUNS", str(root / "mlruns"))
        mp.delenv("MLFLOW_TRACKING_URI", raising=False)
        mp.chdir(root)
        assert run_actlab([a.replace("{Q}", QUICKSTART) for a in FIT]) == 0
    (last,) = (root / "mlruns").glob("*/*/checkpoints/last.ckpt")
    return last


@pytest.fixture(scope="module")
def empty_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An SQLite store with MLflow's tables and no run, to copy into each test's ``mlruns/``."""
    from actlab.tracking.store import ensure_store, sqlite_path

    folder = tmp_path_factory.mktemp("store")
    return sqlite_path(ensure_store(f"sqlite:///{folder / 'mlflow.db'}"))


@contextlib.contextmanager
def busy_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def write_checkpoint_fakes(tmp: Path, checkpoint: Path) -> None:
    import torch

    data = checkpoint.read_bytes()
    (tmp / "trunc.ckpt").write_bytes(data[: len(data) // 2])
    torch.save({"state_dict": {}, "hook": Path("x")}, tmp / "unsafe.ckpt")
    torch.save({"weights": torch.zeros(2)}, tmp / "plain.ckpt")


def write_dataset(kind: str, tmp: Path) -> None:
    """A fake dataset with one file damaged."""
    if kind == "mnist":
        root = load_generator("mnist").make(tmp / "mnist")
        path = root / "MNIST" / "raw" / "train-images-idx3-ubyte"
        path.write_bytes(path.read_bytes()[:1000])
    elif kind == "cifar10":
        root = load_generator("cifar10").make(tmp / "cifar")
        (root / "cifar-10-batches-py" / "data_batch_1").write_bytes(b"not a pickle")


def runs_in(mlruns: Path) -> list[tuple[str, str, str | None]]:
    """``(run id, status, error tag)`` of every run in an SQLite store (none if there is none)."""
    db = mlruns / "mlflow.db"
    if not db.is_file() or db.stat().st_size == 0:
        return []
    with contextlib.closing(sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True)) as conn:
        try:
            return conn.execute(
                "SELECT r.run_uuid, r.status, t.value FROM runs r LEFT JOIN tags t "
                "ON t.run_uuid = r.run_uuid AND t.key = 'error'"
            ).fetchall()
        except sqlite3.Error:
            return []


def check_one_line(err: str, out: str, expect: tuple[str, ...]) -> str:
    lines = err.strip().splitlines()
    errors = [line for line in lines if line.startswith("actlab: error:")]
    assert len(errors) == 1, lines[-20:]
    assert "Traceback" not in err and "Traceback" not in out, err[-3000:]
    for text in expect:
        assert text in errors[0], errors[0]
    return errors[0]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(
    case: Case,
    mlruns: Path,
    tmp_path: Path,
    checkpoint: Path,
    empty_store: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with busy_port() as busy:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            free = sock.getsockname()[1]
        values = {"{Q}": QUICKSTART, "{tmp}": str(tmp_path), "{ckpt}": str(checkpoint),
                  "{busy_port}": str(busy), "{free_port}": str(free)}  # fmt: skip

        def fill(text: str) -> str:
            for key, value in values.items():
                text = text.replace(key, value)
            return text

        for name, content in case.files.items():
            path = tmp_path / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content if isinstance(content, bytes) else content.encode())
        if (
            "{tmp}/trunc.ckpt" in case.args
            or "{tmp}/unsafe.ckpt" in case.args
            or "{tmp}/plain.ckpt" in case.args
        ):
            write_checkpoint_fakes(tmp_path, checkpoint)
        if case.id == "ckpt-last-only-others":
            target = mlruns / "1" / "0123456789abcdef0123456789abcdef" / "checkpoints"
            target.mkdir(parents=True)
            shutil.copy(checkpoint, target / "last.ckpt")
        if case.data:
            write_dataset(case.data, tmp_path)
        if case.store and not (mlruns / "mlflow.db").exists() and "ACTLAB_MLRUNS" not in case.env:
            mlruns.mkdir(exist_ok=True)
            shutil.copy(empty_store, mlruns / "mlflow.db")  # creating one costs seconds
        for key, value in case.env.items():
            monkeypatch.setenv(key, fill(value))
        code = run_actlab([fill(a) for a in case.args])
    captured = capsys.readouterr()
    assert code == case.code, (code, captured.err[-3000:])
    check_one_line(captured.err, captured.out, tuple(fill(e) for e in case.expect))
    for run_id, status, error in runs_in(mlruns):
        assert status != "RUNNING", run_id
        if status == "FAILED":
            assert error, f"FAILED run {run_id} has no error tag"


def without_dac_override() -> list[str]:
    """Command prefix that drops root's permission override (root writes read-only files)."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: a read-only file is writable to root")
    return [setpriv, "--bounding-set", "-dac_override,-dac_read_search", "--"]


@pytest.mark.parametrize("what", ["database", "folder"])
def test_read_only_store_is_one_line_at_start(what: str, tmp_path: Path) -> None:
    """A read-only ``mlflow.db`` or ``mlruns/`` stops the fit at once (no 112 s of retries)."""
    mlruns = tmp_path / "mlruns"
    mlruns.mkdir()
    (mlruns / "mlflow.db").write_bytes(b"SQLite format 3\x00" + bytes(84))
    (mlruns / "mlflow.db").chmod(0o444)
    if what == "folder":
        mlruns.chmod(0o555)
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "ACTLAB_MLRUNS": str(mlruns),
        "MLFLOW_TRACKING_URI": "",
    }
    try:
        result = subprocess.run(
            [*without_dac_override(), sys.executable, "-m", "actlab",
             *[a.replace("{Q}", QUICKSTART) for a in FIT]],
            capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path,
        )  # fmt: skip
    finally:
        mlruns.chmod(0o755)
    assert result.returncode == 2, result.stderr[-3000:]
    expect = (
        ("mlflow.db", "is read-only")
        if what == "database"
        else ("not writable", "Permission denied")
    )
    check_one_line(result.stderr, result.stdout, expect)
