"""scripts/gpu_check.py (``make gpu-check``, 26.4): one line without CUDA, and every step's
plumbing on the CPU (``--cpu``): its own process group, time-outs, failures as rows, the table."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import REPO, alive, process_group

SCRIPT = REPO / "scripts" / "gpu_check.py"


def _load():
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


gpu_check = _load()


def _run(args: list[str], env: dict[str, str], timeout: float) -> subprocess.CompletedProcess:
    full = {**os.environ, "PYTHONPATH": str(REPO), **env}
    with process_group(args, cwd=REPO, env=full, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True) as proc:  # fmt: skip
        out, err = proc.communicate(timeout=timeout)
    return subprocess.CompletedProcess(args, proc.returncode, out, err)


def test_without_cuda_one_line_and_exit_0(tmp_path: Path) -> None:
    out = tmp_path / "out"
    done = _run([sys.executable, str(SCRIPT), str(out)], {"CUDA_VISIBLE_DEVICES": ""}, 120)
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.splitlines()) == 1, done.stdout
    assert done.stdout.startswith("gpu-check: skipped, no CUDA device visible")
    assert not out.exists()


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_gpu_check_without_cuda_is_the_same_one_line(tmp_path: Path) -> None:
    args = ["make", "-s", "gpu-check", f"OUT={tmp_path / 'out'}", f"PYTHON={sys.executable}"]
    done = _run(args, {"CUDA_VISIBLE_DEVICES": ""}, 120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [done.stdout.strip()]
    assert done.stdout.startswith("gpu-check: skipped")


def _step(code: str, timeout: float = 30):
    def read(output: str, returncode: int):
        return [("probe", returncode == 0, output.strip().splitlines()[-1])]

    return gpu_check.Step("probe", [sys.executable, "-c", code], timeout, read)


def test_a_step_that_runs_past_its_time_is_killed_with_its_group(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(gpu_check, "MIN_STEP_S", 0.0)
    pid_file = tmp_path / "child.pid"
    code = (
        "import subprocess, sys, time; "
        "c = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)']); "
        f"open({str(pid_file)!r}, 'w').write(str(c.pid)); time.sleep(600)"
    )
    # 15 s: on a loaded machine two Python starts can take more than 3 s, and the step must be
    # killed after its grandchild has started and written its pid
    (row,) = gpu_check.run_step(_step(code, timeout=15), tmp_path, 600, cpu=True)
    assert row.status == "TIMEOUT" and "killed after 15 s" in row.result
    assert row.seconds < 75
    grandchild = int(pid_file.read_text())
    deadline = time.monotonic() + 10  # the group's signal reaches it within moments
    while alive(grandchild) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not alive(grandchild)  # the grandchild went with the group


def test_a_failing_step_is_a_failed_row_and_the_budget_skips(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (row,) = gpu_check.run_step(
        _step("print('boom'); raise SystemExit(3)"), tmp_path, 600, cpu=True
    )
    assert row.status == "FAILED" and row.result.startswith("exit 3: boom")
    assert (tmp_path / "probe.log").read_text().splitlines()[-1] == "boom"
    (skipped,) = gpu_check.run_step(_step("pass"), tmp_path, 5, cpu=True)
    assert skipped.status == "SKIPPED" and "budget" in skipped.result


def test_readers_of_the_steps_outputs() -> None:
    pytest_out = "....\n24 passed, 1 skipped, 258 deselected in 30.1s\n"
    assert gpu_check.read_pytest(False)(pytest_out, 0) == [
        ("pytest -m gpu", True, "24 passed, 1 skipped, 258 deselected")
    ]
    assert gpu_check.read_pytest(False)("1 failed, 23 passed in 3s", 1)[0][1] is False
    assert gpu_check.read_pytest(False)("24 skipped in 3s", 0)[0][1] is False  # none ran on CUDA
    throughput = "recipe       21000    1.00  2.1/2.4 ...\nplain        9000    0.43  5.0/5.2\n"
    ((_, ok, result),) = gpu_check.read_throughput(throughput, 0)
    assert ok and result.endswith("(2.33x)")


@pytest.mark.slow  # ~2.5 min wall, ~55 CPU s on 2 shared cores: five steps, each imports torch
def test_cpu_mode_runs_every_step_and_writes_one_table(tmp_path: Path) -> None:
    out = tmp_path / "out"
    done = _run([sys.executable, str(SCRIPT), str(out), "--cpu"], {}, 900)
    assert done.returncode == 0, done.stdout + done.stderr
    written = (out / "gpu_check.md").read_text()
    title, blank, *table = written.strip().splitlines()
    assert title.startswith("actlab gpu-check: commit") and "CPU mode" in title and blank == ""
    assert table[0] == "| step | status | s | peak RSS MiB | result |"
    assert table[1] == "|---|---|---:|---:|---|"
    rows = [line.strip("|").split(" | ") for line in table[2:]]
    steps = [r[0].strip() for r in rows]
    assert steps == [
        "pytest -m gpu", "self-check fp32", "self-check bf16", "self-check channels-last",
        "benchmarks/activations.py", "DDP fit, 2 device(s)", "benchmarks/throughput.py",
    ]  # fmt: skip
    assert all(len(r) == 5 for r in rows), rows
    assert [r[1] for r in rows] == ["OK"] * len(rows), written
    assert all(float(r[3]) > 0 for r in rows)  # a peak memory per row
    assert written.strip() in done.stdout  # printed as written
    record = json.loads((out / "gpu_check.json").read_text())
    assert record["cpu"] and len(record["rows"]) == len(rows)
    for log in ("pytest_gpu", "self_check", "activations", "ddp_fit", "throughput"):
        assert (out / f"{log}.log").read_text().startswith("$ ")
    assert (out / "self_check.md").read_text().count("| yes |") == 84
