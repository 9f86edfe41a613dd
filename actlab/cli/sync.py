"""``actlab sync``: send what runs spooled while the tracking server was down."""

from __future__ import annotations

from pathlib import Path


def sync(argv: list[str]) -> int:
    """Replay the spool; exit 0 when everything was sent, 1 while writes are still pending."""
    from actlab.cli.parsing import OneLineArgumentParser
    from actlab.tracking.resilience import RunIds
    from actlab.tracking.resilience import sync as replay
    from actlab.tracking.store import spool_dir

    parser = OneLineArgumentParser(
        prog="actlab sync",
        description="Replay the metrics, params, tags and artifacts spooled during a tracking "
        "server outage (mlruns/spool/) to the server each run was logging to. A run that could "
        "not be created (pending-<hex>) is created first, once.",
    )
    parser.add_argument(
        "--tracking-uri", default=None, help="send to this URI instead of the recorded one"
    )
    args = parser.parse_args(argv)
    if not any(spool_dir().glob("*.jsonl")):  # nothing to send: no need to load MLflow
        print(f"nothing to send: {spool_dir()} is empty")
        return 0
    damaged = damaged_records(spool_dir())
    left = replay(args.tracking_uri)
    for run_id, lines in damaged.items():
        print(
            f"run {run_id}: skipped {len(lines)} damaged spool record(s) (line "
            f"{', '.join(map(str, lines))}: a write cut short, e.g. by kill -9); sent the rest"
        )
    if not left and not damaged:
        print(f"nothing to send: {spool_dir()} is empty")
        return 0
    created = RunIds(spool_dir()).load()
    for run_id, pending in left.items():
        state = "sent" if pending == 0 else f"{pending} writes still pending (server unreachable)"
        name = f"{run_id} (created as run {created[run_id]})" if run_id in created else run_id
        print(f"run {name}: {state}")
    return 0 if not any(left.values()) else 1


def damaged_records(root: Path) -> dict[str, list[int]]:
    """Line numbers of the records in each spool file under ``root`` that are not JSON."""
    from actlab.tracking.resilience import Spool

    damaged = {}
    for path in sorted(root.glob("*.jsonl")) if root.is_dir() else []:
        spool = Spool(path.stem, "", root)
        spool.records()
        if spool.skipped:
            damaged[spool.run_id] = spool.skipped
    return damaged
