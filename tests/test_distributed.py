"""One run over several processes: the launch guards of actlab.distributed, ranks that die with
their launcher, and two ``torchrun`` "nodes" on 127.0.0.1 making one MLflow run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from actlab.distributed import OVERSUBSCRIBE_ENV, check_cpu_ranks, check_world_size
from actlab.errors import ActlabError
from tests.helpers import (
    CONFIGS,
    REPO,
    alive,
    all_runs,
    children,
    free_port,
    process_group,
    run_actlab,
    tracking_uri,
)
from tests.tracking.helpers import metric_steps

QUICKSTART = str(CONFIGS / "quickstart.yaml")
QUIET = ["--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false"]


def test_world_size_must_match_the_launcher() -> None:
    check_world_size(2, 2, ("torchrun", 4))
    check_world_size(8, 1, None)  # no external launcher: Lightning starts the ranks itself
    with pytest.raises(ActlabError, match=r"\(1\) x trainer.num_nodes \(2\) = 2 processes, but "
                       r"torchrun started 4: .* --trainer.devices 2 --trainer.num_nodes 2"):  # fmt: skip
        check_world_size(1, 2, ("torchrun", 4))


def test_cpu_ranks_beyond_the_cores_need_forcing(monkeypatch: pytest.MonkeyPatch) -> None:
    check_cpu_ranks(2, cores=2)
    with pytest.raises(
        ActlabError, match=f"at most --trainer.devices 2, or set {OVERSUBSCRIBE_ENV}=1"
    ):
        check_cpu_ranks(3, cores=2)
    monkeypatch.setenv(OVERSUBSCRIBE_ENV, "1")
    check_cpu_ranks(64, cores=2)


def test_64_cpu_ranks_on_a_small_machine_are_refused_before_launching(
    mlruns: Path, capsys: pytest.CaptureFixture
) -> None:
    """Today's 64 ranks exhausted the memory and hung; now: one line, exit 2, no run."""
    args = ["fit", "--config", QUICKSTART, *QUIET, "--trainer.devices", "64",
            "--trainer.strategy", "ddp"]  # fmt: skip
    assert run_actlab(args) == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    cores = len(os.sched_getaffinity(0))
    assert error == (
        f"actlab: error: trainer.devices 64 starts 64 CPU processes (DDP ranks) on a machine "
        f"with {cores} cores: use at most --trainer.devices {cores}, or set "
        f"{OVERSUBSCRIBE_ENV}=1 to start them anyway"
    )
    assert not all_runs(tracking_uri(mlruns))


def test_a_launcher_world_size_that_disagrees_is_refused(
    mlruns: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As started by ``torchrun --nnodes 3 --nproc-per-node 1``, configured for 2 nodes."""
    for key, value in {"TORCHELASTIC_RUN_ID": "t", "WORLD_SIZE": "3", "RANK": "0",
                       "LOCAL_RANK": "0", "GROUP_RANK": "0", "LOCAL_WORLD_SIZE": "1"}.items():  # fmt: skip
        monkeypatch.setenv(key, value)
    monkeypatch.setattr("actlab.distributed.die_with_parent", lambda *a, **k: True)  # not pytest
    assert run_actlab(["fit", "--config", QUICKSTART, *QUIET, "--trainer.num_nodes", "2"]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        "actlab: error: trainer.devices (1) x trainer.num_nodes (2) = 2 processes, but torchrun "
        "started 3: set them to match, e.g. --trainer.devices 1 --trainer.num_nodes 3 (devices = "
        "processes per node, num_nodes = nodes)"
    )


def env_of(**extra: str) -> dict[str, str]:
    """The environment of a DDP fit here: this checkout, gloo on the loopback interface."""
    return {**os.environ, "PYTHONPATH": str(REPO), "GLOO_SOCKET_IFNAME": "lo", **extra}


@pytest.mark.slow
def test_ddp_ranks_die_with_their_launcher(tmp_path: Path) -> None:
    """SIGKILL the launcher (rank 0) of a 2-rank CPU DDP fit mid-training: rank 1, which
    Lightning started as its subprocess, dies too instead of waiting in a collective."""
    env = env_of(ACTLAB_MLRUNS=str(tmp_path / "mlruns"), MLFLOW_TRACKING_URI="")
    cmd = [sys.executable, "-m", "actlab", "fit", "--config", QUICKSTART, *QUIET,
           "--trainer.accelerator", "cpu", "--trainer.strategy", "ddp", "--trainer.devices", "2",
           "--trainer.max_epochs", "100",
           "--trainer.callbacks+=tests.tracking.helpers.SlowEpochs"]  # fmt: skip
    log = (tmp_path / "fit.log").open("w")
    with process_group(cmd, env=env, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT) as fit:
        deadline = time.monotonic() + 240
        while not list((tmp_path / "mlruns").glob("*/*/checkpoints/last.ckpt")):
            assert fit.poll() is None, (tmp_path / "fit.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "training never started"
            time.sleep(0.2)
        (rank1,) = children(fit.pid, "actlab")
        os.kill(fit.pid, signal.SIGKILL)
        fit.wait()
        deadline = time.monotonic() + 30
        while alive(rank1) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not alive(rank1), "rank 1 outlived its launcher"


@pytest.mark.slow
def test_two_torchrun_nodes_make_one_run(tmp_path: Path) -> None:
    """``torchrun --nnodes 2 --nproc-per-node 1`` twice on 127.0.0.1 (gloo): one MLflow run
    (rank 0 writes), its world size 2 recorded, every epoch's metrics logged once."""
    mlruns = tmp_path / "mlruns"
    env = env_of(ACTLAB_MLRUNS=str(mlruns), MLFLOW_TRACKING_URI="")
    port = free_port()
    fit = ["fit", "--config", QUICKSTART, *QUIET, "--trainer.accelerator", "cpu",
           "--trainer.strategy", "ddp", "--trainer.devices", "1", "--trainer.num_nodes", "2",
           "--trainer.max_epochs", "2"]  # fmt: skip

    def node(rank: int) -> list[str]:
        return [sys.executable, "-m", "torch.distributed.run", "--nnodes", "2", "--node-rank",
                str(rank), "--nproc-per-node", "1", "--master-addr", "127.0.0.1",
                "--master-port", str(port), "-m", "actlab", *fit]  # fmt: skip

    # Both ranks open the store as they start; a fresh SQLite file created by two processes at
    # once races in its migration (issue 17.2, the cli lane's): create it first.
    MlflowClient(tracking_uri(mlruns)).search_experiments()
    logs = [(tmp_path / f"node{rank}.log").open("w") for rank in (0, 1)]
    with (
        process_group(node(0), env=env, cwd=tmp_path, stdout=logs[0], stderr=subprocess.STDOUT) as n0,
        process_group(node(1), env=env, cwd=tmp_path, stdout=logs[1], stderr=subprocess.STDOUT) as n1,
    ):  # fmt: skip
        codes = [n0.wait(timeout=300), n1.wait(timeout=300)]
    assert codes == [0, 0], (tmp_path / "node0.log").read_text()[-3000:]
    client = MlflowClient(tracking_uri(mlruns))
    (run,) = all_runs(tracking_uri(mlruns))
    assert run.info.status == "FINISHED"
    assert run.data.tags["world_size"] == "2"
    assert run.data.params["trainer.num_nodes"] == "2"
    for key in ("val/acc", "train/loss", "val/best_acc"):
        assert metric_steps(client, run.info.run_id, key) == [0, 1], key
    assert len(client.get_metric_history(run.info.run_id, "test/acc")) == 1
