"""``actlab sync``: send what runs spooled while the tracking server was down."""

from __future__ import annotations

from pathlib import Path


def sync(argv: list[str]) -> int:
    """Replay the spool; exit 0 when the server acknowledged every write, 1 while writes are
    still in the spool or were rejected (kept in ``mlruns/spool/rejected/``), 2 for a
    ``--tracking-uri`` that is not the server the spool was written for."""
    from actlab.cli import fail
    from actlab.cli.parsing import OneLineArgumentParser
    from actlab.tracking.resilience import RunIds, recorded_uris, same_server, strip_credentials
    from actlab.tracking.resilience import sync as replay
    from actlab.tracking.store import spool_dir

    parser = OneLineArgumentParser(
        prog="actlab sync",
        description="Replay the metrics, params, tags and artifacts spooled during a tracking "
        "server outage (mlruns/spool/) to the server each run was logging to. A run that could "
        "not be created (pending-<hex>) is created first, once. A write leaves the spool only "
        "once the server acknowledged it; writes the server rejects are kept in "
        "mlruns/spool/rejected/.",
    )
    parser.add_argument(
        "--tracking-uri",
        default=None,
        help="send to this URI (the same server as recorded, e.g. with credentials) instead "
        "of the recorded one",
    )
    parser.add_argument(
        "--to-other-server",
        action="store_true",
        help="allow --tracking-uri to be another server than the one the spool was written for",
    )
    parser.add_argument(
        "--retry-rejected",
        action="store_true",
        help="send the writes the server rejected before (mlruns/spool/rejected/) again",
    )
    args = parser.parse_args(argv)
    root = spool_dir()
    rejected_before = sorted((root / "rejected").glob("*.jsonl"))
    if not any(root.glob("*.jsonl")) and not (args.retry_rejected and rejected_before):
        print(f"nothing to send: {root} is empty")  # nothing to send: no need to load MLflow
        for path in rejected_before:
            print(f"rejected writes kept in {path} (send them again with --retry-rejected)")
        return 1 if rejected_before else 0
    if args.tracking_uri and not args.to_other_server:
        other = {
            run_id: uri
            for run_id, uri in recorded_uris(root).items()
            if not same_server(uri, args.tracking_uri)
        }
        if other:
            run_id, uri = next(iter(other.items()))
            fail(
                f"--tracking-uri {strip_credentials(args.tracking_uri)}: {len(other)} spool(s) "
                f"were written for another server (run {run_id}: {strip_credentials(uri)}); "
                "nothing sent: add --to-other-server to send them there"
            )
    damaged = damaged_records(root)
    done = replay(args.tracking_uri, retry_rejected=args.retry_rejected)
    for run_id, lines in damaged.items():
        print(
            f"run {run_id}: skipped {len(lines)} damaged spool record(s) (line "
            f"{', '.join(map(str, lines))}: a write cut short, e.g. by kill -9); sent the rest"
        )
    if not done and not damaged:
        print(f"nothing to send: {root} is empty")
        return 0
    created = RunIds(root).load()
    for run_id, result in done.items():
        name = f"{run_id} (created as run {created[run_id]})" if run_id in created else run_id
        states = []
        if result.left:
            states.append(f"{result.left} writes still in {root}: {result.reason}")
        if result.rejected:
            states.append(
                f"{result.rejected} writes rejected by the server, kept in "
                f"{result.dead_letter} (first: {result.first_rejection})"
            )
        print(f"run {name}: {'; '.join(states) or 'sent'}")
    return 0 if not any(r.left or r.rejected for r in done.values()) else 1


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
