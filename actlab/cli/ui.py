"""``actlab ui``: the MLflow UI on the tracking store, on 127.0.0.1 by default."""

from __future__ import annotations

import argparse
import errno
import os
import socket
import sys

from actlab.errors import ActlabError
from actlab.tracking import links
from actlab.tracking.store import (
    default_tracking_uri,
    ensure_store,
    mlruns_dir,
    read_sqlite_experiments,
)

#: Experiments ``actlab ui`` lists links to (the most recently updated first).
UI_LINKS = 10


def ui_command_line(host: str, port: int, tracking_uri: str) -> list[str]:
    """The ``mlflow ui`` command line for ``tracking_uri``, artifacts served from ``mlruns/``."""
    cmd = [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", tracking_uri]
    cmd += ["--host", host, "--port", str(port)]
    if tracking_uri.startswith("sqlite:"):
        cmd += ["--default-artifact-root", (mlruns_dir() / "artifacts").as_uri()]
    return cmd


def port_number(text: str) -> int:
    """``--port``: an integer from 1 to 65535."""
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"invalid port {text!r}: a TCP port is 1 to 65535")
    return port


def is_loopback(host: str) -> bool:
    """Whether every address ``host`` names is this machine's loopback (127.0.0.0/8, ::1)."""
    import ipaddress

    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except socket.gaierror:
        return False
    addresses = {info[4][0].split("%")[0] for info in infos}
    return bool(addresses) and all(ipaddress.ip_address(a).is_loopback for a in addresses)


def check_remote_host(host: str, allowed: bool) -> None:
    """A ``--host`` other machines can reach needs ``--allow-remote`` (one line otherwise), and
    gets a warning with it: ``mlflow ui`` asks for no login, so whoever reaches it can read,
    change and delete every run."""
    try:
        socket.getaddrinfo(host, None)
    except socket.gaierror:
        return  # not an address at all: check_port_free says so
    if is_loopback(host):
        return
    if not allowed:
        raise ActlabError(
            f"--host {host}: other machines could reach this UI, which has no login (anyone "
            "could read, change and delete every run); keep 127.0.0.1 and use an SSH tunnel, "
            "or add --allow-remote on a network you trust"
        )
    print(
        f"actlab ui: warning: serving without a login on {host}: whoever reaches it can read, "
        "change and delete every run",
        file=sys.stderr,
        flush=True,
    )


def check_port_free(host: str, port: int) -> None:
    """Raise :class:`ActlabError` if ``host:port`` cannot be bound (in use, or a bad address)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as err:
        raise ActlabError(f"--host {host!r} is not an address of this machine: {err}") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
        except OSError as err:
            if err.errno == errno.EADDRINUSE:
                msg = f"port {port} on {host} is in use; choose another with --port"
            else:
                msg = f"cannot serve on {host}:{port}: {err.strerror or err}"
            raise ActlabError(msg) from None


def print_experiment_links(tracking_uri: str, ui: str, most: int = UI_LINKS) -> None:
    """The runs-table link (machine-learning view) of each of the newest experiments."""
    experiments = read_sqlite_experiments(tracking_uri, most)
    if experiments is None:
        from mlflow.tracking import MlflowClient

        try:
            found = MlflowClient(tracking_uri).search_experiments(
                max_results=most, order_by=["last_update_time DESC"]
            )
        except Exception as err:  # noqa: BLE001 - the UI still starts; it shows the error itself
            print(f"(cannot list the experiments of {tracking_uri}: {err})")
            return
        experiments = [(e.experiment_id, e.name) for e in found]
    for experiment_id, name in experiments[:most]:
        print(f"  {name}: {links.experiment_url(ui, experiment_id)}")


def ui(argv: list[str]) -> int:
    """Serve the MLflow UI (this process becomes ``mlflow ui``: signals reach it directly)."""
    from actlab.cli.parsing import OneLineArgumentParser

    parser = OneLineArgumentParser(prog="actlab ui", description="Serve the MLflow UI.")
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    parser.add_argument("--port", type=port_number, default=5000, help="TCP port (default 5000)")
    parser.add_argument(
        "--tracking-uri", default=None, help="default: $MLFLOW_TRACKING_URI or mlruns/mlflow.db"
    )
    parser.add_argument(
        "--allow-remote",
        action="store_true",
        help="serve on a --host other machines can reach (the UI has no login: anyone who "
        "reaches it can read, change and delete every run)",
    )
    args = parser.parse_args(argv)
    uri = args.tracking_uri or default_tracking_uri()
    if uri.startswith("http"):
        print(f"the tracking store is a server already: open {uri}")
        return 0
    check_remote_host(args.host, args.allow_remote)
    check_port_free(args.host, args.port)
    ensure_store(uri)  # a new store is created here, under the lock fits and sweeps take too
    cmd = ui_command_line(args.host, args.port, uri)
    print(f"MLflow UI for {uri} on http://{args.host}:{args.port}  (Ctrl-C to stop)", flush=True)
    print_experiment_links(uri, links.local_ui_url(args.host, args.port))
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    # MLflow's GenAI job runner starts a pool of worker processes the UI does not need.
    env.setdefault("MLFLOW_SERVER_ENABLE_JOB_EXECUTION", "false")
    sys.stdout.flush()
    links.record_ui(uri, links.local_ui_url(args.host, args.port))  # this pid becomes the UI
    os.execvpe(cmd[0], cmd, env)  # the UI replaces this process: signals reach it directly
