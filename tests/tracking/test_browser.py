"""What a researcher sees: the links actlab prints, opened in headless Chromium against a real
``actlab ui``, and the ``actlab report --html`` page.

A two-run sweep (relu vs cpaf_relu on WDBC, one epoch each; its runs trained in-process with the
configs the sweep runner writes), then ``actlab sweep`` and ``actlab report --html``: the
links printed by the sweep, by each run's fit summary and by ``actlab report`` must open the
machine-learning view (the runs table, the run's page) and show the runs by their names, their
dataset and their description. Chromium comes from ``scripts/install-chromium.sh`` (the
system's package); without it the test is skipped, except under ``CI=true``, where it fails.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
import urllib.request
import uuid
from pathlib import Path

import pytest
import yaml

from actlab.sweep.runner import run_config
from actlab.sweep.spec import SweepSpec
from tests.helpers import REPO, free_port, process_group, run_actlab, tracking_uri

#: Flags Chromium needs on this closed network (without the background-networking ones the
#: sandboxed network refuses it).
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
HEADER = "Browser test: relu against cpaf_relu on WDBC."
LINK = re.compile(r"(http://127\.0\.0\.1:\d+/#/experiments/\S+)")


@pytest.fixture(scope="module")
def chromium() -> str:
    """The Chromium binary, installed by the project's script where it is missing."""
    script = REPO / "scripts" / "install-chromium.sh"
    result = subprocess.run(["bash", str(script)], capture_output=True, text=True, timeout=900)
    binary = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""
    if result.returncode != 0 or not binary:
        reason = f"no Chromium: {result.stderr.strip().splitlines()[-1:]}"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return binary


def dump_dom(chromium: str, url: str, tmp_path: Path, expect: list[str], tries: int = 3) -> str:
    """The page's DOM after its scripts ran (a fresh profile each time); retried until every
    string of ``expect`` is in it, since the UI fills its tables from requests of its own."""
    dom = ""
    for _ in range(tries):
        profile = tmp_path / f"chromium-{uuid.uuid4().hex}"
        cmd = [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
               "--virtual-time-budget=15000", "--window-size=1400,1000", "--dump-dom", url]  # fmt: skip
        with process_group(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
        ) as proc:
            dom, _ = proc.communicate(timeout=120)
        if all(text in dom for text in expect):
            return dom
        time.sleep(2)
    return dom


def wait_for_ui(port: int, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2):
                return
        except OSError:
            assert proc.poll() is None, "actlab ui exited"
            time.sleep(0.5)
    pytest.fail(f"actlab ui did not answer on port {port}")


def write_sweep(folder: Path) -> Path:
    base = folder / "wdbc_base.yaml"
    quickstart = yaml.safe_load((REPO / "configs" / "quickstart.yaml").read_text())
    quickstart["trainer"].update(max_epochs=1, enable_progress_bar=False)
    base.write_text(f"# {HEADER}\n" + yaml.safe_dump(quickstart, sort_keys=False))
    sweep = folder / "sweep.yaml"
    spec = {
        "experiment": "browser-test",  # no "wdbc": that must come from the Dataset column
        "base": base.name,
        "seeds": [0],
        "grid": {"model.init_args.activation": ["relu", "cpaf_relu(k=2)"]},
        "report": {"rows": "activation", "columns": "dataset", "scale": 100},
    }
    sweep.write_text(yaml.safe_dump(spec, sort_keys=False))
    return sweep


