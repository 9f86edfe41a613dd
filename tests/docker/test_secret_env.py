"""docker/secret-env.sh (both images' entrypoint) and docker/make-secrets.sh, run natively."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from actlab_compose import DOCKER_DIR, SECRET_ENV

MAKE_SECRETS = DOCKER_DIR / "make-secrets.sh"
#: Prints the exported secret and whether its *_FILE variable is still set.
SHOW = [
    "sh",
    "-c",
    'printf "%s|%s" "$MLFLOW_AUTH_ADMIN_PASSWORD" "${MLFLOW_AUTH_ADMIN_PASSWORD_FILE-unset}"',
]


def run_entrypoint(command: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    return subprocess.run(
        [str(SECRET_ENV), *command],
        env=base | env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_exports_the_secret_from_its_file_and_runs_the_command(tmp_path: Path) -> None:
    secret = tmp_path / "mlflow_admin_password"
    secret.write_text("p@ss w$rd 'x'\n")  # the trailing newline of `echo > file` is dropped
    result = run_entrypoint(SHOW, MLFLOW_AUTH_ADMIN_PASSWORD_FILE=str(secret))
    assert result.returncode == 0, result.stderr
    assert result.stdout == "p@ss w$rd 'x'|unset"
    assert result.stderr == ""


def test_without_file_variables_it_only_runs_the_command() -> None:
    result = run_entrypoint(["sh", "-c", "echo $#-$0; exit 3", "arg"])
    assert (result.returncode, result.stdout, result.stderr) == (3, "0-arg\n", "")


@pytest.mark.parametrize("case", ["missing", "empty", "folder"])
def test_an_unusable_secret_file_stops_with_one_line(tmp_path: Path, case: str) -> None:
    secret = tmp_path / "mlflow_admin_password"
    if case == "empty":
        secret.write_text("\n")
    elif case == "folder":  # what a bind mount of a path that did not exist gives
        secret.mkdir()
    marker = tmp_path / "ran"
    result = run_entrypoint(["touch", str(marker)], MLFLOW_AUTH_ADMIN_PASSWORD_FILE=str(secret))
    assert result.returncode == 78
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("secret-env: MLFLOW_AUTH_ADMIN_PASSWORD: ")
    assert str(secret) in lines[0] and "docker/make-secrets.sh" in lines[0]
    assert ("is empty" in lines[0]) == (case == "empty")
    assert not marker.exists()  # the command never ran


def test_a_secret_set_twice_is_refused(tmp_path: Path) -> None:
    secret = tmp_path / "key"
    secret.write_text("from-file")
    result = run_entrypoint(
        ["true"],
        MLFLOW_FLASK_SERVER_SECRET_KEY="inline",
        MLFLOW_FLASK_SERVER_SECRET_KEY_FILE=str(secret),
    )
    assert result.returncode == 78
    assert result.stderr == (
        "secret-env: both MLFLOW_FLASK_SERVER_SECRET_KEY and "
        "MLFLOW_FLASK_SERVER_SECRET_KEY_FILE are set; set only MLFLOW_FLASK_SERVER_SECRET_KEY_FILE\n"
    )


def test_the_secret_is_not_on_the_command_line(tmp_path: Path) -> None:
    """The command the entrypoint execs (what `ps` shows) holds no secret."""
    secret = tmp_path / "pw"
    secret.write_text("s3cret-value")
    result = run_entrypoint(
        ["sh", "-c", 'cat /proc/$$/cmdline | tr "\\0" " "'],
        MLFLOW_TRACKING_PASSWORD_FILE=str(secret),
    )
    assert result.returncode == 0, result.stderr
    assert "s3cret-value" not in result.stdout and result.stdout.startswith("sh -c")


def test_make_secrets_creates_private_random_files_and_keeps_existing(tmp_path: Path) -> None:
    docker = tmp_path / "docker"
    docker.mkdir()
    shutil.copy2(MAKE_SECRETS, docker / "make-secrets.sh")
    run = [str(docker / "make-secrets.sh")]
    first = subprocess.run(run, capture_output=True, text=True, timeout=30, check=True)
    folder = docker / "secrets"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    values = {}
    for name in ("mlflow_admin_password", "mlflow_flask_secret_key"):
        path = folder / name
        assert f"created {path}" in first.stdout
        assert stat.S_IMODE(path.stat().st_mode) == 0o644
        values[name] = path.read_text()
        assert len(values[name]) == 49 and int(values[name], 16) >= 0  # 48 hex digits + newline
    assert values["mlflow_admin_password"] != values["mlflow_flask_secret_key"]
    second = subprocess.run(run, capture_output=True, text=True, timeout=30, check=True)
    assert second.stdout.count("kept ") == 2
    assert {name: (folder / name).read_text() for name in values} == values
    assert sorted(p.name for p in folder.iterdir()) == sorted(values)  # no temporary left
