"""Lightning's console log under pytest's capture (test infrastructure, not actlab's).

``import lightning`` binds a console handler to the ``sys.stderr`` of that moment; pytest
replaces and closes that stream around each test, so the next Lightning log record of an
in-process CLI run failed with ``ValueError: I/O operation on closed file``. ``conftest.py``
routes Lightning's handlers to whatever ``sys.stderr`` is when a record is emitted.
"""

from __future__ import annotations

import logging
import sys
from typing import Any


class CurrentStderrHandler(logging.StreamHandler):
    """A ``StreamHandler`` that writes to whatever ``sys.stderr`` is when a record is emitted.

    ``import lightning`` binds a console handler to the ``sys.stderr`` of that moment; when that
    stream is replaced and closed (each in-process run under pytest's capture), the next log
    record fails with ``ValueError: I/O operation on closed file``.
    """

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> Any:  # type: ignore[override]
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


def route_lightning_console() -> None:
    """Replace Lightning's console handlers by :class:`CurrentStderrHandler` (same level/format)."""
    for name in ("lightning", "lightning.pytorch", "lightning.fabric"):
        logger = logging.getLogger(name)
        for handler in list(logger.handlers):
            if type(handler) is logging.StreamHandler:
                routed = CurrentStderrHandler()
                routed.setLevel(handler.level)
                routed.setFormatter(handler.formatter)
                logger.removeHandler(handler)
                logger.addHandler(routed)
