"""docker/compose.yaml, the Dockerfiles and .env.example, checked without a Docker engine."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
from actlab_compose import (
    COMPOSE_FILE,
    DOCKER_DIR,
    ENV_EXAMPLE,
    REPO_ROOT,
    InterpolationError,
    interpolate,
    load_compose,
    option_value,
    raw_compose,
    read_env_file,
)
from packaging.requirements import Requirement

#: Values a filled-in .env would have (the secret made up for the test).
FILLED_ENV = {**read_env_file(), "POSTGRES_PASSWORD": "0123456789abcdef"}
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|_KEY$")
#: The secret files compose mounts (docker/make-secrets.sh creates them) and the variable
#: secret-env.sh exports from each, per service.
SECRET_FILES = {
    "mlflow": {
        "MLFLOW_AUTH_ADMIN_PASSWORD": "mlflow_admin_password",
        "MLFLOW_FLASK_SERVER_SECRET_KEY": "mlflow_flask_secret_key",
    },
    "trainer": {"MLFLOW_TRACKING_PASSWORD": "mlflow_admin_password"},
}


@pytest.fixture(scope="module")
def compose() -> dict:
    return load_compose(FILLED_ENV)


@pytest.fixture(scope="module")
def services(compose: dict) -> dict:
    return compose["services"]


def _pyproject_requirement(name: str) -> Requirement:
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    for line in project["dependencies"]:
        requirement = Requirement(line)
        if requirement.name == name:
            return requirement
    raise AssertionError(f"{name} is not a dependency in pyproject.toml")


def test_services_and_profiles(services: dict) -> None:
    """`docker compose up` starts PostgreSQL and the one MLflow server (with logins); there is no
    profile without them."""
    assert set(services) == {"postgres", "mlflow", "trainer"}
    assert "profiles" not in services["postgres"]
    assert "profiles" not in services["mlflow"]
    assert services["trainer"]["profiles"] == ["trainer"]
    assert "COMPOSE_PROFILES" not in read_env_file()


def test_postgres_is_pinned_with_volume_and_healthcheck(compose: dict, services: dict) -> None:
    postgres = services["postgres"]
    assert re.fullmatch(r"postgres:\d+\.\d+(-\w+)?", postgres["image"]), postgres["image"]
    volume, target = postgres["volumes"][0].split(":")[:2]
    assert target == "/var/lib/postgresql/data" and volume in compose["volumes"]
    test = postgres["healthcheck"]["test"]
    assert test[:2] == ["CMD", "pg_isready"]
    assert option_value(test, "-U") == postgres["environment"]["POSTGRES_USER"]
    assert option_value(test, "-d") == postgres["environment"]["POSTGRES_DB"]
    assert "ports" not in postgres


def test_mlflow_server_command(compose: dict, services: dict) -> None:
    mlflow = services["mlflow"]
    command = mlflow["command"]
    assert command[:2] == ["mlflow", "server"]
    assert option_value(command, "--app-name") == "basic-auth"
    uri = mlflow["environment"]["MLFLOW_BACKEND_STORE_URI"]  # read by `mlflow server`
    assert uri == "postgresql+psycopg://mlflow:0123456789abcdef@postgres:5432/mlflow"
    assert "--backend-store-uri" not in command
    assert "--serve-artifacts" in command
    assert option_value(command, "--artifacts-destination") == "/mlartifacts"
    assert option_value(command, "--host") == "0.0.0.0"
    assert option_value(command, "--port") == "5000"
    assert "mlflow:5000" in option_value(command, "--allowed-hosts").split(",")
    volume, target = mlflow["volumes"][0].split(":")
    assert target == "/mlartifacts" and volume in compose["volumes"]
    assert mlflow["depends_on"]["postgres"]["condition"] == "service_healthy"
    health = mlflow["healthcheck"]["test"]
    assert health[0] == "CMD" and "http://127.0.0.1:5000/health" in health[-1]


def test_no_password_on_a_command_line(services: dict) -> None:
    """A command line is visible to every user of the host (`ps`): the database password
    reaches the servers by environment only."""
    for name, service in services.items():
        command = " ".join(map(str, service.get("command") or []))
        assert "0123456789abcdef" not in command, name
        assert "--backend-store-uri" not in command, name
    assert "0123456789abcdef" in services["mlflow"]["environment"]["MLFLOW_BACKEND_STORE_URI"]


def test_mlflow_version_is_pinned_and_matches_pyproject(services: dict) -> None:
    version = raw_compose()["x-mlflow-version"]
    assert re.fullmatch(r"\d+\.\d+\.\d+", version)
    assert _pyproject_requirement("mlflow").specifier.contains(version)
    for name in ("mlflow", "trainer"):
        assert services[name]["build"]["args"]["MLFLOW_VERSION"] == version
    assert services["mlflow"]["image"].endswith(f":{version}")
    for dockerfile in ("mlflow.Dockerfile", "Dockerfile"):
        text = (DOCKER_DIR / dockerfile).read_text()
        assert f"ARG MLFLOW_VERSION={version}" in text, dockerfile
        assert re.search(r'"mlflow(\[auth\])?==\$\{MLFLOW_VERSION\}"', text), dockerfile
    server_image = (DOCKER_DIR / "mlflow.Dockerfile").read_text()
    assert re.search(r'"psycopg\[binary\]==\$\{PSYCOPG_VERSION\}"', server_image)
    # The basic-auth app needs the [auth] extra (Flask-WTF).
    assert '"mlflow[auth]==${MLFLOW_VERSION}"' in server_image
    assert re.search(r"^ARG PSYCOPG_VERSION=\d+\.\d+\.\d+$", server_image, re.M)
    assert re.search(r"^FROM python:\d+\.\d+\.\d+-slim", server_image, re.M)


def test_server_runs_basic_auth_with_the_password_from_a_secret_file(
    compose: dict, services: dict
) -> None:
    """The default (only) server is MLflow's basic-auth app. Its admin password and session key
    are compose secrets (files on the host, at /run/secrets/<name> in the container), named by
    *_FILE variables that the image's entrypoint exports; neither value is in the file."""
    mlflow = services["mlflow"]
    assert option_value(mlflow["command"], "--app-name") == "basic-auth"
    env = mlflow["environment"]
    for service, variables in SECRET_FILES.items():
        env_of = services[service]["environment"]
        assert sorted(services[service]["secrets"]) == sorted(set(variables.values())), service
        for variable, secret in variables.items():
            assert env_of[f"{variable}_FILE"] == f"/run/secrets/{secret}", (service, variable)
            assert variable not in env_of, (service, variable)  # the entrypoint sets it
    assert compose["secrets"] == {
        name: {"file": f"./secrets/{name}"}
        for name in ("mlflow_admin_password", "mlflow_flask_secret_key")
    }
    # The trainer logs in as the admin the server creates.
    trainer_env = services["trainer"]["environment"]
    assert trainer_env["MLFLOW_TRACKING_USERNAME"] == env["MLFLOW_AUTH_ADMIN_USERNAME"] == "admin"
    config_mount = [v for v in mlflow["volumes"] if v.endswith(":ro")]
    assert config_mount == [f"./basic_auth.ini:{env['MLFLOW_AUTH_CONFIG_PATH']}:ro"]
    ini = (DOCKER_DIR / "basic_auth.ini").read_text()
    assert not re.search(r"^\s*admin_password", ini, re.M) and "password1234" not in ini
    assert "database_uri = sqlite:////mlflow-auth/" in ini
    # Both images start through secret-env.sh, which the *_FILE variables need.
    server_image = (DOCKER_DIR / "mlflow.Dockerfile").read_text()
    assert "COPY secret-env.sh /usr/local/bin/secret-env.sh" in server_image
    assert 'ENTRYPOINT ["/usr/local/bin/secret-env.sh"]' in server_image
    script = (DOCKER_DIR / "secret-env.sh").read_text()
    for variables in SECRET_FILES.values():
        for variable in variables:
            assert variable in script.split("for var in ", 1)[1].split(";", 1)[0], variable


