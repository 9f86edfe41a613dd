"""What a run is in MLflow: true and short params, its tags, name, description, experiment and
dataset inputs; and the tracking client's explicit, scoped calls."""

from __future__ import annotations

import ast
import os
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from actlab.sweep.runner import run_config
from actlab.sweep.spec import SweepSpec
from actlab.tracking import naming
from actlab.tracking.config import run_params, trainer_defaults
from actlab.tracking.resilience import HTTP_DEFAULTS, ResilientClient, http_settings
from tests.helpers import CONFIGS, REPO, run_actlab, tracking_uri

QUICKSTART = CONFIGS / "quickstart.yaml"
SHORT = ["--trainer.max_epochs", "1", "--trainer.limit_train_batches", "2",
         "--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false"]  # fmt: skip


def only_run(mlruns: Path, experiment: str):
    client = MlflowClient(tracking_uri(mlruns))
    (run,) = client.search_runs([client.get_experiment_by_name(experiment).experiment_id])
    return client, run


def test_quickstart_run_has_the_values_it_used_and_few_params(mlruns: Path) -> None:
    assert run_actlab(["fit", "--config", str(QUICKSTART), *SHORT]) == 0
    client, run = only_run(mlruns, "quickstart")  # named after the config file
    params, tags = run.data.params, run.data.tags
    # The values linked from WDBC, not the class defaults (10, (1, 28, 28)).
    assert params["model.num_classes"] == "2"
    assert params["model.input_shape"] == "[30]"
    # No activation swapped: the backbone's own, as the tag says (was "None").
    assert params["model.activation"] == tags["activation"] == "relu"
    assert params["model.activation_swapped"] == "False"
    assert params["model.optimizer.lr"] == "0.001" and params["data.batch_size"] == "32"
    assert params["tracking.confusion_every_n_epochs"] == "5"
    # Trainer: only what differs from Lightning's defaults.
    trainer = {k.split(".", 1)[1] for k in params if k.startswith("trainer.")}
    assert trainer == {"max_epochs", "limit_train_batches", "accelerator", "log_every_n_steps",
                       "deterministic", "enable_progress_bar", "enable_model_summary"}  # fmt: skip
    # was 111, about 50 of them trainer defaults; 62 since weight_init and the fine-tuning options
    assert len(params) < 70, len(params)
    # Tags, name, description.
    assert {k: tags[k] for k in ("backbone", "activation", "head", "dataset", "seed")} == {
        "backbone": "mlp", "activation": "relu", "head": "softmax", "dataset": "wdbc", "seed": "0"
    }  # fmt: skip
    assert "model" not in tags
    assert run.info.run_name == "mlp-relu-wdbc"
    assert tags[naming.DESCRIPTION_TAG].startswith("Quickstart: 003's WDBC FFNN")
    # One dataset input per split: the Dataset column and filter.
    inputs = {i.tags[0].value: i.dataset for i in run.inputs.dataset_inputs}
    assert sorted(inputs) == ["test", "train", "val"]
    assert {d.name for d in inputs.values()} == {"wdbc"}
    sizes = {split: eval(d.profile)["num_rows"] for split, d in inputs.items()}  # noqa: S307
    assert sizes == {"train": 358, "val": 40, "test": 171}  # 569 samples, 30 % test, 10 % val


def test_a_split_seed_other_than_the_init_seed_is_tagged_too(mlruns: Path) -> None:
    """``--seed_everything 7`` tagged the run seed 7 while the data split kept seed 0."""
    args = ["fit", "--config", str(QUICKSTART), *SHORT, "--seed_everything", "7"]
    assert run_actlab(args) == 0
    _, run = only_run(mlruns, "quickstart")
    assert run.data.tags["seed"] == "7" and run.data.tags[naming.DATA_SEED_TAG] == "0"
    assert run.data.params["seed_everything"] == "7" and run.data.params["data.seed"] == "0"


def test_digits_with_a_swapped_activation_logs_its_shapes_and_resolved_spec(mlruns: Path) -> None:
    args = ["fit", "--config", str(QUICKSTART), *SHORT, "--data", "actlab.data.DigitsDataModule",
            "--model.activation", "cpaf_relu(k=2)"]  # fmt: skip
    assert run_actlab(args) == 0
    _, run = only_run(mlruns, "quickstart")
    params, tags = run.data.params, run.data.tags
    from actlab.data import DigitsDataModule

    assert params["model.num_classes"] == "10"
    assert params["model.input_shape"] == str(list(DigitsDataModule().input_shape))
    assert params["model.input_shape"] != "[1, 28, 28]"
    # The canonical spec of the swap (its defaults, k=2 among them, left out), not None.
    assert params["model.activation"] == tags["activation"] == "cpaf_relu"
    assert params["model.activation_swapped"] == "True"
    assert tags["dataset"] == "digits" and run.info.run_name.endswith("-digits")


