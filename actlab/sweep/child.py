"""``python -m actlab.sweep.child ARGS``: ``actlab ARGS`` that dies with the process that started it.

A sweep's run started as a plain subprocess (``--no-fork-server``, and every run of the Ray
backend) goes through here: before the heavy imports, the process asks Linux for ``SIGKILL``
when its parent exits (:func:`actlab.distributed.die_with_parent`), so a run never outlives
the runner or the Ray worker that started it, even when those are killed without a chance to
clean up. The parent passes its pid in :data:`PARENT_ENV` to close the race of dying first.
"""

from __future__ import annotations

import os
import sys

from actlab.distributed import die_with_parent

#: The starting process's pid.
PARENT_ENV = "ACTLAB_PARENT_PID"


def command(args: list[str]) -> list[str]:
    """The command line that runs ``actlab ARGS`` this way."""
    return [sys.executable, "-m", "actlab.sweep.child", *args]


def _main() -> None:
    parent = os.environ.pop(PARENT_ENV, "")
    die_with_parent(parent=int(parent) if parent.isdigit() else None)
    from actlab.cli import main

    main()


if __name__ == "__main__":
    _main()
