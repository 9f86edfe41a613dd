"""The compose stack's pieces run natively on 127.0.0.1, with the compose file's own commands.

A real PostgreSQL (installed by scripts/install-postgres.sh when missing) is started in a temporary
folder; the `mlflow` service's command and environment from docker/compose.yaml run through the
image's entrypoint (docker/secret-env.sh) against it, with only the container-specific values
swapped (database host/port, artifact folder, bind address, port, the secret files' paths): the
basic-auth app, its admin password and session key read from secret files. Then `actlab fit`
runs through the same entrypoint with the trainer's environment, logs a run over HTTP as the
admin, and the test reads everything back: through MLflow's client, straight from PostgreSQL, and
as raw HTTP downloads. Requests without a login get HTTP 401.
"""

from __future__ import annotations

import base64
import os
import pwd
import secrets
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from actlab_compose import REPO_ROOT, SECRET_ENV, load_compose, replace_option
from native_stack import (
    FIT_TIMEOUT,
    Postgres,
    Server,
    free_port,
    in_container_env,
    postgres_bin_dir,
    start_server,
)

pytestmark = [pytest.mark.server, pytest.mark.slow]


@pytest.fixture(scope="module")
def compose_env() -> dict[str, str]:
    """What a filled-in docker/.env holds, with fresh secrets."""
    return {
        "POSTGRES_USER": "mlflow",
        "POSTGRES_PASSWORD": secrets.token_hex(16),
        "POSTGRES_DB": "mlflow",
        # One worker process per server is plenty for one client, and boots faster on 2 cores.
        "MLFLOW_WORKERS": "1",
        "MLFLOW_AUTH_ADMIN_USERNAME": "admin",
    }


@pytest.fixture(scope="module")
def secret_files(tmp_path_factory) -> Path:
    """What docker/make-secrets.sh creates in docker/secrets/, in a temporary folder."""
    folder = tmp_path_factory.mktemp("secrets")
    for name in ("mlflow_admin_password", "mlflow_flask_secret_key"):
        (folder / name).write_text(secrets.token_hex(24) + "\n")
    return folder


@pytest.fixture(scope="module")
def admin(compose_env: dict[str, str], secret_files: Path) -> tuple[str, str]:
    """The admin's login: the name from .env, the password from the secret file."""
    password = (secret_files / "mlflow_admin_password").read_text().strip()
    return compose_env["MLFLOW_AUTH_ADMIN_USERNAME"], password


