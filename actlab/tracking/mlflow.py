"""MLflow defaults: the local SQLite store under ``mlruns/`` and actlab's MLflow logger."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from lightning.pytorch.loggers import MLFlowLogger
from lightning.pytorch.loggers.logger import rank_zero_experiment
from lightning.pytorch.utilities import rank_zero_only

from actlab import compat
from actlab.tracking.naming import DESCRIPTION_TAG
from actlab.tracking.resilience import ResilientClient, is_outage, is_pending_run_id
from actlab.tracking.store import (  # noqa: F401  (MLRUNS_DIR: importable from here as before)
    DEFAULT_EXPERIMENT,
    MLRUNS_DIR,
    adopt_credentials,
    check_experiment_name,
    default_artifact_location,
    default_tracking_uri,
    mlruns_dir,
    spool_dir,
)

log = logging.getLogger(__name__)

#: Param values longer than this are cut (MLflow's limit is 6000 characters).
MAX_PARAM_LENGTH = 6000
#: Metrics in one ``log_batch`` at most (MLflow's limit).
MAX_BATCH_METRICS = 1000


#: Extra tries of ``log_inputs`` after losing the race to insert a dataset (see there).
DATASET_RACE_RETRIES = 3


def is_duplicate_dataset(err: BaseException) -> bool:
    """Whether ``err`` is the store refusing a second copy of a dataset another run inserted
    first (SQLite's or PostgreSQL's unique-key error, directly or from a tracking server)."""
    text = str(err)
    return "datasets" in text and ("UNIQUE constraint failed" in text or "duplicate key" in text)


def is_epoch_metric(key: str) -> bool:
    """Metrics logged once per epoch use the epoch as their MLflow step; ``*_step`` ones do not."""
    return not key.endswith("_step")


def actlab_logger(trainer: Any) -> ActlabMLFlowLogger | None:
    """The trainer's :class:`ActlabMLFlowLogger`, if it has one."""
    for logger in getattr(trainer, "loggers", ()):
        if isinstance(logger, ActlabMLFlowLogger):
            return logger
    return None


