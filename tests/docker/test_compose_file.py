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

#: Values a filled-in .env would have (secrets made up for the test).
FILLED_ENV = {
    **read_env_file(),
    "POSTGRES_PASSWORD": "0123456789abcdef",
    "MLFLOW_FLASK_SERVER_SECRET_KEY": "fedcba9876543210",
    "MLFLOW_AUTH_ADMIN_PASSWORD": "a-long-admin-password",
}
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|_KEY$")


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
    assert set(services) == {"postgres", "mlflow", "mlflow-auth", "trainer"}
    assert "profiles" not in services["postgres"]
    assert services["mlflow"]["profiles"] == ["open"]
    assert services["mlflow-auth"]["profiles"] == ["auth"]
    assert services["trainer"]["profiles"] == ["trainer"]
    assert read_env_file()["COMPOSE_PROFILES"] == "open"


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
    for name in ("mlflow", "mlflow-auth"):
        env = services[name]["environment"]
        assert "0123456789abcdef" in env["MLFLOW_BACKEND_STORE_URI"]


def test_mlflow_version_is_pinned_and_matches_pyproject(services: dict) -> None:
    version = raw_compose()["x-mlflow-version"]
    assert re.fullmatch(r"\d+\.\d+\.\d+", version)
    assert _pyproject_requirement("mlflow").specifier.contains(version)
    for name in ("mlflow", "mlflow-auth", "trainer"):
        assert services[name]["build"]["args"]["MLFLOW_VERSION"] == version
    assert services["mlflow"]["image"].endswith(f":{version}")
    for dockerfile in ("mlflow.Dockerfile", "Dockerfile"):
        text = (DOCKER_DIR / dockerfile).read_text()
        assert f"ARG MLFLOW_VERSION={version}" in text, dockerfile
        assert re.search(r'"mlflow(\[auth\])?==\$\{MLFLOW_VERSION\}"', text), dockerfile
    server_image = (DOCKER_DIR / "mlflow.Dockerfile").read_text()
    assert re.search(r'"psycopg\[binary\]==\$\{PSYCOPG_VERSION\}"', server_image)
    # The auth profile's app needs the [auth] extra (Flask-WTF).
    assert '"mlflow[auth]==${MLFLOW_VERSION}"' in server_image
    assert re.search(r"^ARG PSYCOPG_VERSION=\d+\.\d+\.\d+$", server_image, re.M)
    assert re.search(r"^FROM python:\d+\.\d+\.\d+-slim", server_image, re.M)


def test_auth_profile_is_the_same_server_behind_basic_auth(services: dict) -> None:
    open_server, auth = services["mlflow"], services["mlflow-auth"]
    assert auth["command"] == [*open_server["command"], "--app-name", "basic-auth"]
    assert auth["networks"]["default"]["aliases"] == ["mlflow"]
    assert auth["ports"] == open_server["ports"]
    env = auth["environment"]
    assert env["MLFLOW_FLASK_SERVER_SECRET_KEY"] == "fedcba9876543210"
    assert env["MLFLOW_AUTH_ADMIN_PASSWORD"] == "a-long-admin-password"
    config_mount = [v for v in auth["volumes"] if v.endswith(":ro")]
    assert config_mount == [f"./basic_auth.ini:{env['MLFLOW_AUTH_CONFIG_PATH']}:ro"]
    ini = (DOCKER_DIR / "basic_auth.ini").read_text()
    assert "admin_password" not in ini and "password1234" not in ini
    assert "database_uri = sqlite:////mlflow-auth/" in ini


def test_auth_secrets_are_empty_until_filled_in() -> None:
    """Without .env values MLflow's auth app gets empty secrets and refuses to start."""
    env = load_compose(read_env_file() | {"POSTGRES_PASSWORD": "x"})["services"]["mlflow-auth"][
        "environment"
    ]
    assert env["MLFLOW_FLASK_SERVER_SECRET_KEY"] == ""
    assert env["MLFLOW_AUTH_ADMIN_PASSWORD"] == ""


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
    for server in ("mlflow", "mlflow-auth"):
        assert trainer["depends_on"][server] == {"condition": "service_healthy", "required": False}
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
    assert published >= 2


def test_no_secret_values_inline() -> None:
    """Secret-looking settings are ${VAR} references; the values live only in .env."""
    text = COMPOSE_FILE.read_text()
    assert "password1234" not in text

    def check(node: object, path: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if SECRET_NAME.search(str(key)) and not isinstance(value, dict | list):
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
    assert 'ENTRYPOINT ["actlab"]' in text
    copies = re.findall(r"^COPY (?:--\S+ )*(\S+)", text, re.M)
    assert copies == ["pyproject.toml", "actlab", "configs"], copies
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


@pytest.mark.parametrize("profile", ["open", "auth"])
def test_docker_compose_config(tmp_path: Path, profile: str) -> None:
    """`docker compose config` validates the file against the Compose spec (no engine needed)."""
    cli = _compose_cli()
    if cli is None:
        pytest.skip("the docker compose plugin is not installed (`docker compose version` fails)")
    env_file = tmp_path / ".env"
    values = FILLED_ENV | {"COMPOSE_PROFILES": profile}
    env_file.write_text("".join(f"{k}={v}\n" for k, v in values.items()))
    result = subprocess.run(
        [*cli, "--env-file", str(env_file), "-f", str(COMPOSE_FILE)]
        + ["--profile", profile, "--profile", "trainer", "config", "--format", "json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=DOCKER_DIR,
    )
    assert result.returncode == 0, result.stderr
    config = json.loads(result.stdout)
    expected = {"open": "mlflow", "auth": "mlflow-auth"}[profile]
    assert set(config["services"]) == {"postgres", expected, "trainer"}
