"""What ``actlab fit`` prints when it is done: test accuracy, best validation epoch, the run."""

from __future__ import annotations

from typing import Any

from rich.console import Console

from actlab.tracking.callback import TrackingCallback
from actlab.tracking.mlflow import ActlabMLFlowLogger, actlab_logger
from actlab.tracking.store import redact_credentials, spool_dir


def print_summary(
    trainer: Any, test_metrics: dict[str, float], best_metrics: dict[str, float] | None = None
) -> None:
    """Print test accuracy (final and best checkpoint), the best validation epoch, the MLflow
    run id and how to open the UI (rank 0 only)."""
    if not trainer.is_global_zero:
        return
    console = Console(stderr=False)
    acc = test_metrics.get("test/acc")
    console.print()
    if acc is not None:
        loss = test_metrics.get("test/loss", float("nan"))
        console.print(f"[bold]test accuracy[/bold] {acc:.4f}   test loss {loss:.4f}")
    tracking = next((c for c in trainer.callbacks if isinstance(c, TrackingCallback)), None)
    best_val = _best_validation(trainer, tracking)
    if best_val is not None:
        console.print(f"[bold]best val accuracy[/bold] {best_val[0]:.4f} at epoch {best_val[1]}")
    best_acc = (best_metrics or {}).get("test_best/acc")
    if best_acc is not None:
        console.print(f"[bold]test accuracy of the best checkpoint[/bold] {best_acc:.4f}")
    logger = actlab_logger(trainer)
    if logger is not None:
        print_run(console, logger)


def run_name(logger: ActlabMLFlowLogger) -> str:
    """The run's name: the one given when it was created, else the store's (a resumed run)."""
    name = logger.run_name
    if name:
        return str(name)
    if logger.pending:
        return "pending"
    try:
        return str(logger.experiment.get_run(logger.run_id).info.run_name or "unnamed")
    except Exception:  # noqa: BLE001 - a summary line is not worth failing for
        return "unnamed"


def print_run(console: Console, logger: ActlabMLFlowLogger) -> None:
    """Where the run is: its id and store, or what is still waiting for the tracking server."""
    from actlab.tracking import links

    left = logger.unsent_writes()
    name, uri = run_name(logger), redact_credentials(logger.tracking_uri)
    if logger.pending:
        console.print(
            f"[bold yellow]MLflow run PENDING[/bold yellow] {logger.run_id}  ({name}): "
            f"the tracking server {uri} was unreachable, so the run is not created there yet; "
            f"everything it logged is kept in {spool_dir()}"
        )
        console.print(
            "when the server is back, run [bold]actlab sync[/bold] to create the run and send it"
        )
        return
    console.print(f"[bold]MLflow run[/bold] {logger.run_id}  ({name}) in {uri}", soft_wrap=True)
    if left:
        console.print(
            f"[bold yellow]{left} writes[/bold yellow] could not reach {uri} and are kept in "
            f"{spool_dir()}: send them with [bold]actlab sync[/bold] when the server is back"
        )
    url = links.run_url(links.ui_url(uri), logger.experiment_id, logger.run_id)
    console.print(f"[bold]open the run[/bold] {url}{links.ui_hint(uri)}", soft_wrap=True)


def _best_validation(trainer: Any, tracking: TrackingCallback | None) -> tuple[float, int] | None:
    """Best ``val/acc`` and its epoch: from the callback, or the run (``ddp_spawn`` workers)."""
    if tracking is not None and tracking.best_acc is not None and tracking.best_epoch is not None:
        return tracking.best_acc, tracking.best_epoch
    logger = actlab_logger(trainer)
    if logger is None:
        return None
    try:
        metrics = logger.experiment.get_run(logger.run_id).data.metrics
    except Exception:  # noqa: BLE001 - a summary line is not worth failing for
        return None
    if "val/best_acc" in metrics and "val/best_epoch" in metrics:
        return metrics["val/best_acc"], int(metrics["val/best_epoch"])
    return None