class ActlabMLFlowLogger(compat.MLFlowLoggerState, MLFlowLogger):
    """Lightning's MLflow logger with actlab's defaults.

    - The tracking URI is resolved when the logger is built (``MLFLOW_TRACKING_URI`` wins, else
      SQLite at ``mlruns/mlflow.db``); there is no file-store fallback.
    - Per-epoch metrics are logged with ``step = epoch`` so MLflow's charts line runs up by
      epoch; per-step metrics (``*_step``) keep the global step. Metrics are queued and written
      in one ``log_batch`` at each :meth:`flush` (the tracking callback flushes at the start and
      the end of every training epoch, after each test and when the run ends).
    - Checkpoints go to ``mlruns/<experiment id>/<run id>/checkpoints`` for every backend.
    - Writes survive a tracking-server outage: they are spooled under ``mlruns/spool/`` and sent
      when the server answers again (each epoch end, at the end of the run, or ``actlab sync``);
      for ``http(s)://`` URIs MLflow's HTTP retries are cut to seconds during actlab's own calls
      (see :func:`~actlab.tracking.resilience.http_settings`).
    - When the server is unreachable as the run is created, training goes on with a local
      *pending* run id (``pending-<hex>``, :attr:`pending`): everything, the run's creation
      included, is spooled; the run is created on the server and the spool sent at the first
      flush that reaches it (or by ``actlab sync``), and the logger then uses the server's id.
    - A run resumed with :meth:`resume` is marked ``RUNNING`` again, metrics already logged at a
      step are not logged twice, and params already logged are not logged again (a changed
      value is recorded as the tag ``resumed_param_changed.<key>``).

    Args:
        experiment_name: MLflow experiment of the run; when ``None`` the CLI names it after the
            config file (``quickstart`` for ``configs/quickstart.yaml``) or else the dataset,
            and a logger used without the CLI writes to ``actlab``.
        run_name: run name; when ``None`` the CLI names it ``<backbone>-<activation>-<dataset>``.
        tracking_uri: store or server URI; ``None`` resolves as described above.
        tags: extra run tags.
        artifact_location: artifact root of a newly created experiment.
        run_id: attach to this existing run instead of creating one.
        log_model: upload checkpoints as artifacts (see Lightning's ``MLFlowLogger``).
        description: the run's description (markdown, the run page's "Description"); when
            ``None`` the CLI takes the config file's header comment.
    """

    def __init__(
        self,
        experiment_name: str | None = None,
        run_name: str | None = None,
        tracking_uri: str | None = None,
        tags: dict[str, str | int | float | bool] | None = None,
        artifact_location: str | None = None,
        run_id: str | None = None,
        log_model: Literal[True, False, "all"] = False,
        description: str | None = None,
    ) -> None:
        uri = adopt_credentials(tracking_uri or default_tracking_uri())  # never in any output
        #: whether the experiment is still to be named (by :meth:`describe`).
        self._experiment_unnamed = experiment_name is None
        experiment_name = experiment_name or DEFAULT_EXPERIMENT
        self._explicit_artifact_location = artifact_location is not None
        super().__init__(
            experiment_name=experiment_name,
            run_name=run_name,
            tracking_uri=uri,
            tags={str(k): str(v) for k, v in (tags or {}).items()},  # a server takes strings only
            artifact_location=artifact_location or default_artifact_location(uri, experiment_name),
            run_id=run_id,
            log_model=log_model,
        )
        if description:
            self.tags = {**self.tags, DESCRIPTION_TAG: description}
        self._pl_mlflow_client = ResilientClient(self._pl_mlflow_client, uri)
        self._resumed = run_id is not None
        self._logged_steps: dict[str, set[int]] = {}
        #: metric steps waiting in the spool when the resumed run first looked (read once).
        self._spooled_steps: dict[str, set[int]] | None = None
        self._pending_id: str | None = run_id if is_pending_run_id(run_id) else None
        #: metrics logged since the last flush: one ``log_batch`` per flush, not one per call.
        self._metric_queue: list[Any] = []
        #: True while a successful end of fit must not end the run yet (see :meth:`finish`).
        self.defer_finish = False

    @property
    @rank_zero_experiment
    def experiment(self) -> Any:
        """The (spooling) MLflow client; a resumed run is marked ``RUNNING`` on first use."""
        client = self._pl_mlflow_client
        if self._pl_initialized:
            return client
        if is_pending_run_id(self._pl_run_id):  # resuming a run the server may not have yet
            self._pending_id = self._pl_run_id
            client.send(self._pl_run_id)
            self._pl_run_id = client.resolve(self._pl_run_id)
        if is_pending_run_id(self._pl_run_id):
            self._pl_initialized = True
        else:
            try:
                compat.create_mlflow_run(self)
            except Exception as err:  # noqa: BLE001 - an unreachable server is not fatal
                if not is_outage(err):
                    raise
                if self._pl_run_id is None:
                    self._start_pending_run()
                else:
                    log.warning(
                        "tracking server %s unreachable: run %s's writes are kept in %s",
                        self._pl_tracking_uri,
                        self._pl_run_id,
                        spool_dir(),
                    )
                client.offline = True
                self._pl_initialized = True
        if self._resumed:
            client.update_run(self._pl_run_id, status="RUNNING")
        return client

    def _start_pending_run(self) -> None:
        from mlflow.utils.mlflow_tags import MLFLOW_RUN_NAME

        tags = dict(self.tags or {})
        if self._pl_run_name is not None:
            tags[MLFLOW_RUN_NAME] = self._pl_run_name
        tags = compat.resolve_run_tags(tags)
        self._pl_run_id = self._pl_mlflow_client.create_pending_run(
            self._pl_experiment_name, self._pl_artifact_location, tags
        )
        self._pending_id = self._pl_run_id
        log.warning(
            "tracking server %s unreachable: training on; run %s is kept in %s and created on "
            "the server when it answers (or by `actlab sync`)",
            self._pl_tracking_uri,
            self._pl_run_id,
            spool_dir(),
        )

    @property
    def run_id(self) -> str | None:
        """The run's id: the server's, or ``pending-<hex>`` while the server has not created it."""
        _ = self.experiment
        if is_pending_run_id(self._pl_run_id):
            self._pl_run_id = self._pl_mlflow_client.resolve(self._pl_run_id)
        return self._pl_run_id

    @property
    def pending(self) -> bool:
        """Whether the run is not created on the server yet (its writes wait in the spool)."""
        return is_pending_run_id(self.run_id)

    @property
    def run_name(self) -> str | None:
        """The run's name (``None`` until the CLI or the config names it)."""
        return self._pl_run_name

    @property
    def experiment_name(self) -> str:
        """The run's MLflow experiment."""
        return self._pl_experiment_name

    @property
    def name(self) -> str:
        """Experiment id (``pending`` while the server is unreachable): the checkpoint folder."""
        return self.experiment_id or "pending"

    def unsent_writes(self) -> int:
        """Writes still waiting in the spool after trying to send them now."""
        return self.flush()

    @rank_zero_only
    def finish(self) -> None:
        """End the run ``FINISHED`` now that everything it logs is logged.

        ``actlab fit`` sets :attr:`defer_finish` before training: Lightning ends a logger's run
        when ``trainer.fit`` returns, but the CLI then tests the final and best weights into the
        same run. A fit killed during those tests must not leave a ``FINISHED`` run without test
        metrics (a sweep would skip it as done), so the run stays ``RUNNING`` until this call.
        A failure on the way still ends it ``FAILED`` (:meth:`finalize` never defers that).
        """
        self.defer_finish = False
        self.finalize("success")

    def resume(self, run_id: str) -> None:
        """Continue the existing run ``run_id`` (before the run is first used)."""
        if self._pl_initialized and self._pl_run_id != run_id:
            msg = f"cannot resume run {run_id}: this logger already writes to run {self._pl_run_id}"
            raise RuntimeError(msg)
        self._pl_run_id = run_id
        self._resumed = True

    def is_run(self, run_id: str | None) -> bool:
        """Whether ``run_id`` names this logger's run (its pending id included)."""
        if run_id is None:
            return False
        return run_id in (self.run_id, self._pending_id) or (
            self._pl_mlflow_client.resolve(run_id) == self.run_id
        )

    def _spooled(self) -> tuple[dict[str, str], dict[str, set[int]]]:
        """Params and metric steps of this run still waiting in the spool."""
        params: dict[str, str] = {}
        steps: dict[str, set[int]] = {}
        for run_id in dict.fromkeys([self._pending_id, self.run_id]):
            if run_id is None:
                continue
            spooled_params, spooled_steps = self._pl_mlflow_client.spooled(run_id)
            params.update(spooled_params)
            for key, values in spooled_steps.items():
                steps.setdefault(key, set()).update(values)
        return params, steps

    @property
    def resumed(self) -> bool:
        """Whether this logger continues a run that existed before."""
        return self._resumed

    def flush(self) -> int:
        """Write the queued metrics, then send what a server outage left in the spool; returns
        how many writes are still unsent (rank 0; 0 elsewhere)."""
        if rank_zero_only.rank != 0:
            return 0
        if self._metric_queue:
            self.send_metrics()
        return self._pl_mlflow_client.flush()

    @rank_zero_only
    def log_image(self, image: Any, key: str, step: int) -> None:
        """Log an image (HxWxC ``uint8`` array) under ``key`` at ``step`` (MLflow's step slider)."""
        self.experiment.log_image(self.run_id, image, key=key.replace("/", "_"), step=step)

    @rank_zero_only
    def log_dict(self, dictionary: Any, artifact_file: str) -> None:
        """Log ``dictionary`` as the JSON or YAML artifact ``artifact_file``."""
        self.experiment.log_dict(self.run_id, dictionary, artifact_file)

    @rank_zero_only
    def log_inputs(self, datasets: list[Any]) -> None:
        """Record the run's datasets (``mlflow.entities.DatasetInput``): the UI's Dataset column.

        MLflow stores a dataset once per experiment: it looks for the dataset, then inserts it.
        Two runs of a sweep that log the same dataset at the same moment can both miss it and
        the second insert fails on the unique key (``UNIQUE constraint failed: datasets...``,
        seen with ``--workers 2``); the dataset then exists, so the write is tried again.
        """
        if not datasets:
            return
        for attempt in range(DATASET_RACE_RETRIES + 1):
            try:
                self.experiment.log_inputs(self.run_id, datasets)
                return
            except Exception as err:
                if attempt == DATASET_RACE_RETRIES or not is_duplicate_dataset(err):
                    raise
                time.sleep(0.1 * (attempt + 1))

    @rank_zero_only
    def log_text(self, text: str, artifact_file: str) -> None:
        """Log ``text`` as the artifact ``artifact_file``."""
        self.experiment.log_text(self.run_id, text, artifact_file)

    @rank_zero_only
    def log_artifact(self, local_path: str | Path, artifact_path: str | None = None) -> None:
        """Upload the local file ``local_path`` into the run's ``artifact_path`` folder."""
        self.experiment.log_artifact(self.run_id, str(local_path), artifact_path)

    @rank_zero_only
    def set_tags(self, tags: Mapping[str, Any]) -> None:
        """Set run tags."""
        from mlflow.entities import RunTag

        items = [RunTag(str(k), str(v)[:MAX_PARAM_LENGTH]) for k, v in tags.items()]
        if items:
            self.experiment.log_batch(run_id=self.run_id, tags=items)

    def _existing_params(self) -> dict[str, str]:
        params = self._spooled()[0]
        if self.pending:
            return params
        try:
            return {**params, **self.experiment.get_run(self.run_id).data.params}
        except Exception as err:  # noqa: BLE001 - unreachable server: what the spool has
            if not is_outage(err):
                raise
            return params

    @property
    def tracking_uri(self) -> str:
        """The resolved tracking URI."""
        return self._pl_tracking_uri

    @property
    def save_dir(self) -> str:
        """Local root for checkpoints: ``mlruns/`` whatever the tracking backend."""
        return str(mlruns_dir())

    def describe(
        self,
        run_name: str,
        tags: Mapping[str, str],
        experiment: str | None = None,
        description: str | None = None,
    ) -> None:
        """Name, tag, describe and place the run before it is created (no-op once it exists).

        ``run_name``, ``experiment`` and ``description`` apply only where the config gives
        none; ``tags`` set in the config win over these.
        """
        if self._pl_initialized or self._pl_run_id is not None:
            return
        if self._pl_run_name is None:
            self._pl_run_name = run_name
        if experiment and self._experiment_unnamed:
            self._pl_experiment_name = check_experiment_name(experiment)  # e.g. a config's stem
            self._experiment_unnamed = False
            if not self._explicit_artifact_location:
                self._pl_artifact_location = default_artifact_location(
                    self._pl_tracking_uri, experiment
                )
        if description:
            tags = {**tags, DESCRIPTION_TAG: description}
        self.tags = {**{k: str(v) for k, v in tags.items()}, **(self.tags or {})}

    @rank_zero_only
    def log_hyperparams(self, params: Mapping[str, Any] | Any) -> None:
        """Log flat params, values cut to MLflow's limit (Lightning cuts them at 250)."""
        from mlflow.entities import Param

        flat = compat.flatten_params(params)
        values = {k: str(v)[:MAX_PARAM_LENGTH] for k, v in flat.items()}
        existing = self._existing_params()
        changed = {k: v for k, v in values.items() if k in existing and existing[k] != v}
        if changed:
            log.warning("resumed run %s: params changed: %s", self.run_id, sorted(changed))
            tags = {
                f"resumed_param_changed.{k}": f"{existing[k]} -> {v}" for k, v in changed.items()
            }
            self.set_tags(tags)
        items = [Param(key=k, value=v) for k, v in values.items() if k not in existing]
        for start in range(0, len(items), 100):
            self.experiment.log_batch(run_id=self.run_id, params=items[start : start + 100])

    @rank_zero_only
    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        """Log ``metrics``; epoch-level keys get ``step = epoch``, ``*_step`` keys the global step."""
        metrics = dict(metrics)
        epoch = metrics.pop("epoch", None)
        per_step = {k: v for k, v in metrics.items() if not is_epoch_metric(k)}
        per_epoch = {k: v for k, v in metrics.items() if is_epoch_metric(k)}
        if per_step:
            self._log_new(per_step, step)
        if per_epoch:
            self._log_new(per_epoch, int(epoch) if epoch is not None else step)

    def _log_new(self, metrics: dict[str, float], step: int | None) -> None:
        """Queue ``metrics`` at ``step``, skipping keys a resumed run already has at that step."""
        from mlflow.entities import Metric

        if self._resumed:
            metrics = {k: v for k, v in metrics.items() if (step or 0) not in self._steps_of(k)}
            for key in metrics:
                self._logged_steps[key].add(step or 0)
        now = int(time.time() * 1000)
        for key, value in metrics.items():
            if isinstance(value, str):
                log.warning("discarding metric %s with the string value %r", key, value)
                continue
            self._metric_queue.append(Metric(key, float(value), now, step or 0))
        if len(self._metric_queue) >= MAX_BATCH_METRICS:
            self.send_metrics()

    def send_metrics(self) -> None:
        """Write the queued metrics, as few ``log_batch`` calls as MLflow allows."""
        queued, self._metric_queue = self._metric_queue, []
        for start in range(0, len(queued), MAX_BATCH_METRICS):
            self.experiment.log_batch(
                run_id=self.run_id, metrics=queued[start : start + MAX_BATCH_METRICS]
            )

    def _steps_of(self, key: str) -> set[int]:
        """Steps at which the run has ``key``: on the server and waiting in the spool."""
        if key not in self._logged_steps:
            if self._spooled_steps is None:
                self._spooled_steps = self._spooled()[1]
            steps = set(self._spooled_steps.get(key, ()))
            if not self.pending:
                try:
                    history = self.experiment.get_metric_history(self.run_id, key)
                except Exception as err:  # noqa: BLE001 - unreachable server: the spool's
                    if not is_outage(err):
                        raise
                    history = []
                steps |= {m.step for m in history}
            self._logged_steps[key] = steps
        return self._logged_steps[key]

    @rank_zero_only
    def finalize(self, status: str = "success") -> None:
        """Send the spool, then end the run ``FINISHED`` (or ``FAILED`` after an exception)."""
        if not self._pl_initialized:
            return
        status = {"success": "FINISHED", "finished": "FINISHED", "failed": "FAILED"}.get(
            status, status
        )
        compat.log_checkpoints(self)
        self.flush()
        if status == "FINISHED" and self.defer_finish:
            return  # the tests after fit still write to this run: :meth:`finish` ends it
        self.experiment.set_terminated(self.run_id, status)
        left = self.flush()
        if left:
            log.warning(
                "tracking server %s unreachable: %d writes of run %s%s kept in %s; "
                "send them with `actlab sync`",
                self.tracking_uri,
                left,
                self.run_id,
                " (not created on the server yet)" if self.pending else "",
                spool_dir(),
            )
