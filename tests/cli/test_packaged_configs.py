"""The configs that come with the package: by name from any folder, listed by ``actlab configs``,
and shipped in the wheel (built, installed into a fresh virtual environment, run from an empty
folder)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

from actlab.cli.packaged_configs import list_configs, packaged_path, packaged_root
from tests.helpers import CONFIGS, REPO, run_actlab


def test_every_config_of_the_repo_is_packaged_and_listed(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    assert packaged_root().resolve() == CONFIGS.resolve()
    listed = {c.name: c for c in list_configs()}
    assert len(listed) == len(list(CONFIGS.rglob("*.yaml")))
    assert listed["quickstart"].kind == "config"
    assert listed["papers/004_cpaf"].kind == "sweep"  # papers/004_cpaf/sweep.yaml
    assert listed["showcase/digits_activations"].kind == "sweep"
    assert run_actlab(["configs"]) == 0
    out = capsys.readouterr().out
    assert "papers/004_cpaf " in out and f"{len(listed)} configs in" in out


def test_names_resolve_to_packaged_files_and_a_file_here_wins(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert packaged_path("quickstart") == CONFIGS.resolve() / "quickstart.yaml"
    assert packaged_path("papers/004_cpaf", sweep=True) == (
        CONFIGS.resolve() / "papers" / "004_cpaf" / "sweep.yaml"
    )
    assert packaged_path("papers/004_cpaf") is None  # a folder is a sweep's name only
    assert packaged_path("../pyproject.toml") is None  # never outside the configs
    assert run_actlab(["sweep", "papers/004_cpaf", "--dry-run"]) == 0
    assert "52 runs in experiment 'paper-004-cpaf'" in capsys.readouterr().out
    mine = tmp_path / "showcase" / "digits_activations.yaml"
    mine.parent.mkdir()
    text = (CONFIGS / "showcase" / "digits_activations.yaml").read_text()
    mine.write_text(text.replace("experiment: showcase-digits-activations", "experiment: mine"))
    (tmp_path / "showcase" / "digits_base.yaml").write_text(
        (CONFIGS / "showcase" / "digits_base.yaml").read_text()
    )
    assert run_actlab(["sweep", "showcase/digits_activations.yaml", "--dry-run"]) == 0
    assert "15 runs in experiment 'mine'" in capsys.readouterr().out
    assert run_actlab(["fit", "--config", "nosuch"]) == 2
    assert "nor packaged config (actlab configs lists them)" in capsys.readouterr().err


def fresh_venv_with_wheel(tmp_path: Path) -> Path:
    """A fresh virtual environment holding the wheel built from the repo; its dependencies (torch,
    Lightning, ...) come from the test's own environment through a ``.pth`` line, which adds
    that folder without running its ``.pth`` files (so the editable actlab there stays out)."""
    source = tmp_path / "source"  # a copy: no build/ left in the repo, no stale files from one
    for name in ("actlab", "configs"):
        shutil.copytree(
            REPO / name, source / name, symlinks=True, ignore=shutil.ignore_patterns("__pycache__")
        )
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(REPO / name, source / name)
    wheels = tmp_path / "wheels"
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--quiet"]
    build = [*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(wheels), str(source)]
    subprocess.run(build, check=True, cwd=tmp_path, timeout=300)
    [wheel] = wheels.glob("actlab-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "actlab/configs/quickstart.yaml" in names
    assert "actlab/configs/papers/004_cpaf/fashion.yaml" in names  # a sweep's relative base
    env = tmp_path / "venv"
    venv.create(env, with_pip=False)
    python = env / "bin" / "python"
    clean = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # the repo is no install
    install = [*pip, "--python", str(python), "install", "--no-deps", str(wheel)]
    subprocess.run(install, check=True, env=clean, timeout=300)
    site = Path(
        subprocess.check_output(
            [python, "-c", "import site; print(site.getsitepackages()[0])"], text=True
        ).strip()
    )
    deps = next(p for p in map(Path, sys.path) if (p / "torch").is_dir())
    (site / "deps.pth").write_text(f"{deps}\n")
    return env


@pytest.mark.slow
def test_the_installed_wheel_runs_the_packaged_configs_from_an_empty_folder(tmp_path) -> None:
    env = fresh_venv_with_wheel(tmp_path)
    empty = tmp_path / "empty"
    empty.mkdir()
    environ = {
        k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "MLFLOW_TRACKING_URI")
    }
    environ["ACTLAB_MLRUNS"] = str(tmp_path / "mlruns")

    def actlab(*args: str) -> str:
        done = subprocess.run(
            [env / "bin" / "actlab", *args], cwd=empty, env=environ, capture_output=True,
            text=True, timeout=300,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-2000:]
        return done.stdout

    where = actlab("configs", "--path").strip()
    assert where.startswith(str(env)), where  # the installed copy, not the repo's
    assert "quickstart" in actlab("configs")
    assert "class_path: actlab.data.WDBCDataModule" in actlab(
        "fit", "--config", "quickstart", "--print_config"
    )
    assert "52 runs in experiment 'paper-004-cpaf'" in actlab(
        "sweep", "papers/004_cpaf", "--dry-run"
    )
    assert os.listdir(empty) == []