@pytest.fixture(scope="module", autouse=True)
def _logged_in_client(admin: tuple[str, str]) -> Iterator[None]:
    """MLflow's client in this process logs in as the admin (as the trainer does)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_USERNAME", admin[0])
        patch.setenv("MLFLOW_TRACKING_PASSWORD", admin[1])
        yield


@pytest.fixture(scope="module")
def compose(compose_env: dict[str, str]) -> dict:
    return load_compose(compose_env)


@pytest.fixture(scope="module")
def postgres(compose: dict, compose_env: dict[str, str]) -> Iterator[Postgres]:
    """initdb + pg_ctl in a temporary folder, as the postgres image does with its env."""
    bin_dir = postgres_bin_dir()
    env = compose["services"]["postgres"]["environment"]
    db = Postgres(
        bin_dir, free_port(), env["POSTGRES_USER"], env["POSTGRES_PASSWORD"], env["POSTGRES_DB"]
    )
    # initdb and postgres refuse to run as root: as root, run them as the `postgres` account.
    as_user: list[str] = []
    if os.geteuid() == 0:
        try:
            account = pwd.getpwnam("postgres")
        except KeyError:
            pytest.fail("running as root but there is no `postgres` user to run the server as")
        as_user = ["runuser", "-u", "postgres", "--"]
    # Directly under /tmp when switching users: pytest's own temp folders are private to root.
    root = Path(tempfile.mkdtemp(prefix="actlab-pg-", dir="/tmp" if as_user else None))
    if as_user:
        os.chown(root, account.pw_uid, account.pw_gid)
    pwfile = root / "pwfile"
    pwfile.write_text(db.password)
    if as_user:
        os.chown(pwfile, account.pw_uid, account.pw_gid)
    data, log = root / "data", root / "postgres.log"

    def run(*cmd: str, timeout: float = 60) -> None:
        result = subprocess.run(
            [*as_user, *cmd], capture_output=True, text=True, timeout=timeout, check=False
        )
        assert result.returncode == 0, f"{cmd[0]} failed:\n{result.stdout}\n{result.stderr}"

    run(
        str(bin_dir / "initdb"),
        "-D", str(data), "-U", db.user, f"--pwfile={pwfile}", "-E", "UTF8",
        "--auth-local=trust", "--auth-host=scram-sha-256", "--no-sync",
    )  # fmt: skip
    options = f"-c listen_addresses=127.0.0.1 -p {db.port} -k {root} -c fsync=off"
    pg_ctl = str(bin_dir / "pg_ctl")
    run(
        pg_ctl,
        "-D",
        str(data),
        "-l",
        str(log),
        "-o",
        options,
        "-w",
        "-t",
        "60",
        "start",
        timeout=90,
    )
    try:
        # The image creates POSTGRES_DB on first start; so do we.
        run(
            str(bin_dir / "psql"), "-h", str(root), "-p", str(db.port), "-U", db.user,
            "-d", "postgres", "-v", "ON_ERROR_STOP=1", "-c", f'CREATE DATABASE "{db.database}"',
        )  # fmt: skip
        # The compose healthcheck, with the local port.
        health = compose["services"]["postgres"]["healthcheck"]["test"][1:]
        health = replace_option(health, "-p", str(db.port))
        health[0] = str(bin_dir / health[0])
        subprocess.run(health, check=True, timeout=30, capture_output=True)
        yield db
    finally:
        subprocess.run(
            [*as_user, pg_ctl, "-D", str(data), "-m", "fast", "-w", "-t", "30", "stop"],
            capture_output=True,
            timeout=60,
            check=False,
        )
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def mlflow_server(
    compose: dict, postgres: Postgres, secret_files: Path, tmp_path_factory
) -> Iterator[Server]:
    yield from start_server(
        compose["services"]["mlflow"], postgres, tmp_path_factory.mktemp("mlflow"), secret_files
    )


@pytest.fixture(scope="module")
def fitted_run(compose: dict, mlflow_server: Server, secret_files: Path, tmp_path_factory) -> str:
    """`actlab fit` (quickstart, 2 epochs) as the trainer runs it: through the image's
    entrypoint, with the trainer's environment (login from the secret file); returns the run
    id."""
    from mlflow import MlflowClient

    workdir = tmp_path_factory.mktemp("fit")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env.update(in_container_env(compose["services"]["trainer"]["environment"], secret_files))
    assert env["MLFLOW_TRACKING_URI"] == "http://mlflow:5000"
    assert "MLFLOW_TRACKING_PASSWORD" not in env  # secret-env.sh sets it from the file
    env.update(
        MLFLOW_TRACKING_URI=mlflow_server.url,
        ACTLAB_MLRUNS=str(workdir / "mlruns"),
        PYTHONPATH=os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")])),
    )
    config = REPO_ROOT / "configs" / "quickstart.yaml"
    result = subprocess.run(
        [
            str(SECRET_ENV),
            sys.executable,
            "-m",
            "actlab",
            "fit",
            "--config",
            str(config),
            "--trainer.max_epochs",
            "2",
        ],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=FIT_TIMEOUT,
        check=False,
    )
    assert result.returncode == 0, (
        f"actlab fit failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    )
    client = MlflowClient(tracking_uri=mlflow_server.url)
    experiment = client.get_experiment_by_name("quickstart")
    assert experiment is not None
    (run,) = client.search_runs([experiment.experiment_id])
    return run.info.run_id


def test_run_metrics_and_params_are_stored_in_postgres(
    mlflow_server: Server, postgres: Postgres, fitted_run: str
) -> None:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=mlflow_server.url)
    run = client.get_run(fitted_run)
    assert run.info.status == "FINISHED"
    assert run.data.params["model.backbone"] == "mlp"
    assert run.info.run_name.startswith("mlp-") and run.info.run_name.endswith("-wdbc")
    val_acc = client.get_metric_history(fitted_run, "val/acc")
    assert sorted(m.step for m in val_acc) == [0, 1]
    assert all(0.0 <= m.value <= 1.0 for m in val_acc)
    assert "test/acc" in run.data.metrics

    # The same rows, straight from PostgreSQL.
    assert postgres.query("SELECT status FROM runs WHERE run_uuid = %s", fitted_run) == [
        ("FINISHED",)
    ]
    rows = postgres.query(
        "SELECT step, value FROM metrics WHERE run_uuid = %s AND key = 'val/acc' ORDER BY step",
        fitted_run,
    )
    assert [(step, pytest.approx(value)) for step, value in rows] == [
        (m.step, m.value) for m in sorted(val_acc, key=lambda m: m.step)
    ]
    (count,) = postgres.query("SELECT count(*) FROM metrics WHERE run_uuid = %s", fitted_run)[0]
    assert count >= len(run.data.metrics)
    params = postgres.query(
        "SELECT value FROM params WHERE run_uuid = %s AND key = 'model.backbone'", fitted_run
    )
    assert params == [("mlp",)]


def test_artifacts_are_served_over_http(
    mlflow_server: Server, fitted_run: str, admin: tuple[str, str], tmp_path: Path
) -> None:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=mlflow_server.url)
    run = client.get_run(fitted_run)
    assert run.info.artifact_uri.startswith("mlflow-artifacts:/")
    names = {a.path for a in client.list_artifacts(fitted_run)}
    assert "config.yaml" in names
    # The confusion matrices (tracking issue) are checked whenever the run has them.
    expected = ["config.yaml"]
    if "confusion" in names:
        expected += [a.path for a in client.list_artifacts(fitted_run, "confusion")]
    relative = run.info.artifact_uri.removeprefix("mlflow-artifacts:/").strip("/")
    for name in expected:
        local = Path(client.download_artifacts(fitted_run, name, str(tmp_path)))
        content = local.read_bytes()
        assert content, name
        # Stored under the server's --artifacts-destination, not on the client's disk.
        assert (mlflow_server.artifacts / relative / name).read_bytes() == content
        # And a plain HTTP GET of the proxied artifact gives the same bytes.
        url = f"{mlflow_server.url}/api/2.0/mlflow-artifacts/artifacts/{relative}/{name}"
        assert requests.get(url, timeout=30).status_code == 401, name  # no login
        response = requests.get(url, auth=admin, timeout=30)
        assert response.status_code == 200, name
        assert response.content == content
    config = (tmp_path / "config.yaml").read_text()
    assert "actlab.data.WDBCDataModule" in config and "max_epochs: 2" in config


def test_server_answers_the_trainer_host_only(
    mlflow_server: Server, admin: tuple[str, str]
) -> None:
    """--allowed-hosts from compose: the trainer's `mlflow:5000` is served, other hosts are not."""
    url = f"{mlflow_server.url}/api/2.0/mlflow/experiments/search?max_results=1"
    for host, status in (("mlflow:5000", 200), ("attacker.example:5000", 403)):
        response = requests.get(url, headers={"Host": host}, auth=admin, timeout=30)
        assert response.status_code == status, host


