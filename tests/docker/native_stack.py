"""The native compose stack's pieces for tests/docker/test_compose_stack.py: a real PostgreSQL
in a temporary folder, the `mlflow` service's command run natively, waiting for it to answer."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from actlab_compose import DOCKER_DIR, REPO_ROOT, SECRET_ENV, replace_option

from tests.helpers import install_or_skip

INSTALL_SCRIPT = REPO_ROOT / "scripts" / "install-postgres.sh"

#: Upper bounds of every wait (seconds).
INSTALL_TIMEOUT = 600

SERVER_START_TIMEOUT = 120

FIT_TIMEOUT = 300


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def postgres_bin_dir() -> Path:
    """The PostgreSQL server's binaries, installed from the system's packages if missing (the
    tests are skipped with the script's reason where it cannot install, and fail under CI)."""
    return Path(install_or_skip(INSTALL_SCRIPT, timeout=INSTALL_TIMEOUT))


@dataclass
class Postgres:
    bin_dir: Path
    port: int
    user: str
    password: str
    database: str

    def url(self, host: str = "127.0.0.1") -> str:
        return (
            f"postgresql+psycopg://{self.user}:{self.password}@{host}:{self.port}/{self.database}"
        )

    def query(self, sql: str, *params: object) -> list[tuple]:
        import psycopg

        with psycopg.connect(
            host="127.0.0.1",
            port=self.port,
            user=self.user,
            password=self.password,
            dbname=self.database,
            connect_timeout=10,
        ) as conn:
            return conn.execute(sql, params).fetchall()


def in_container_env(environment: dict, secret_files: Path) -> dict[str, str]:
    """A service's environment with the secret files' paths (/run/secrets/<name>) swapped."""
    env = {k: str(v) for k, v in environment.items()}
    for key, value in env.items():
        if key.endswith("_FILE"):
            assert value.startswith("/run/secrets/"), (key, value)
            env[key] = str(secret_files / value.removeprefix("/run/secrets/"))
    return env


@dataclass
class Server:
    url: str
    artifacts: Path
    log: Path


def native_server_command(service: dict, db: Postgres, port: int, artifacts: Path) -> list[str]:
    """The service's `mlflow server` command with only the container-specific values swapped,
    started through the image's entrypoint (docker/mlflow.Dockerfile)."""
    command = list(service["command"])
    assert command[:2] == ["mlflow", "server"]
    in_compose = service["environment"]["MLFLOW_BACKEND_STORE_URI"]  # not on the command line
    assert in_compose == db.url(host="postgres").replace(f":{db.port}/", ":5432/")
    command = replace_option(command, "--artifacts-destination", str(artifacts))
    command = replace_option(command, "--host", "127.0.0.1")
    command = replace_option(command, "--port", str(port))
    return [str(SECRET_ENV), sys.executable, "-m", "mlflow", *command[1:]]


def wait_healthy(service: dict, port: int, proc: subprocess.Popen, log: Path) -> None:
    """Run the service's own healthcheck (with the local port) until it passes."""
    test = service["healthcheck"]["test"]
    assert test[0] == "CMD" and test[1] == "python"
    probe = [
        sys.executable,
        *[arg.replace("127.0.0.1:5000", f"127.0.0.1:{port}") for arg in test[2:]],
    ]
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"mlflow server exited with {proc.returncode}:\n{log.read_text()[-4000:]}")
        if subprocess.run(probe, capture_output=True, timeout=15, check=False).returncode == 0:
            return
        time.sleep(0.5)
    pytest.fail(
        f"mlflow server not healthy after {SERVER_START_TIMEOUT}s:\n{log.read_text()[-4000:]}"
    )


def start_server(
    service: dict, db: Postgres, workdir: Path, secret_files: Path
) -> Iterator[Server]:
    port = free_port()
    artifacts = workdir / "mlartifacts"
    artifacts.mkdir(parents=True)
    log = workdir / "server.log"
    command = native_server_command(service, db, port, artifacts)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env.update(in_container_env(service["environment"], secret_files))
    env["MLFLOW_BACKEND_STORE_URI"] = db.url()  # the store the service's environment names
    # basic_auth.ini as mounted, with the users' database in the work folder (not /mlflow-auth).
    ini = (DOCKER_DIR / "basic_auth.ini").read_text()
    ini = ini.replace("sqlite:////mlflow-auth/", f"sqlite:///{workdir}/")
    assert f"sqlite:///{workdir}/basic_auth.db" in ini
    (workdir / "basic_auth.ini").write_text(ini)
    env["MLFLOW_AUTH_CONFIG_PATH"] = str(workdir / "basic_auth.ini")
    with log.open("w") as out:
        proc = subprocess.Popen(
            command,
            cwd=workdir,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_healthy(service, port, proc, log)
        yield Server(f"http://127.0.0.1:{port}", artifacts, log)
    finally:
        # The server forks uvicorn workers: end the whole process group it leads.
        for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 10)):
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                proc.wait(timeout=wait)
                break
            except subprocess.TimeoutExpired:
                continue
