"""A preloaded fork server: a sweep's runs pay the imports once, keep one process each.

``python -m actlab.sweep.forkserver --fd N`` imports torch, Lightning, MLflow, timm and actlab
(:data:`PRELOAD`) once, then waits for requests on the socket ``N``. Each request forks a
child that becomes exactly what ``python -m actlab fit ...`` would be after its imports: its own
session (process group), stdin from ``/dev/null``, stdout and stderr to the run's log, the run's
environment and working folder, fresh random seeds, and ``actlab.cli.main()`` run as the
program, so it ends like that command (atexit hooks, exit status). The server reports each
child's pid when it starts and its exit status when it ends (``-N`` for a signal, as
:class:`subprocess.Popen` does).

Fork safety: the server never initialises CUDA and runs no torch op, so no OpenMP pool, autograd
thread or CUDA context exists to be copied half-locked into a child; it starts no Python thread
(:func:`check_fork_safe` refuses to serve otherwise). The children cannot harm each other or the
next run: each is a copy of the untouched server and nothing comes back from it but its exit
status. A child dies with the server (``PR_SET_PDEATHSIG``); the server ends every child's process
group when the driver's socket closes, so a killed sweep leaves no run behind. The server stays
in the driver's process group, so a signal to the sweep's group reaches it: ``kill -9`` of the
group kills it at once (and so its children), SIGTERM ends the children's groups first; SIGINT
(a terminal's Ctrl-C) it ignores, the driver passes it on to each run (:meth:`ForkServer.pids`).

:class:`ForkServer` is the driver's side: start it, :meth:`ForkServer.run` a command from any
thread, :meth:`ForkServer.close` it.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any

#: Modules a fit needs, imported once by the server. None of them runs a torch op on import.
PRELOAD = (
    "torch",
    "lightning.pytorch",
    "torchmetrics",
    "timm",
    "mlflow",
    "mlflow.tracking",
    "mlflow.entities",
    "mlflow.store.tracking.sqlalchemy_store",
    "mlflow.store.db.utils",
    "mlflow.tracing",
    "alembic.command",
    "alembic.config",
    "sqlalchemy.dialects.sqlite",
    "git",
    "sklearn.datasets",
    "sklearn.model_selection",
    "sklearn.decomposition",
    "sklearn.preprocessing",
    "matplotlib.pyplot",
    "PIL.Image",
    "rich",
    "actlab.cli",
    "actlab.cli.training",
    "actlab.activations",
    "actlab.data",
    "actlab.models",
    "actlab.tasks",
    "actlab.tracking.callback",
    "actlab.fit.last_checkpoint",
)
#: Seconds a child's process group gets between SIGTERM and SIGKILL when the server shuts down.
GRACE = 5.0


class ForkUnsafe(RuntimeError):
    """The server's state makes forking unsafe (CUDA initialised, threads running)."""


def preload(modules: tuple[str, ...] = PRELOAD) -> None:
    """Import ``modules`` (matplotlib with its non-interactive backend, as a run would use)."""
    os.environ.setdefault("MPLBACKEND", "Agg")
    for name in modules:
        importlib.import_module(name)


def check_fork_safe() -> None:
    """Raise :class:`ForkUnsafe` when CUDA is initialised, a GPU device is open, or a Python
    thread besides this one runs. (Native BLAS and jemalloc pools are fork-safe: they register
    ``pthread_atfork`` handlers.)"""
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_initialized():
        raise ForkUnsafe("CUDA was initialised in the fork server")
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            if os.readlink(f"/proc/self/fd/{fd}").startswith("/dev/nvidia"):
                raise ForkUnsafe("a GPU device is open in the fork server")
    if threading.active_count() != 1:
        names = [t.name for t in threading.enumerate()]
        raise ForkUnsafe(f"threads run in the fork server: {names}")


def _send(sock: socket.socket, message: dict[str, Any]) -> None:
    sock.sendall((json.dumps(message) + "\n").encode())


def _become_run(request: dict[str, Any], sock: socket.socket, server: int) -> None:
    """In a forked child: turn into the run ``request`` describes (see the module docstring)."""
    import random

    from actlab.distributed import die_with_parent

    os.setsid()
    die_with_parent(signal.SIGKILL, parent=server)
    sock.close()
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    log = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)
    os.close(null)
    os.chdir(request["cwd"])
    for key, value in request["env"].items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    random.seed()  # a fresh process draws its own seeds; a forked one would share the server's
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        numpy.random.seed()
    threads = os.environ.get("OMP_NUM_THREADS")
    if threads and threads.isdigit():  # libgomp read it when the server imported torch
        sys.modules["torch"].set_num_threads(int(threads))
    # Be ``python -m actlab`` to anything that looks: Lightning's DDP launcher re-runs
    # ``python -m <__main__.__spec__.name> sys.argv[1:]``, multiprocessing's spawn imports it.
    spec = importlib.util.find_spec("actlab.__main__")
    main = sys.modules["__main__"]
    main.__spec__ = spec
    sys.argv = [spec.origin, *request["args"]]


