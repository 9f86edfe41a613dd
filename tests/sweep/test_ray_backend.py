"""``actlab sweep --backend ray`` on a real Ray cluster on 127.0.0.1: a head (no CPUs, so runs
go to the workers) and two worker nodes of one CPU each, tracked by a real MLflow server."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from mlflow.tracking import MlflowClient

from actlab.sweep.spec import SweepSpec
from tests.helpers import CONFIGS, REPO, alive, free_port, kill_group, run_actlab
from tests.tracking.helpers import metric_steps
from tests.tracking.test_server_outage import start_server, stop_server

ray = pytest.importorskip("ray")
from ray.cluster_utils import Cluster  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.server]

#: Small nodes: this machine is shared.
NODE = {"num_cpus": 1, "object_store_memory": 80 * 2**20}
FAST = {
    "trainer.limit_train_batches": 2,
    "trainer.enable_progress_bar": False,
    "trainer.enable_model_summary": False,
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("mlflow-server")
    port = free_port()
    proc = start_server(folder, port)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_server(proc)


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    """Head + 2 workers, every node on 127.0.0.1 (Ray's loopback mode)."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # node address 127.0.0.1
        env.setenv("PYTHONPATH", str(REPO))  # the runs import tests.* callbacks
        head = {**NODE, "num_cpus": 0, "include_dashboard": False}
        ray_cluster = Cluster(initialize_head=True, head_node_args=head)
        try:
            for _ in range(2):
                ray_cluster.add_node(**NODE)
            ray_cluster.wait_for_nodes()
            yield ray_cluster
        finally:
            ray_cluster.shutdown()


def write_sweep(folder: Path, experiment: str, grid: list[dict], **fixed: object) -> Path:
    path = folder / "sweep.yaml"
    sweep = {"experiment": experiment, "base": str(CONFIGS / "quickstart.yaml"), "grid": grid,
             "fixed": {**FAST, **fixed}}  # fmt: skip
    path.write_text(yaml.safe_dump(sweep))
    return path


def nodes_in_log(log: Path) -> list[str]:
    """The Ray node of each attempt, from the lines the task writes."""
    return re.findall(r"attempt \d+ on Ray node (\w+)", log.read_text())


def fits_alive(marker: str) -> list[int]:
    """Pids of live processes whose command line mentions ``marker`` (zombies excluded)."""
    pids = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if marker in cmdline and "actlab.sweep.child" in cmdline and alive(int(pid)):
            pids.append(int(pid))
    return pids


def test_more_than_one_node_needs_a_tracking_server_and_a_shared_dir(
    cluster: Cluster, tmp_path: Path, mlruns: Path, capsys: pytest.CaptureFixture
) -> None:
    path = write_sweep(tmp_path, "ray-refused", [{"model.init_args.head": ["softmax"]}])
    args = ["sweep", str(path), "--backend", "ray", "--address", cluster.address]
    assert run_actlab(args) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("actlab: error: the Ray cluster has 3 nodes but the tracking store")
    assert "start a tracking server" in error and len(error.splitlines()) == 1
    assert run_actlab([*args, "--tracking-uri", "http://127.0.0.1:1"]) == 2
    assert "pass --shared-dir DIR" in capsys.readouterr().err
    assert run_actlab([*args, "--retries", "1", "--workers", "2"]) == 2
    assert "--workers and --gpus belong to the local runner" in capsys.readouterr().err


def test_runs_spread_over_both_nodes_and_a_bad_config_fails_once(
    cluster: Cluster, server: str, tmp_path: Path, mlruns: Path
) -> None:
    """4 good runs and a failing one, 2 retries allowed: 4 FINISHED on both workers, the bad
    one FAILED after one attempt (an exit status is not a lost worker); no fit outlives it."""
    fail = [{"class_path": "tests.sweep.helpers.Fail"}]
    grid = [{"seed_everything": [0, 1, 2, 3]}, {"fail": [{"label": "raise", "trainer.callbacks": fail}]}]  # fmt: skip
    path = write_sweep(tmp_path, "ray-spread", grid, **{"trainer.max_epochs": 1})
    shared = tmp_path / "shared"
    args = ["sweep", str(path), "--backend", "ray", "--address", cluster.address, "--retries",
            "2", "--shared-dir", str(shared), "--tracking-uri", server, "--no-progress"]  # fmt: skip
    assert run_actlab(args) == 1
    assert not fits_alive(str(shared))
    client = MlflowClient(server)
    runs = client.search_runs([client.get_experiment_by_name("ray-spread").experiment_id])
    statuses = sorted((r.data.tags.get("axis.fail", "-"), r.info.status) for r in runs)
    assert statuses == [("-", "FINISHED")] * 4 + [("raise", "FAILED")]
    assert len({r.data.tags["sweep.job"] for r in runs}) == 5
    folder = shared / "ray-spread"
    spec = SweepSpec.load(path)
    key = {r.name: r.key for r in spec.runs()}
    bad = next(r for r in runs if r.info.status == "FAILED")
    assert "deliberate failure" in bad.data.tags["sweep.error"]
    assert (folder / f"{key[bad.info.run_name]}.attempts").read_text() == "1"
    good = [key[r.info.run_name] for r in runs if r.info.status == "FINISHED"]
    nodes = {node for h in good for node in nodes_in_log(folder / f"{h}.log")}
    assert nodes == {n.node_id for n in cluster.worker_nodes}


def test_a_node_lost_mid_run_is_retried_elsewhere_in_the_same_mlflow_run(
    cluster: Cluster, server: str, tmp_path: Path, mlruns: Path
) -> None:
    """The node running the fit is removed after epoch 1's checkpoint: Ray retries the task on
    the other worker, which resumes from that checkpoint under --shared-dir. One MLflow run for
    the config, FINISHED, every epoch logged once; the killed node's fit died with it."""
    slow = [{"class_path": "tests.tracking.helpers.SlowEpochs", "init_args": {"seconds": 1.0}}]
    path = write_sweep(
        tmp_path,
        "ray-lost-node",
        [{"model.init_args.head": ["softmax"]}],
        **{"trainer.max_epochs": 4, "trainer.callbacks": slow},
    )
    shared = tmp_path / "shared"
    cmd = [sys.executable, "-m", "actlab", "sweep", str(path), "--backend", "ray",
           "--address", cluster.address, "--retries", "1", "--shared-dir", str(shared),
           "--tracking-uri", server, "--no-progress"]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    driver = subprocess.Popen(cmd, env=env, cwd=tmp_path, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, start_new_session=True)  # fmt: skip
    try:
        folder = shared / "ray-lost-node"
        deadline = time.monotonic() + 240
        while not list(folder.glob("*/mlruns/*/*/checkpoints/last.ckpt")):
            assert driver.poll() is None, driver.stdout.read()
            assert time.monotonic() < deadline, "no checkpoint written"
            time.sleep(0.2)
        (log,) = folder.glob("*.log")
        (node_id,) = nodes_in_log(log)
        (node,) = [n for n in cluster.worker_nodes if n.node_id == node_id]
        cluster.remove_node(node, allow_graceful=False)
        output, _ = driver.communicate(timeout=300)
    finally:
        kill_group(driver)
    assert driver.returncode == 0, output[-3000:]
    assert "2 attempts" in output
    assert not fits_alive(str(shared))
    first, second = nodes_in_log(log)
    assert first == node_id and second != node_id
    assert "resuming" in log.read_text()
    client = MlflowClient(server)
    (run,) = client.search_runs([client.get_experiment_by_name("ray-lost-node").experiment_id])
    assert run.info.status == "FINISHED"
    for key in ("val/acc", "train/loss", "train/acc", "val/best_acc"):
        assert metric_steps(client, run.info.run_id, key) == [0, 1, 2, 3], key
    assert len(client.get_metric_history(run.info.run_id, "test/acc")) == 1
    cluster.add_node(**NODE)  # as the module found it
