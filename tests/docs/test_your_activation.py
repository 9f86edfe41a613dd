"""docs/your-activation.md runs as written: its files are written out, its ``actlab`` commands
run (the fit and the sweep shortened: one epoch, two batches; the sweep's smoke version), and
the runs log the user's Snake as the page says (params, tags, metrics, ``.npz``, image)."""

from __future__ import annotations

import hashlib
import io
import re
import shlex
from pathlib import Path

import numpy as np
from mlflow.tracking import MlflowClient

from tests.helpers import REPO, all_runs, run_actlab, tracking_uri

PAGE = REPO / "docs" / "your-activation.md"
FENCE = re.compile(r"^```(\w+)([^\n]*)\n(.*?)^```", re.M | re.S)
#: What makes each command of the page quick here.
SHORT = {
    "fit": ["--trainer.max_epochs", "1", "--trainer.limit_train_batches", "2",
            "--trainer.limit_val_batches", "1", "--trainer.limit_test_batches", "1"],
    "sweep": ["--smoke", "--no-progress"],
    "report": ["--smoke"],
}  # fmt: skip


def blocks() -> list[tuple[str, str, str]]:
    """``(language, file name or "", text)`` of every fenced block of the page."""
    found = []
    for lang, info, text in FENCE.findall(PAGE.read_text()):
        name = re.search(r"file=(\S+)", info)
        found.append((lang, name.group(1) if name else "", text))
    return found


def test_the_page_links_from_the_readme_first_screen() -> None:
    first_screen = "\n".join((REPO / "README.md").read_text().splitlines()[:30])
    assert "docs/your-activation.md" in first_screen


def test_your_activation_page_runs(mlruns: Path, tmp_path: Path, capsys) -> None:
    files = [(name, text) for _, name, text in blocks() if name]
    assert [n for n, _ in files] == ["myacts.py", "digits_snake.yaml", "snake_sweep.yaml"]
    for name, text in files:
        (tmp_path / name).write_text(text)
    commands = [
        shlex.split(line)
        for lang, name, text in blocks()
        if lang == "bash" and not name
        for line in text.splitlines()
        if line.startswith("actlab ")
    ]
    assert [c[1] for c in commands] == ["activations", "fit", "sweep", "report", "report"]
    for command in commands:
        args = [a for a in command[1:] if a not in ("--workers", "2")]
        assert run_actlab([*args, *SHORT.get(args[0], [])]) == 0, (command, capsys.readouterr())
        if args[0] == "activations":
            out = capsys.readouterr().out
            assert re.search(r"myacts\.Snake +import path +yes +channels=<site's channels>", out)
            assert re.search(r"myacts:SquarePlus +import path +no +b=4\.0", out)

    digest = hashlib.sha256((tmp_path / "myacts.py").read_bytes()).hexdigest()
    client = MlflowClient(tracking_uri(mlruns))
    summaries = {
        e.experiment_id for e in client.search_experiments() if e.name.endswith("-summary")
    }
    runs = [r for r in all_runs(tracking_uri(mlruns)) if r.info.experiment_id not in summaries]
    assert summaries, "report --html logs the page to <experiment>-summary"
    snakes = [r for r in runs if r.data.params.get("model.activation_class") == "myacts.Snake"]
    assert len(snakes) == 2, [r.data.tags.get("activation") for r in runs]  # the fit, the sweep
    assert {r.data.tags["activation"] for r in runs} == {
        "myacts.Snake(alpha=0.5)", "relu",
    }  # fmt: skip
    for run in snakes:
        assert run.info.status == "FINISHED"
        assert run.data.params["model.activation_origin"] == "import path"
        assert run.data.tags["activation_source_sha256"] == digest
        assert run.data.tags["activation_trainable"] == "true"
        alphas = [k for k in run.data.metrics if re.fullmatch(r"z_act/\d+\..+/alpha_mean", k)]
        assert len(alphas) == 4, sorted(run.data.metrics)
        local = client.download_artifacts(
            run.info.run_id, "activation_params/final.npz", str(tmp_path)
        )
        arrays = np.load(io.BytesIO(Path(local).read_bytes()))
        assert sorted(a.shape for a in arrays.values()) == [(16,), (16,), (32,), (32,)]
        images = [a.path for a in client.list_artifacts(run.info.run_id, "images")]
        assert any("act_curves" in p for p in images) and not any("scatter" in p for p in images)
    html = (tmp_path / "report.html").read_text()
    assert "learned activation shapes of every run of snake" in html and "fixed activation" in html
