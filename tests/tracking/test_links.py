"""Links into MLflow's machine-learning view (actlab/tracking/links.py) and where they are printed."""

from __future__ import annotations

from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from actlab.tracking import links


def test_links_open_the_machine_learning_view() -> None:
    ui = links.ui_url("sqlite:////tmp/mlruns/mlflow.db")
    assert ui == "http://127.0.0.1:5000"
    assert links.experiment_url(ui, "3") == (
        "http://127.0.0.1:5000/#/experiments/3?workflowType=machine_learning"
    )
    assert links.run_url(ui, "3", "abc") == (
        "http://127.0.0.1:5000/#/experiments/3/runs/abc?workflowType=machine_learning"
    )
    # A server is its own UI; credentials stay out of printed links.
    assert links.ui_url("https://alice:secret@mlflow.lab:8443/prefix/") == (
        "https://mlflow.lab:8443/prefix"
    )
    assert links.local_ui_url("0.0.0.0", 5123) == "http://127.0.0.1:5123"
    assert links.ui_hint("sqlite:///x.db") and not links.ui_hint("http://h:5000")


def test_actlab_ui_lists_each_experiments_runs_link(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    from actlab.cli.ui import print_experiment_links

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(uri)
    ids = {name: client.create_experiment(name) for name in ("quickstart", "showcase-wdbc")}
    print_experiment_links(uri, links.local_ui_url("127.0.0.1", 5001))
    out = capsys.readouterr().out
    for name, experiment_id in ids.items():
        url = f"http://127.0.0.1:5001/#/experiments/{experiment_id}?workflowType=machine_learning"
        assert f"  {name}: {url}" in out.splitlines()
    experiment_id = ids["quickstart"]
    assert links.experiment_link(client, uri, "quickstart").endswith(
        f"/#/experiments/{experiment_id}?workflowType=machine_learning"
    )
    assert links.experiment_link(client, uri, "nope") is None


def test_links_name_the_port_of_the_ui_serving_the_store(tmp_path: Path, monkeypatch) -> None:
    import os
    import socket

    from tests.helpers import free_port, run_actlab

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    port = free_port()
    # `actlab ui --port PORT` records its address just before this process becomes `mlflow ui`
    monkeypatch.setattr(os, "execvpe", lambda *args: (_ for _ in ()).throw(SystemExit(0)))
    assert run_actlab(["ui", "--port", str(port), "--tracking-uri", uri]) == 0
    assert links.ui_url(uri) == "http://127.0.0.1:5000"  # nothing listens there yet
    with socket.create_server(("127.0.0.1", port)):  # the UI serving the store
        assert links.ui_url(uri) == f"http://127.0.0.1:{port}"
        client = MlflowClient(uri)
        experiment_id = client.create_experiment("served")
        assert links.experiment_link(client, uri, "served") == (
            f"http://127.0.0.1:{port}/#/experiments/{experiment_id}?workflowType=machine_learning"
        )
        links.record_ui(uri, f"http://127.0.0.1:{port}", pid=2**22 + 1)  # no such process
        assert links.ui_url(uri) == "http://127.0.0.1:5000"


def test_a_link_can_open_the_runs_grouped_with_the_metric_and_axes_as_columns(tmp_path) -> None:
    import json

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(uri)
    experiment_id = client.create_experiment("grouped")
    view = links.runs_view("axis.activation", "test_best/acc", ["axis.activation", "seed"])
    url = links.experiment_link(client, uri, "grouped", view)
    tag, value, key = links.shared_view(view)
    assert url == (
        f"http://127.0.0.1:5000/#/experiments/{experiment_id}/runs?viewStateShareKey={key}"
        "&workflowType=machine_learning"
    )
    stored = client.get_experiment(experiment_id).tags[tag]
    assert tag.startswith("mlflow.sharedViewState.actlab-") and stored == value
    state = json.loads(stored)  # the fields MLflow's UI restores from a shared view
    assert state["groupBy"]["groupByKeys"] == [{"mode": "tag", "groupByData": "axis.activation"}]
    assert state["selectedColumns"] == [
        "metrics.`test_best/acc`",
        "tags.`axis.activation`",
        "tags.`seed`",
    ]
    assert state["runsHiddenMode"] == "SHOW_ALL"  # not MLflow's default: the first 10 runs
    assert links.experiment_link(client, uri, "grouped", view) == url  # one tag per view
    assert len([t for t in client.get_experiment(experiment_id).tags if t.startswith(tag)]) == 1
