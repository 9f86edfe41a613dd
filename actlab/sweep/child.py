"""``python -m actlab.sweep.child ARGS``: ``actlab ARGS`` that dies with the process that started it.

A sweep's run started as a plain subprocess (``--no-fork-server``, and every run of the Ray
backend) goes through here: before the heavy imports, the process asks Linux for ``SIGKILL``
when its parent exits (:func:`actlab.distributed.die_with_parent`), so a run never outlives
the runner or the Ray worker that started it, even when those are killed without a chance to
clean up. The parent passes its pid in ``ACTLAB_PARENT_PID`` to close the race of dying first.
Lightning's DDP launcher re-runs this module for each further rank, which then dies with rank 0.
"""

from __future__ import annotations

import os

from actlab.distributed import PARENT_PID_ENV, die_with_parent


def _main() -> None:
    parent = os.environ.pop(PARENT_PID_ENV, "")
    die_with_parent(parent=int(parent) if parent.isdigit() else None)
    from actlab.cli import main

    main()


if __name__ == "__main__":
    _main()
