"""`actlab sync` of a spool with a truncated line: the rest is sent."""

from __future__ import annotations

from pathlib import Path

from mlflow.tracking import MlflowClient

from tests.helpers import (
    run_actlab,
)


def test_sync_skips_a_truncated_spool_line_and_sends_the_rest(mlruns: Path, capsys) -> None:
    from actlab.tracking.resilience import Spool
    from actlab.tracking.store import ensure_store

    uri = ensure_store()
    client = MlflowClient(uri)
    run = client.create_run(client.create_experiment("spooled"))
    spool = Spool(run.info.run_id, uri, mlruns / "spool")
    spool.append("set_tag", (run.info.run_id, "a", "1"), {})
    spool.append("set_tag", (run.info.run_id, "b", "2"), {})
    with spool.path.open("a") as f:
        f.write('{"method": "set_tag", "tracking_uri": "sqli')  # killed mid-write
    assert run_actlab(["sync"]) == 0
    out = capsys.readouterr().out
    assert f"run {run.info.run_id}: skipped 1 damaged spool record(s) (line 3" in out
    assert f"run {run.info.run_id}: sent" in out
    tags = client.get_run(run.info.run_id).data.tags
    assert (tags["a"], tags["b"]) == ("1", "2")
    assert not spool.path.exists()