@pytest.mark.slow
def test_printed_links_open_the_runs_and_the_html_report_shows_them(
    chromium: str, mlruns: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    from mlflow.tracking import MlflowClient

    port = free_port()
    sweep = write_sweep(tmp_path)
    mlruns.mkdir(parents=True, exist_ok=True)
    MlflowClient(tracking_uri(mlruns)).search_experiments()  # one process creates the store
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    ui = [os.fspath(Path(os.sys.executable)), "-m", "actlab", "ui", "--port", str(port)]
    with process_group(ui, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env) as server:
        # The UI starts while the runs train: in-process, each with the config file the sweep
        # runner gives its subprocess; `actlab sweep` then finds both FINISHED.
        spec = SweepSpec.load(sweep)
        run_links = []
        for run in spec.runs():
            config = tmp_path / f"{run.key}.yaml"
            content = run_config(run, spec.experiment_name(), spec.experiment)
            config.write_text(yaml.safe_dump(content, sort_keys=False))
            assert run_actlab(["fit", "--config", str(config)]) == 0
            run_links += LINK.findall(capsys.readouterr().out)  # the fit summary's link
        assert len(run_links) == 2 and all("/runs/" in link for link in run_links)
        assert run_actlab(["sweep", str(sweep), "--no-progress"]) == 0
        out = capsys.readouterr().out
        assert "0 finished, 0 failed, 2 skipped" in out
        (sweep_link,) = re.findall(r"open the runs: " + LINK.pattern, out)
        assert "/runs?viewStateShareKey=actlab-" in sweep_link  # the sweep's shared view
        assert sweep_link.endswith("&workflowType=machine_learning")

        html = tmp_path / "report.html"
        assert run_actlab(["report", str(sweep), "--html", str(html)]) == 0
        (report_link,) = re.findall(r"open the runs: " + LINK.pattern, capsys.readouterr().out)
        # the same view; the address is the UI's once it answers (the sweep may print 5000 before)
        assert report_link.split("/#/")[1] == sweep_link.split("/#/")[1]

        # Links printed for port 5000 (the default); this UI listens on a free port.
        def here(link: str) -> str:
            return re.sub(r"127\.0\.0\.1:\d+", f"127.0.0.1:{port}", link)

        wait_for_ui(port, server)
        names = ["relu seed0", "cpaf_relu(k=2) seed0"]
        groups = ["Group: relu", "Group: cpaf_relu(k=2)"]
        dom = dump_dom(chromium, here(sweep_link), tmp_path, [*names, *groups])
        for name in names:  # the runs table, not MLflow's GenAI overview
            assert name in dom, name
        # grouped by the sweep's row axis, its metric and axis tags as columns (issue 29)
        assert "Group by: axis.activation" in dom
        assert all(group in dom for group in groups), dom[-3000:]
        for column in ("test/acc", "axis.activation", "seed"):
            assert f">{column}<" in dom, column
        root = re.sub(r"/runs\?.*", "", sweep_link)  # the experiment's page, no view
        without_view = dump_dom(chromium, here(root), tmp_path, [], tries=1)
        assert not any(name in without_view for name in names)  # what the old link showed

        dom = dump_dom(chromium, here(run_links[0]), tmp_path, [HEADER])
        assert HEADER in dom  # the run's description: its config's header comment
        assert any(name in dom for name in names)
        assert "Model training" in dom

        page = dump_dom(chromium, html.as_uri(), tmp_path, ["cpaf_relu(k=2)"])
        assert "<table>" in page and "relu" in page and "cpaf_relu(k=2)" in page
        assert page.count('class="curves"') == 2
        assert page.count('class="shapes"') == 1  # relu has no learned parameters
        assert "fixed activation" in page


def test_ui_on_an_address_others_reach_needs_allow_remote(
    mlruns: Path, capsys: pytest.CaptureFixture
) -> None:
    from actlab.cli.ui import check_remote_host, is_loopback

    assert run_actlab(["ui", "--host", "0.0.0.0", "--port", str(free_port())]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("actlab: error: --host 0.0.0.0: other machines could reach this UI")
    assert "--allow-remote" in line
    assert not (mlruns / "mlflow.db").exists()  # refused before the store is created
    assert is_loopback("127.0.0.1") and is_loopback("localhost") and is_loopback("::1")
    assert not is_loopback("0.0.0.0")
    check_remote_host("0.0.0.0", allowed=True)
    assert "warning: serving without a login on 0.0.0.0" in capsys.readouterr().err