def serve(fd: int) -> dict[str, Any] | None:
    """The server loop on socket ``fd``; returns a request in each forked child, ``None`` in the
    server when the driver has gone (after ending every child still running)."""
    sock = socket.socket(fileno=fd)
    started = time.process_time()
    try:
        preload()
        check_fork_safe()
    except Exception as err:  # noqa: BLE001 - the driver falls back to subprocesses
        _send(sock, {"ready": False, "error": f"{type(err).__name__}: {err}"})
        return None
    _send(sock, {"ready": True, "preload_cpu_seconds": time.process_time() - started})
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # the finally below ends the children
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C: the driver passes it on to the runs
    children: dict[int, str] = {}
    buffer = b""
    server = os.getpid()
    try:
        while True:
            readable, _, _ = select.select([sock], [], [], 0.1)
            if readable:
                data = sock.recv(1 << 16)
                if not data:
                    return None
                buffer += data
                *lines, buffer = buffer.split(b"\n")
                for line in lines:
                    request = json.loads(line)
                    sys.stdout.flush()
                    sys.stderr.flush()
                    pid = os.fork()
                    if pid == 0:
                        children.clear()
                        try:
                            _become_run(request, sock, server)
                        except BaseException:  # noqa: BLE001 - a child never returns to the loop
                            import traceback

                            traceback.print_exc()
                            os._exit(1)
                        return request
                    children[pid] = request["id"]
                    _send(sock, {"id": request["id"], "pid": pid})
            while children:
                pid, status = os.waitpid(-1, os.WNOHANG)
                if pid == 0:
                    break
                run_id = children.pop(pid, None)
                if run_id is not None:
                    code = os.waitstatus_to_exitcode(status)
                    _send(sock, {"id": run_id, "returncode": code})
    finally:
        if os.getpid() == server:
            _end_children(list(children))


def _end_children(pids: list[int]) -> None:
    """SIGTERM every child's process group, SIGKILL what is left after :data:`GRACE` seconds."""
    for sig, wait in ((signal.SIGTERM, GRACE), (signal.SIGKILL, 0.0)):
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, sig)
        deadline = time.monotonic() + wait
        while pids and time.monotonic() < deadline:
            for pid in list(pids):
                with contextlib.suppress(ChildProcessError):
                    if os.waitpid(pid, os.WNOHANG)[0] == pid:
                        pids.remove(pid)
            time.sleep(0.05)


class ForkServer:
    """The driver's handle on a fork server process (see the module docstring).

    Args:
        log: file for the server's own output (import warnings, crashes).
        env: the server's environment (default: this process's).
        timeout: seconds to wait for the preload.
    """

    def __init__(self, log: Path, env: dict[str, str] | None = None, timeout: float = 300) -> None:
        parent, child = socket.socketpair()
        self._sock = parent
        with open(log, "a") as out:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "actlab.sweep.forkserver", "--fd", str(child.fileno())],
                pass_fds=[child.fileno()],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,  # in the driver's process group: see the module docstring
            )
        child.close()
        self._pids: set[int] = set()
        self._lock = threading.Lock()
        self._send_lock = threading.Lock()
        self._next = 0
        self._started: dict[str, Future[int]] = {}
        self._ended: dict[str, Future[int]] = {}
        self._file = parent.makefile("rb")
        parent.settimeout(timeout)
        line = self._file.readline()
        parent.settimeout(None)
        hello = json.loads(line) if line else {"ready": False, "error": f"see {log}"}
        if not hello.get("ready"):
            self.close()
            raise ForkUnsafe(f"the fork server did not start: {hello.get('error')}")
        self.preload_cpu_seconds: float = hello["preload_cpu_seconds"]
        self._reader = threading.Thread(target=self._read, name="forkserver-reader", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self._file:
            message = json.loads(line)
            futures = self._started if "pid" in message else self._ended
            with self._lock:
                future = futures.pop(message["id"], None)
            if future is not None:
                future.set_result(message.get("pid", message.get("returncode")))
        error = RuntimeError("the fork server ended")
        with self._lock:
            for future in [*self._started.values(), *self._ended.values()]:
                future.set_exception(error)
            self._started.clear()
            self._ended.clear()

    def run(
        self,
        args: list[str],
        log: Path,
        env: dict[str, str | None],
        cwd: Path | None = None,
        timeout: float | None = None,
        on_timeout: Callable[[], None] | None = None,
    ) -> int:
        """Run ``actlab ARGS`` in a fresh child; returns its exit status (``-N``: signal ``N``).

        Args:
            args: the arguments after ``actlab``.
            log: the child's stdout and stderr (appended).
            env: variables set (``None``: removed) in the child's environment.
            cwd: the child's working folder (default: this one).
            timeout: seconds before the child's process group is killed (``SIGKILL``).
            on_timeout: called when that happens, before the kill.
        """
        started, ended = Future(), Future()
        with self._lock:
            run_id = str(self._next)
            self._next += 1
            self._started[run_id] = started
            self._ended[run_id] = ended
        request = {"op": "run", "id": run_id, "args": args, "log": str(log), "env": env,
                   "cwd": str(cwd or Path.cwd())}  # fmt: skip
        with self._send_lock:
            self._sock.sendall((json.dumps(request) + "\n").encode())
        pid = started.result()
        with self._lock:
            self._pids.add(pid)
        try:
            return ended.result(timeout=timeout)
        except TimeoutError:
            if on_timeout is not None:
                on_timeout()
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
            return ended.result()
        finally:
            with self._lock:
                self._pids.discard(pid)

    def pids(self) -> list[int]:
        """The runs going on: their pids, each its process group's id."""
        with self._lock:
            return sorted(self._pids)

    def close(self) -> None:
        """End the server and every run it still has (their process groups)."""
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        self._sock.close()
        try:
            self._proc.wait(timeout=GRACE + 30)
        except subprocess.TimeoutExpired:
            self._proc.kill()  # its children die with it (PR_SET_PDEATHSIG)
            self._proc.wait()


def _main() -> None:
    parser = argparse.ArgumentParser(prog="python -m actlab.sweep.forkserver")
    parser.add_argument("--fd", type=int, required=True, help="the driver's socket")
    request = serve(parser.parse_args().fd)
    if request is None:
        return
    from actlab.cli import main

    main()


if __name__ == "__main__":
    _main()
