"""The test suite's own workaround: Lightning's console log follows pytest's captured stderr."""

from __future__ import annotations


def test_lightning_console_log_follows_the_current_stderr(capsys) -> None:
    """``import lightning`` binds a handler to the stderr of that moment; in-process runs under
    pytest replace and close that stream, and the next record failed with ``I/O operation on
    closed file`` (the in-process CLI tests' flake)."""
    import io
    import logging

    from tests.console import route_lightning_console

    logger = logging.getLogger("lightning")
    before = list(logger.handlers)
    stale = io.StringIO()
    logger.addHandler(logging.StreamHandler(stale))
    stale.close()
    try:
        route_lightning_console()
        logging.getLogger("lightning.pytorch.test").warning("still printed")
    finally:
        logger.handlers[:] = before
    err = capsys.readouterr().err
    assert "still printed" in err and "Logging error" not in err