def test_experiment_is_the_config_file_else_the_dataset_and_a_named_one_wins(
    tmp_path: Path,
) -> None:
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    assert naming.experiment_from(["configs/data/cifar10.yaml", "my_model.yaml"], "c") == "my_model"
    assert naming.experiment_from([], "wdbc") == "wdbc"
    from actlab.tracking.mlflow import ActlabMLFlowLogger

    named = ActlabMLFlowLogger(experiment_name="mine", tracking_uri=store)
    named.describe("r", {"backbone": "mlp"}, experiment="quickstart")
    assert named.experiment_name == "mine"
    unnamed = ActlabMLFlowLogger(tracking_uri=store, tags={"seed": "7"})
    assert unnamed.experiment_name == "actlab"  # without the CLI
    unnamed.describe("r", {"backbone": "mlp", "seed": "0"}, "quickstart", "about")
    assert unnamed.experiment_name == "quickstart" and unnamed.run_name == "r"
    assert unnamed._artifact_location.endswith("/artifacts/quickstart")
    assert unnamed.tags == {"backbone": "mlp", "seed": "7", naming.DESCRIPTION_TAG: "about"}


def test_header_comment_is_the_leading_comment_block(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("# First line.\n#   indented\n#\n# last\nseed_everything: 0\n# not this\n")
    assert naming.header_comment(path) == "First line.\n  indented\n\nlast"
    path.write_text("seed_everything: 0\n")
    assert naming.header_comment(path) == ""
    assert naming.description_from([path, QUICKSTART, path]).startswith("Quickstart")


def test_trainer_params_leave_lightning_defaults_out() -> None:
    defaults = trainer_defaults()
    config = {"trainer": {**defaults, "max_epochs": 3, "logger": {"class_path": "x"}},
              "model": {"class_path": "M", "init_args": {"head": "relu"}}}  # fmt: skip
    assert run_params(config) == {"trainer.max_epochs": 3, "model.class_path": "M",
                                  "model.head": "relu"}  # fmt: skip


def test_sweep_runs_are_named_from_axis_labels_and_seed_and_described(tmp_path: Path) -> None:
    base = tmp_path / "base.yaml"
    base.write_text("# The base of a sweep.\ntrainer: {max_epochs: 1}\n")
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text(
        "experiment: heads\nbase: base.yaml\nseeds: [0, 1]\n"
        "grid: {model.init_args.head: [softmax, relu]}\n"
    )
    spec = SweepSpec.load(sweep)
    names = []
    for run in spec.runs():
        logger = run_config(run, "heads", "heads")["trainer"]["logger"]["init_args"]
        names.append(logger["run_name"])
        assert logger["description"] == "The base of a sweep."
        assert logger["tags"]["seed"] == str(run.seed)
    # Runs that differ by head or seed are named apart (were all `mlp-relu-wdbc`).
    assert names == ["softmax seed0", "softmax seed1", "relu seed0", "relu seed1"]


class RecordingClient:
    """Records the calls and the HTTP settings MLflow would read during each."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, str | None]]] = []

    def __getattr__(self, name: str):
        def call(*args, **kwargs):
            self.calls.append((name, {k: os.environ.get(k) for k in HTTP_DEFAULTS}))

        return call


def test_http_settings_hold_only_during_actlab_calls(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in HTTP_DEFAULTS:
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "99")  # the user's choice wins
    recorder = RecordingClient()
    client = ResilientClient(recorder, "http://127.0.0.1:1")
    client.set_tag("r", "k", "v")
    client.get_run("r")
    expected = {**HTTP_DEFAULTS, "MLFLOW_HTTP_REQUEST_TIMEOUT": "99"}
    assert [c[1] for c in recorder.calls] == [expected, expected]
    assert {k: os.environ.get(k) for k in HTTP_DEFAULTS} == {
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": None, "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": None,
        "MLFLOW_HTTP_REQUEST_TIMEOUT": "99",
    }  # fmt: skip
    with http_settings(), http_settings():  # nested: set once, removed at the outer end
        assert os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] == "1"
    assert "MLFLOW_HTTP_REQUEST_MAX_RETRIES" not in os.environ
    local = ResilientClient(RecordingClient(), "sqlite:///x.db")
    local.set_tag("r", "k", "v")  # a local store: MLflow's settings untouched
    assert local._client.calls[0][1]["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] is None
    from actlab.tracking.mlflow import ActlabMLFlowLogger

    ActlabMLFlowLogger(tracking_uri="http://127.0.0.1:1")
    assert "MLFLOW_HTTP_REQUEST_MAX_RETRIES" not in os.environ  # not set for the process


def test_the_client_has_only_its_explicit_calls() -> None:
    client = ResilientClient(RecordingClient(), "sqlite:///x.db")
    with pytest.raises(AttributeError):
        client.delete_run  # noqa: B018 - not proxied: every call actlab makes is written out
    client.log_batch("r", metrics=[])
    assert client._client.calls[0][0] == "log_batch"


#: Modules `actlab report` and `actlab sync` import: no torch, Lightning, timm or matplotlib at
#: module level (they are imported inside the functions that draw or train).
LIGHT = ["actlab/report/command.py", "actlab/report/load.py", "actlab/report/table.py",
         "actlab/report/compare.py", "actlab/report/text.py", "actlab/report/render_text.py",
         "actlab/report/render_html.py", "actlab/report/curves.py",
         "actlab/tracking/resilience.py", "actlab/tracking/links.py",
         "actlab/tracking/naming.py", "actlab/tracking/store.py", "actlab/errors.py",
         "actlab/cli/__init__.py", "actlab/cli/commands.py", "actlab/cli/ui.py",
         "actlab/cli/parsing.py", "actlab/cli/sync.py", "actlab/cli/config_files.py",
         "actlab/report/stats.py", "actlab/sweep/spec.py", "actlab/yamlfile.py",
         "actlab/cli/early_options.py", "actlab/cli/packaged_configs.py",
         "actlab/tracking/tracked.py", "actlab/cli/argv.py", "actlab/config_keys.py"]  # fmt: skip
HEAVY = ("torch", "lightning", "timm", "matplotlib", "numpy")


def test_report_and_sync_modules_import_nothing_heavy_at_module_level() -> None:
    for path in LIGHT:
        tree = ast.parse((REPO / path).read_text())
        for node in tree.body:
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            for name in names:
                assert name.split(".")[0] not in HEAVY, (path, name)
                if name.startswith("actlab."):
                    module = name.replace(".", "/") + ".py"
                    assert module in LIGHT or name == "actlab.tracking", (path, name)


def test_two_runs_racing_to_insert_one_dataset_both_record_it(tmp_path: Path) -> None:
    """MLflow inserts a dataset once per experiment (look, then insert): two runs of a sweep that
    log the same dataset at once can both miss it, and the slower insert fails on the unique key
    (seen with --workers 2 in CI). The loser tries again and links the dataset the winner stored;
    any other error is not retried."""
    from mlflow.entities import Dataset, DatasetInput, InputTag
    from mlflow.exceptions import MlflowException

    from actlab.tracking.mlflow import ActlabMLFlowLogger

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    inputs = [DatasetInput(Dataset("wdbc", "d1g357", "code", "{}"), [InputTag("mlflow.data.context", "train")])]  # fmt: skip
    winner = ActlabMLFlowLogger(experiment_name="race", tracking_uri=uri)
    loser = ActlabMLFlowLogger(experiment_name="race", tracking_uri=uri)
    real = loser.experiment.log_inputs
    calls = []

    def lose_the_race_once(run_id: str, datasets: list) -> None:
        calls.append(run_id)
        if len(calls) == 1:  # the winner inserts it between our look and our insert
            winner.log_inputs(datasets)
            raise MlflowException(
                "(sqlite3.IntegrityError) UNIQUE constraint failed: datasets.experiment_id, "
                "datasets.name, datasets.digest"
            )
        real(run_id, datasets)

    loser.experiment.log_inputs = lose_the_race_once
    loser.log_inputs(inputs)
    client = MlflowClient(uri)
    for logger in (winner, loser):
        (recorded,) = client.get_run(logger.run_id).inputs.dataset_inputs
        assert recorded.dataset.name == "wdbc" and recorded.dataset.digest == "d1g357"
    assert len(calls) == 2

    def broken(run_id: str, datasets: list) -> None:
        calls.append(run_id)
        raise MlflowException("INVALID_PARAMETER_VALUE: something else")

    loser.experiment.log_inputs = broken
    calls.clear()
    with pytest.raises(MlflowException, match="something else"):
        loser.log_inputs(inputs)
    assert len(calls) == 1


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("x" * 300, "has 300 characters"),
        ("é" * 200, "makes an artifact folder name of 400 bytes"),
        ("two\nlines", "holds a newline or control character"),
        ("..", "makes the artifact folder '..'"),
    ],
)
def test_an_experiment_name_no_store_can_use_is_refused_before_anything_is_created(
    mlruns: Path, capsys: pytest.CaptureFixture, name: str, problem: str
) -> None:
    args = ["fit", "--config", str(QUICKSTART), *SHORT,
            "--trainer.logger.init_args.experiment_name", name]  # fmt: skip
    assert run_actlab(args) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("actlab: error: experiment name ") and problem in line
    assert "valid: 1 to 256 printable characters" in line
    assert not (mlruns / "mlflow.db").exists()


def test_a_sweep_experiment_name_no_store_can_use_is_refused(
    mlruns: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    sweep = tmp_path / "long.yaml"
    sweep.write_text(
        f"experiment: {'y' * 260}\nbase: {QUICKSTART}\nseeds: [1]\n"
        "grid:\n  model.init_args.head: [softmax]\n"
    )
    assert run_actlab(["sweep", str(sweep)]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "experiment name 'yyy" in line and "has 260 characters" in line
    assert not (mlruns / "mlflow.db").exists()


def test_the_longest_usable_experiment_name_is_accepted() -> None:
    from actlab.tracking.store import check_experiment_name

    assert check_experiment_name("z" * 255) == "z" * 255