def test_reads_and_writes_need_a_login(
    mlflow_server: Server,
    admin: tuple[str, str],
    fitted_run: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The default server is the basic-auth app with the admin from the secret file: without a
    login (or with a wrong one, or MLflow's old default password) reads and writes get 401."""
    api = f"{mlflow_server.url}/api/2.0/mlflow"
    create = f"{api}/experiments/create"
    search = f"{api}/experiments/search?max_results=10"
    token = base64.b64encode(b"admin:password1234").decode()
    for refused in (
        {},
        {"auth": ("admin", "not-the-password")},
        {"headers": {"Authorization": f"Basic {token}"}},
    ):
        response = requests.post(create, json={"name": "no-login"}, timeout=30, **refused)
        assert response.status_code == 401, (refused, response.text)
        assert requests.get(search, timeout=30, **refused).status_code == 401, refused
    response = requests.get(search, auth=admin, timeout=30)
    assert response.status_code == 200, response.text
    names = {e["name"] for e in response.json()["experiments"]}
    assert "no-login" not in names and "quickstart" in names  # the trainer's run got in
    response = requests.post(create, json={"name": "with-login"}, auth=admin, timeout=30)
    assert response.status_code == 200, response.text

    # MLflow's client, as the trainer uses it: refused without its login variables.
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    for name in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(MlflowException, match="401|[Uu]nauthorized|credentials"):
        MlflowClient(tracking_uri=mlflow_server.url).create_experiment("no-login-client")
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", admin[0])
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", admin[1])
    client = MlflowClient(tracking_uri=mlflow_server.url)
    run = client.create_run(client.create_experiment("auth-check"))
    client.log_metric(run.info.run_id, "val/acc", 0.5, step=0)
    assert client.get_run(run.info.run_id).data.metrics == {"val/acc": 0.5}
    assert client.get_experiment_by_name("no-login-client") is None