def test_secret_files_are_ignored_and_not_committed() -> None:
    if not (REPO_ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    for name in ("mlflow_admin_password", "mlflow_flask_secret_key"):
        result = subprocess.run(
            ["git", "check-ignore", "-q", f"docker/secrets/{name}"], cwd=REPO_ROOT, check=False
        )
        assert result.returncode == 0, name
    tracked = subprocess.run(
        ["git", "ls-files", "docker/secrets"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert tracked == ["docker/secrets/.gitignore"]


def test_trainer_gpu_reservation_and_mounts(services: dict) -> None:
    trainer = services["trainer"]
    (device,) = trainer["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia"
    assert device["capabilities"] == ["gpu"]
    assert device["count"] == "all"
    count = raw_compose()["services"]["trainer"]["deploy"]["resources"]["reservations"]
    assert count["devices"][0]["count"] == "${TRAINER_GPU_COUNT:-all}"
    assert interpolate(count["devices"][0]["count"], {"TRAINER_GPU_COUNT": "2"}) == "2"
    assert trainer["ipc"] == "host"
    assert trainer["environment"]["MLFLOW_TRACKING_URI"] == "http://mlflow:5000"
    assert trainer["depends_on"] == {"mlflow": {"condition": "service_healthy"}}
    data = [v for v in trainer["volumes"] if ":/workspace/data" in v]
    assert data == ["../data:/workspace/data:ro"]
    assert trainer["build"] == {
        "context": "..",
        "dockerfile": "docker/Dockerfile",
        "args": {"MLFLOW_VERSION": raw_compose()["x-mlflow-version"]},
    }


def test_published_ports_are_localhost_only(services: dict) -> None:
    published = 0
    for name, service in services.items():
        for port in service.get("ports", []):
            published += 1
            if isinstance(port, dict):
                assert port.get("host_ip") == "127.0.0.1", (name, port)
            else:
                assert str(port).startswith("127.0.0.1:"), (name, port)
    assert published == 1  # the MLflow server's UI/API


def test_no_secret_values_inline() -> None:
    """Secret-looking settings are ${VAR} references (the values live only in .env) or paths of
    compose secrets (files in docker/secrets/)."""
    text = COMPOSE_FILE.read_text()
    assert "password1234" not in text

    def check(node: object, path: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if str(key).endswith("_FILE"):  # a secret file's path in the container
                    assert re.fullmatch(r"/run/secrets/[a-z_]+", str(value)), (path, key)
                elif SECRET_NAME.search(str(key)) and not isinstance(value, dict | list):
                    assert re.fullmatch(r"\$\{[A-Z_]+(:?[-?][^}]*)?\}", str(value)), (path, key)
                check(value, f"{path}.{key}")
        elif isinstance(node, list):
            for item in node:
                check(item, path)

    check(raw_compose(), "")
    uri = raw_compose()["x-backend-store-uri"]
    assert "${POSTGRES_PASSWORD:?" in uri
    with pytest.raises(InterpolationError, match="POSTGRES_PASSWORD"):
        load_compose(read_env_file())
    example = read_env_file()
    for key, value in example.items():
        if SECRET_NAME.search(key):
            assert value == "", f".env.example ships a value for {key}"


def test_env_file_is_ignored_and_example_committed() -> None:
    def ignored(path: str) -> bool:
        result = subprocess.run(["git", "check-ignore", "-q", path], cwd=REPO_ROOT, check=False)
        return result.returncode == 0

    if not (REPO_ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    assert ignored("docker/.env")
    assert not ignored("docker/.env.example")
    assert ENV_EXAMPLE.is_file()


def test_trainer_dockerfile() -> None:
    text = (DOCKER_DIR / "Dockerfile").read_text()
    base = re.search(r"^ARG BASE_IMAGE=(\S+)$", text, re.M)
    assert base and re.fullmatch(
        r"pytorch/pytorch:\d+\.\d+\.\d+-cuda\d+\.\d+-cudnn\d+-\w+", base[1]
    )
    assert re.search(r"^USER (?!root)\w+$", text, re.M)
    assert 'ENTRYPOINT ["/usr/local/bin/secret-env.sh", "actlab"]' in text
    copies = re.findall(r"^COPY (?:--\S+ )*(\S+)", text, re.M)
    assert copies == ["pyproject.toml", "actlab", "configs", "docker/secret-env.sh"], copies
    ignored = {line.strip() for line in (REPO_ROOT / ".dockerignore").read_text().splitlines()}
    assert {"mlruns", "data", ".venv", ".git"} <= ignored
    # Root-anchored: the actlab.data package is not excluded with the datasets.
    assert not {"**/data", "actlab", "actlab/data"} & ignored


def test_readme_covers_the_workflow() -> None:
    readme = (DOCKER_DIR / "README.md").read_text()
    for needle in (
        "docker compose up",
        "-L 5000:127.0.0.1:5000",
        "mlflow db upgrade",
        "DDP",
        "/workspace/data",
        "make-secrets.sh",
        "401",
    ):
        assert needle in readme, needle


def _compose_cli() -> list[str] | None:
    docker = shutil.which("docker")
    if docker is None:
        return None
    probe = subprocess.run(
        [docker, "compose", "version"], capture_output=True, text=True, timeout=30, check=False
    )
    return [docker, "compose"] if probe.returncode == 0 else None


def test_docker_compose_config(tmp_path: Path) -> None:
    """`docker compose config` validates the file against the Compose spec (no engine needed)."""
    cli = _compose_cli()
    if cli is None:
        pytest.skip("the docker compose plugin is not installed (`docker compose version` fails)")
    env_file = tmp_path / ".env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in FILLED_ENV.items()))
    result = subprocess.run(
        [*cli, "--env-file", str(env_file), "-f", str(COMPOSE_FILE)]
        + ["--profile", "trainer", "config", "--format", "json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=DOCKER_DIR,
    )
    assert result.returncode == 0, result.stderr
    config = json.loads(result.stdout)
    assert set(config["services"]) == {"postgres", "mlflow", "trainer"}
