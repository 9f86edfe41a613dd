"""actlab's own subcommands beside LightningCLI's: ``ui`` (and more registered by other modules)."""

from __future__ import annotations

import argparse
import os
import sys

import actlab.sweep.commands  # noqa: F401  (registers sweep and report)
from actlab.cli import extra_command
from actlab.tracking import links
from actlab.tracking.mlflow import default_tracking_uri, mlruns_dir


def ui_command_line(host: str, port: int, tracking_uri: str) -> list[str]:
    """The ``mlflow ui`` command line for ``tracking_uri``, artifacts served from ``mlruns/``."""
    cmd = [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", tracking_uri]
    cmd += ["--host", host, "--port", str(port)]
    if tracking_uri.startswith("sqlite:"):
        cmd += ["--default-artifact-root", (mlruns_dir() / "artifacts").as_uri()]
    return cmd


@extra_command("ui", "open the MLflow UI on the tracking store (127.0.0.1:5000 by default)")
def ui(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="actlab ui", description="Serve the MLflow UI.")
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=5000)
    parser.add_argument(
        "--tracking-uri", default=None, help="default: $MLFLOW_TRACKING_URI or mlruns/mlflow.db"
    )
    args = parser.parse_args(argv)
    uri = args.tracking_uri or default_tracking_uri()
    if uri.startswith("http"):
        print(f"the tracking store is a server already: open {uri}")
        return 0
    cmd = ui_command_line(args.host, args.port, uri)
    print(f"MLflow UI for {uri} on http://{args.host}:{args.port}  (Ctrl-C to stop)", flush=True)
    print_experiment_links(uri, links.local_ui_url(args.host, args.port))
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    # MLflow's GenAI job runner starts a pool of worker processes the UI does not need.
    env.setdefault("MLFLOW_SERVER_ENABLE_JOB_EXECUTION", "false")
    sys.stdout.flush()
    os.execvpe(cmd[0], cmd, env)  # the UI replaces this process: signals reach it directly


#: Experiments ``actlab ui`` lists links to (the most recently updated first).
UI_LINKS = 10


def print_experiment_links(tracking_uri: str, ui: str, most: int = UI_LINKS) -> None:
    """The runs-table link (machine-learning view) of each of the newest experiments."""
    from mlflow.tracking import MlflowClient

    try:
        experiments = MlflowClient(tracking_uri).search_experiments(
            max_results=most, order_by=["last_update_time DESC"]
        )
    except Exception as err:  # noqa: BLE001 - the UI still starts; it shows the error itself
        print(f"(cannot list the experiments of {tracking_uri}: {err})")
        return
    for experiment in experiments[:most]:
        print(f"  {experiment.name}: {links.experiment_url(ui, experiment.experiment_id)}")


@extra_command(
    "sync",
    "send what runs kept in mlruns/spool while the tracking server was down (creates pending runs)",
)
def sync(argv: list[str]) -> int:
    from actlab.tracking.resilience import RunIds, spool_dir
    from actlab.tracking.resilience import sync as replay

    parser = argparse.ArgumentParser(
        prog="actlab sync",
        description="Replay the metrics, params, tags and artifacts spooled during a tracking "
        "server outage (mlruns/spool/) to the server each run was logging to. A run that could "
        "not be created (pending-<hex>) is created first, once.",
    )
    parser.add_argument(
        "--tracking-uri", default=None, help="send to this URI instead of the recorded one"
    )
    args = parser.parse_args(argv)
    left = replay(args.tracking_uri)
    if not left:
        print(f"nothing to send: {spool_dir()} is empty")
        return 0
    created = RunIds(spool_dir()).load()
    for run_id, pending in left.items():
        state = "sent" if pending == 0 else f"{pending} writes still pending (server unreachable)"
        name = f"{run_id} (created as run {created[run_id]})" if run_id in created else run_id
        print(f"run {name}: {state}")
    return 0 if not any(left.values()) else 1
