"""Reading an experiment's runs from MLflow for a report: one :class:`RunRecord` per run, its
replicate (seed, fold), and the runs a report counts (:func:`select_runs`)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from actlab.errors import ActlabError
from actlab.sweep.spec import run_identity


@dataclass
class RunRecord:
    """What the report needs from one MLflow run."""

    run_id: str
    tags: dict[str, str]
    params: dict[str, str]
    metrics: dict[str, float]
    status: str = "FINISHED"

    def field(self, name: str) -> str | None:
        """Value of field ``name``: tag ``axis.<name>``, tag ``<name>`` or param ``<name>``."""
        for source, key in ((self.tags, f"axis.{name}"), (self.tags, name), (self.params, name)):
            if key in source:
                return source[key]
        return None


#: Params that carry a run's seed or fold: they differ between the runs of a cell by design.
REPLICATE_PARAMS = ("seed_everything", "data.seed", "data.fold")
#: A run's replicate: its seed and fold (either may be unknown).
ReplicateKey = tuple[str | None, str | None]


def replicate_key(record: RunRecord) -> ReplicateKey | None:
    """``(seed, fold)`` of a run, from the fields ``seed`` and ``fold``, else the params
    ``seed_everything`` / ``data.seed`` and ``data.fold`` (only with ``data.folds`` set: the data
    modules log ``fold: 0`` without folds too); ``None`` when it has neither."""

    def known(value: str | None) -> str | None:
        return None if value in (None, "", "None", "null") else value

    seed = known(record.field("seed"))
    for name in ("seed_everything", "data.seed"):
        seed = seed or known(record.params.get(name))
    fold = known(record.field("fold"))
    if fold is None and known(record.params.get("data.folds")) is not None:
        fold = known(record.params.get("data.fold"))
    return None if seed is None and fold is None else (seed, fold)


def key_text(key: ReplicateKey | None) -> str:
    """``seed 3``, ``seed 3 fold 1``, or ``no seed``."""
    if key is None:
        return "no seed"
    seed, fold = key
    return " ".join(p for p in (seed and f"seed {seed}", fold and f"fold {fold}") if p)


def load_records(tracking_uri: str, experiment: str) -> list[RunRecord]:
    """Every run of ``experiment`` (oldest first), as :class:`RunRecord`."""
    from actlab.tracking.store import read_sqlite_runs

    stored = read_sqlite_runs(tracking_uri, experiment)  # a local store: no MLflow import
    if stored is not None:
        return [RunRecord(r.run_id, r.tags, r.params, r.metrics, r.status) for r in stored]
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri)
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        names = [e.name for e in client.search_experiments()]
        from actlab.errors import unknown_name_message

        raise ActlabError(unknown_name_message(f"experiment in {tracking_uri}", experiment, names))
    runs = client.search_runs(
        [exp.experiment_id], max_results=50000, order_by=["attributes.start_time ASC"]
    )
    return [
        RunRecord(
            r.info.run_id,
            dict(r.data.tags),
            dict(r.data.params),
            dict(r.data.metrics),
            r.info.status,
        )
        for r in runs
    ]


def select_runs(
    records: Sequence[RunRecord], grid: Collection[str] | None = None
) -> tuple[list[RunRecord], list[str]]:
    """The runs a report counts (oldest first), and one note per kind of run left out.

    With ``grid`` (the config hashes of a sweep file's current grid,
    :func:`actlab.sweep.resolve.grid_identities`) only runs whose tag ``config_hash`` is one of
    them are kept: runs of an edited grid, of ``--set`` trials, of another sweep file writing to
    the experiment and continued runs are left out and counted in one line. Of FINISHED runs
    with one identity (:func:`actlab.sweep.spec.run_identity`: config hash, seed and fold) only
    the newest counts.
    """
    notes = []
    kept = list(records)
    if grid is not None:
        kept = [r for r in records if r.tags.get("config_hash") in grid]
        other = len(records) - len(kept)
        if other:
            notes.append(
                f"{other} runs of other configurations not shown (not in the sweep file's "
                "current grid: an earlier grid, --set, another sweep file, continued runs)"
            )
    newest: dict[tuple[str, ...], RunRecord] = {}
    for record in kept:
        identity = run_identity(record.tags, record.params)
        if identity is not None and record.status == "FINISHED":
            newest[identity] = record  # oldest first: the last one is the newest
    counted = set(map(id, newest.values()))
    selected = [
        r
        for r in kept
        if r.status != "FINISHED" or run_identity(r.tags, r.params) is None or id(r) in counted
    ]
    duplicates = len(kept) - len(selected)
    if duplicates:
        notes.append(
            f"{duplicates} duplicate runs not counted: a configuration and seed FINISHED more than "
            "once counts once, its newest run"
        )
    return selected, notes
