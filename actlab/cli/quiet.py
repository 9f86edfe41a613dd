"""Third-party notices that say nothing to an actlab user, silenced where they come from.

Each filter names the one message and the module that issues it, so a warning from the user's
own code (or any other library) still shows. :func:`quiet_third_party` installs them once per
process; calling it again changes nothing.
"""

from __future__ import annotations

import logging
import warnings

#: (message regex, category, issuing module regex) of the warnings filtered out.
WARNINGS: tuple[tuple[str, type[Warning], str], ...] = (
    # Lightning's own pytree helper builds torch's deprecated LeafSpec (torch >= 2.10); printed
    # at every fit, validate and test of every run. Nothing a user can change.
    (
        r"`isinstance\(treespec, LeafSpec\)` is deprecated",
        FutureWarning,
        r"lightning\.pytorch\.utilities\._pytree",
    ),
    # actlab hands LightningCLI its command line on purpose (a packaged config's name resolved).
    (
        r"LightningCLI's args parameter is intended to run from within Python",
        UserWarning,
        r"lightning\.pytorch\.cli",
    ),
)

#: (logger, message prefix) of the log records dropped: Lightning's advertisement at each fit.
LOG_RECORDS: tuple[tuple[str, str], ...] = (
    ("lightning.pytorch.utilities.rank_zero", "💡 Tip: For seamless cloud logging"),
)


#: (logger, text) of the log records dropped when their message holds the text: MLflow's error,
#: with the SQL and a traceback, at each write to a SQLite store on a full disk. actlab says it in
#: one line (the spool's warning, and the fit's last line, exit 74).
LOG_RECORDS_HOLDING: tuple[tuple[str, str], ...] = (
    ("mlflow.store.db.utils", "database or disk is full"),
)


class DropHolding(logging.Filter):
    """Drops the records of one logger whose formatted message holds ``text``."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text

    def filter(self, record: logging.LogRecord) -> bool:
        return self.text not in record.getMessage()


class DropPrefix(logging.Filter):
    """Drops the records of one logger whose message starts with ``prefix``."""

    def __init__(self, prefix: str) -> None:
        super().__init__()
        self.prefix = prefix

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(self.prefix)


def quiet_third_party() -> None:
    """Install the filters of :data:`WARNINGS`, :data:`LOG_RECORDS` and
    :data:`LOG_RECORDS_HOLDING` (once per process)."""
    for message, category, module in WARNINGS:
        if not any(f[1] and f[1].pattern == message for f in warnings.filters):
            warnings.filterwarnings("ignore", message=message, category=category, module=module)
    for name, prefix in LOG_RECORDS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, DropPrefix) and f.prefix == prefix for f in logger.filters):
            logger.addFilter(DropPrefix(prefix))
    for name, text in LOG_RECORDS_HOLDING:
        logger = logging.getLogger(name)
        if not any(isinstance(f, DropHolding) and f.text == text for f in logger.filters):
            logger.addFilter(DropHolding(text))
