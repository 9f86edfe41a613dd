"""``actlab sweep`` end to end on WDBC: runs, tags, resume after an interruption, failures;
runs forked from the preloaded server: isolated, same results as subprocesses, deaths named."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from mlflow.tracking import MlflowClient

from actlab.sweep.runner import (
    FAILED,
    FINISHED,
    SKIPPED,
    LocalExecutor,
    SweepRunner,
    last_error_line,
    run_config,
    signal_error,
)
from actlab.sweep.spec import SweepSpec
from tests.helpers import (
    CONFIGS,
    REPO,
    SIGINT_DEFAULT,
    alive,
    children,
    process_group,
    run_actlab,
    tracking_uri,
)

FAST = {
    "trainer.max_epochs": 1,
    "trainer.limit_train_batches": 2,
    "trainer.enable_progress_bar": False,
    "trainer.enable_model_summary": False,
}


def write_sweep(tmp_path: Path, heads: list[str], seeds: list[int]) -> Path:
    path = tmp_path / "sweep.yaml"
    sweep = {
        "experiment": "wdbc-sweep",
        "base": str(CONFIGS / "quickstart.yaml"),
        "seeds": seeds,
        "grid": {"model.init_args.head": heads},
        "fixed": FAST,
        "report": {"rows": "head", "columns": "dataset", "metric": "test/acc"},
    }
    path.write_text(yaml.safe_dump(sweep))
    return path


def test_run_config_sets_experiment_and_tags(tmp_path: Path) -> None:
    spec = SweepSpec.load(write_sweep(tmp_path, ["softmax"], [3]))
    (run,) = spec.runs()
    config = run_config(run, "wdbc-sweep-smoke", "wdbc-sweep")
    logger = config["trainer"]["logger"]
    assert logger["class_path"] == "actlab.tracking.ActlabMLFlowLogger"
    assert logger["init_args"]["experiment_name"] == "wdbc-sweep-smoke"
    assert logger["init_args"]["tags"] == {
        "sweep": "wdbc-sweep",
        "seed": "3",
        "axis.head": "softmax",
    }
    assert "logger" not in run.config["trainer"]  # the key covers the config without tags


def test_run_tags_reach_the_logger_as_the_strings_they_are(mlruns: Path) -> None:
    """jsonargparse reads a quoted '0123' in a dict as the number 123: a digits-only tag
    lost its leading zero and every seed tag reached a tracking server as an int, which
    MLflow's REST store rejects (TypeError), failing every run of a sweep against a server."""
    from dataclasses import replace

    from actlab.cli import ActlabCLI
    from actlab.tracking.naming import DESCRIPTION_TAG

    spec = SweepSpec.load(write_sweep(mlruns.parent, ["softmax"], [3]))
    run = replace(spec.runs()[0])
    config = mlruns.parent / "run.yaml"
    job = {"sweep.job": "0123456789012345"}
    config.write_text(yaml.safe_dump(run_config(run, "wdbc-sweep", "wdbc-sweep", job)))
    cli = ActlabCLI(["--config", str(config)], run=False)
    tags = cli.trainer.logger.tags
    description = tags.pop(DESCRIPTION_TAG)  # the run's description (the config's header)
    assert tags == {**run.tags("wdbc-sweep"), **job} and description == run.description
    assert tags["sweep.job"] == "0123456789012345" and tags["seed"] == "3"


def test_gpus_round_robin_over_worker_slots(tmp_path: Path) -> None:
    spec = SweepSpec.load(write_sweep(tmp_path, ["softmax"], [0]))
    runner = SweepRunner(spec, workers=3, gpus=["0", "1"], tracking_uri="sqlite:///x.db")
    runner.executor.tracking_uri = runner.tracking_uri  # what open() sets
    env = runner.executor.environment
    assert [env(s)["CUDA_VISIBLE_DEVICES"] for s in range(3)] == ["0", "1", "0"]
    assert env(0)["MLFLOW_TRACKING_URI"] == "sqlite:///x.db"
    assert "CUDA_VISIBLE_DEVICES" not in LocalExecutor(gpus=[]).environment(0)  # left as it is


def test_each_run_gets_its_share_of_the_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    """torch starts a thread per core in every run: runs at a time share the cores instead."""
    from actlab.distributed import usable_cores

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    cores = usable_cores()
    for workers in (1, 2, cores + 1):
        env = LocalExecutor(workers, gpus=[]).environment(0)
        assert env["OMP_NUM_THREADS"] == str(max(1, cores // workers))
    monkeypatch.setenv("OMP_NUM_THREADS", "3")  # the user's setting wins
    assert "OMP_NUM_THREADS" not in LocalExecutor(2, gpus=[]).environment(0)


def test_signal_deaths_are_named() -> None:
    assert signal_error(-signal.SIGKILL) == "killed by SIGKILL, out of memory?"
    assert signal_error(-signal.SIGSEGV) == "killed by SIGSEGV"
    assert signal_error(128 + signal.SIGTERM) == "killed by SIGTERM (exit 143)"
    assert signal_error(0) is None and signal_error(1) is None and signal_error(2) is None


def test_the_sweep_driver_imports_neither_torch_nor_lightning_nor_timm(tmp_path: Path) -> None:
    """Planning a sweep (runs, hashes, configs) and the run launchers stay light."""
    code = (
        "import sys; from actlab.sweep.runner import SweepRunner, run_config; "
        "import actlab.sweep.forkserver, actlab.sweep.child, actlab.distributed; "
        "from actlab.sweep.spec import SweepSpec; "
        f"runner = SweepRunner(SweepSpec.load({str(write_sweep(tmp_path, ['softmax'], [0]))!r})); "
        "run_config(runner.runs[0], runner.experiment, 'x'); "
        "heavy = sorted({'torch', 'lightning', 'timm'} & set(sys.modules)); "
        "assert not heavy, heavy"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]


def test_last_error_line() -> None:
    text = "Traceback...\n  File x\nactlab: error: invalid value for 'model.head'\n\n"
    assert last_error_line(text) == "actlab: error: invalid value for 'model.head'"
    assert last_error_line("") == "the run exited with an error and printed nothing"


@pytest.mark.slow
def test_interrupted_sweep_resumes_and_failures_are_recorded(
    mlruns: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """First pass: 1 of 3 runs (interrupted). Second pass, 2 workers: 1 skipped, 1 finished and
    1 failed (a callback that raises) recorded FAILED; exit status 1. Third pass reruns only
    the failed one."""
    monkeypatch.setenv("PYTHONPATH", str(REPO))  # the runs import tests.sweep.helpers
    path = write_sweep(mlruns.parent, ["softmax", "relu"], [0])
    sweep = yaml.safe_load(path.read_text())
    fail = [{"class_path": "tests.sweep.helpers.Fail"}]
    sweep["grid"] = [sweep["grid"], {"fail": [{"label": "raise", "trainer.callbacks": fail}]}]
    path.write_text(yaml.safe_dump(sweep))
    uri = tracking_uri(mlruns)
    first = SweepRunner(SweepSpec.load(path), tracking_uri=uri, progress=False)
    first.runs = first.runs[:1]
    assert [r.status for r in first.execute()] == [FINISHED]

    assert run_actlab(["sweep", str(path), "--workers", "2", "--no-progress"]) == 1

    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("wdbc-sweep")
    runs = client.search_runs([exp.experiment_id])
    by_head = {r.data.tags.get("axis.head", "failing"): r for r in runs}
    assert len(runs) == 3 and sorted(by_head) == ["failing", "relu", "softmax"]
    assert by_head["softmax"].info.status == "FINISHED"
    assert by_head["relu"].info.status == "FINISHED"
    assert by_head["relu"].data.tags["sweep"] == "wdbc-sweep"
    assert by_head["relu"].data.tags["backbone"] == "mlp"  # describe() still tags the run
    assert "test/acc" in by_head["relu"].data.metrics
    failed = by_head["failing"]
    assert failed.info.status == "FAILED"
    assert "deliberate failure" in failed.data.tags["sweep.error"]

    again = SweepRunner(SweepSpec.load(path), tracking_uri=uri, progress=False).execute()
    capsys.readouterr()
    assert [r.status for r in again] == [SKIPPED, SKIPPED, FAILED]
    assert run_actlab(["report", str(path), "--format", "markdown"]) == 0
    table = capsys.readouterr().out
    assert table.startswith("| head | wdbc |") and "| softmax |" in table and "| relu |" in table
    assert "raise" not in table  # FAILED runs are not averaged


def probe_sweep(folder: Path, experiment: str, probes: list[str]) -> Path:
    """A sweep of quickstart runs that differ by one callback (tests/sweep/helpers.py)."""
    values = [
        {"label": name, "trainer.callbacks": [{"class_path": f"tests.sweep.helpers.{name}"}]}
        for name in probes
    ]
    path = folder / f"{experiment}.yaml"
    sweep = {"experiment": experiment, "base": str(CONFIGS / "quickstart.yaml"),
             "grid": {"probe": values}, "fixed": {**FAST, "trainer.max_epochs": 2}}  # fmt: skip
    path.write_text(yaml.safe_dump(sweep))
    return path


@pytest.mark.slow
def test_forked_runs_are_isolated_name_their_death_and_match_subprocess_runs(
    mlruns: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three runs forked one after another from one preloaded server: the first changes its
    process's environment and a module of actlab, the second checks it inherited nothing, the
    third is SIGKILLed as by the OOM killer and is FAILED with that as its error. The second
    run gives the same metrics, to the bit, as the same config run as a fresh subprocess."""
    # runs start in the sweep's folder: the probe callbacks are found through PYTHONPATH
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    )
    uri = tracking_uri(mlruns)
    forked = SweepRunner(
        SweepSpec.load(probe_sweep(mlruns.parent, "forked", ["Leak", "CheckClean", "KillSelf"])),
        tracking_uri=uri,
        progress=False,
    )
    results = forked.execute()
    assert [r.status for r in results] == [FINISHED, FINISHED, FAILED], [r.error for r in results]
    assert results[2].error == "killed by SIGKILL, out of memory?"
    client = MlflowClient(uri)
    (killed,) = client.search_runs(
        [client.get_experiment_by_name("forked").experiment_id], "tags.`axis.probe` = 'KillSelf'"
    )
    assert killed.info.status == "FAILED"
    assert killed.data.tags["sweep.error"] == "killed by SIGKILL, out of memory?"

    spawned = SweepRunner(
        SweepSpec.load(probe_sweep(mlruns.parent, "spawned", ["CheckClean"])),
        tracking_uri=uri,
        progress=False,
        executor=LocalExecutor(fork_server=False),
    )
    (result,) = spawned.execute()
    assert result.status == FINISHED and result.run.key == results[1].run.key

    def metrics(experiment: str) -> dict[str, list[float]]:
        exp = client.get_experiment_by_name(experiment)
        (run,) = client.search_runs([exp.experiment_id], "tags.`axis.probe` = 'CheckClean'")
        keys = ("test/acc", "test/loss", "val/acc", "val/loss", "train/loss")
        return {k: [m.value for m in client.get_metric_history(run.info.run_id, k)] for k in keys}

    assert metrics("forked") == metrics("spawned")


def slow_sweep(tmp_path: Path) -> tuple[list[str], dict[str, str], Path]:
    """``actlab sweep`` of one run that trains for minutes: its command, environment, mlruns."""
    slow = [{"class_path": "tests.tracking.helpers.SlowEpochs", "init_args": {"seconds": 1.0}}]
    path = write_sweep(tmp_path, ["softmax"], [0])
    sweep = yaml.safe_load(path.read_text())
    sweep["fixed"].update({"trainer.max_epochs": 100, "trainer.callbacks": slow})
    path.write_text(yaml.safe_dump(sweep))
    mlruns = tmp_path / "mlruns"
    env = {**os.environ, "PYTHONPATH": str(REPO), "ACTLAB_MLRUNS": str(mlruns)}
    env.pop("MLFLOW_TRACKING_URI", None)
    return [sys.executable, "-m", "actlab", "sweep", str(path), "--no-progress"], env, mlruns


def training(driver: subprocess.Popen, mlruns: Path) -> tuple[int, int]:
    """Wait until the sweep's run has trained an epoch: ``(fork server pid, run pid)``."""
    deadline = time.monotonic() + 240
    while not list(mlruns.glob("*/*/checkpoints/last.ckpt")):
        assert driver.poll() is None and time.monotonic() < deadline, "no run started"
        time.sleep(0.2)
    (server,) = children(driver.pid, "actlab.sweep.forkserver")
    (run,) = children(server)
    return server, run


@pytest.mark.slow
def test_kill_9_of_the_sweeps_group_kills_the_fork_server_and_its_runs(tmp_path: Path) -> None:
    """`kill -9 -PGID`: the fork server is in the sweep's process group, so it dies with the
    driver, and its run at once with it (not after a grace period, nor never)."""
    cmd, env, mlruns = slow_sweep(tmp_path)
    with process_group(cmd, env=env, cwd=tmp_path, stdout=subprocess.DEVNULL) as driver:
        server, run = training(driver, mlruns)
        assert os.getpgid(server) == driver.pid
        os.killpg(driver.pid, signal.SIGKILL)
        driver.wait()
        deadline = time.monotonic() + 3
        while (alive(run) or alive(server)) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not alive(server) and not alive(run)


@pytest.mark.slow
def test_ctrl_c_of_a_sweep_is_one_line_and_its_runs_end_failed_by_sigint(tmp_path: Path) -> None:
    """SIGINT to the sweep's process group, as a terminal's Ctrl-C: the driver passes it on to
    its run, which ends FAILED tagged ``stopped by SIGINT``; one line, exit 130."""
    cmd, env, mlruns = slow_sweep(tmp_path)
    with process_group(
        [*SIGINT_DEFAULT, *cmd],  # Ctrl-C reaches it even when the suite runs in the background
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as driver:
        server, run = training(driver, mlruns)
        os.killpg(driver.pid, signal.SIGINT)
        out, err = driver.communicate(timeout=120)
    assert driver.returncode == 130, err[-3000:]
    lines = [line for line in err.strip().splitlines() if " INFO mlflow." not in line]
    assert lines == ["actlab: error: interrupted by SIGINT (Ctrl-C)"], err[-3000:]
    assert not alive(server) and not alive(run)
    client = MlflowClient(tracking_uri(mlruns))
    (found,) = client.search_runs([client.get_experiment_by_name("wdbc-sweep").experiment_id])
    assert found.info.status == "FAILED"
    assert found.data.tags["error"] == "stopped by SIGINT"
    assert "SIGINT" in found.data.tags["sweep.error"]


@pytest.mark.slow
def test_a_killed_sweep_leaves_no_run_behind(tmp_path: Path) -> None:
    """SIGKILL the sweep's driver mid-run: the fork server sees its socket close and ends the
    run's process group, then itself."""
    cmd, env, mlruns = slow_sweep(tmp_path)
    with process_group(cmd, env=env, cwd=tmp_path, stdout=subprocess.DEVNULL) as driver:
        server, run = training(driver, mlruns)
        driver.kill()
        driver.wait()
        deadline = time.monotonic() + 30
        while (alive(run) or alive(server)) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not alive(run) and not alive(server)
