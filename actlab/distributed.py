"""Guards for a run over several processes, checked before training starts.

- **Ranks die with their launcher.** A DDP rank started by Lightning's launcher or by
  ``torchrun`` asks Linux for ``SIGKILL`` when its parent exits (``PR_SET_PDEATHSIG``), so a
  killed launcher leaves no orphan ranks that train on or wait forever in a collective.
- **The rank count matches the launcher.** Under ``torchrun`` or ``srun`` the processes are
  started outside Lightning; ``trainer.devices × trainer.num_nodes`` must equal the launcher's
  world size (``WORLD_SIZE``, ``SLURM_NTASKS``), else each process would train alone or hang in
  the rendezvous.
- **No more CPU ranks than cores.** Every CPU DDP rank holds a whole model and its data loader;
  more ranks than cores only add memory and contention. Set ``ACTLAB_ALLOW_OVERSUBSCRIBE=1`` to
  start them anyway.

This module imports neither torch nor Lightning at module level: the sweep's run launcher calls
:func:`die_with_parent` before those imports.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from typing import Any

from actlab.errors import ActlabError

#: ``prctl`` option: the signal this process gets when its parent thread exits (linux/prctl.h).
PR_SET_PDEATHSIG = 1
#: Set to 1 to start more CPU DDP ranks than this machine has cores.
OVERSUBSCRIBE_ENV = "ACTLAB_ALLOW_OVERSUBSCRIBE"
#: Environment variable in which a process that starts a run passes its pid (see
#: :func:`die_with_parent`; read by :mod:`actlab.sweep.child`).
PARENT_PID_ENV = "ACTLAB_PARENT_PID"
#: Tag of the MLflow run: how many processes train it.
WORLD_SIZE_TAG = "world_size"


def die_with_parent(sig: int = signal.SIGKILL, parent: int | None = None) -> bool:
    """Have Linux send ``sig`` to this process when its parent exits; ``False`` where unsupported.

    Args:
        sig: the signal (``SIGKILL``: a rank cannot be stuck in a collective and ignore it).
        parent: the pid the parent had; if the parent already died (this process was
            re-parented before the request took effect), ``sig`` is sent at once.
    """
    if not sys.platform.startswith("linux"):
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) != 0:
        return False
    if parent is not None and os.getppid() != parent:
        os.kill(os.getpid(), sig)
    return True


def usable_cores() -> int:
    """CPU cores this process may run on (its affinity mask, else the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def external_launcher() -> tuple[str, int] | None:
    """``(launcher, world size)`` when ``torchrun`` or SLURM's ``srun`` started this process."""
    if "TORCHELASTIC_RUN_ID" in os.environ and "WORLD_SIZE" in os.environ:
        return "torchrun", int(os.environ["WORLD_SIZE"])
    from lightning.fabric.plugins.environments import SLURMEnvironment

    if SLURMEnvironment.detect() and "SLURM_NTASKS" in os.environ:
        return "srun", int(os.environ["SLURM_NTASKS"])
    return None


def check_world_size(devices: int, num_nodes: int, launcher: tuple[str, int] | None) -> None:
    """Raise :class:`ActlabError` when ``devices × num_nodes`` differs from the launcher's count."""
    if launcher is None:
        return
    name, world = launcher
    if devices * num_nodes == world:
        return
    hint = (
        f"--trainer.devices {world // num_nodes} --trainer.num_nodes {num_nodes}"
        if world % num_nodes == 0
        else f"--trainer.devices 1 --trainer.num_nodes {world}"
    )
    raise ActlabError(
        f"trainer.devices ({devices}) x trainer.num_nodes ({num_nodes}) = {devices * num_nodes} "
        f"processes, but {name} started {world}: set them to match, e.g. {hint} (devices = "
        "processes per node, num_nodes = nodes)"
    )


def check_cpu_ranks(ranks_per_node: int, cores: int | None = None) -> None:
    """Raise :class:`ActlabError` for more CPU ranks on a node than it has cores (unless forced)."""
    cores = cores or usable_cores()
    if ranks_per_node <= cores or os.environ.get(OVERSUBSCRIBE_ENV) == "1":
        return
    raise ActlabError(
        f"trainer.devices {ranks_per_node} starts {ranks_per_node} CPU processes (DDP ranks) on "
        f"a machine with {cores} cores: use at most --trainer.devices {cores}, or set "
        f"{OVERSUBSCRIBE_ENV}=1 to start them anyway"
    )


def guard_launch(trainer: Any) -> None:
    """The checks of this module for ``trainer``, before its fit starts; tags the world size.

    Called once per process (each DDP rank started by Lightning's launcher runs the CLI too).
    Raises :class:`ActlabError` (a one-line error) before any rank is launched.
    """
    from lightning.pytorch.accelerators import CPUAccelerator

    if "LOCAL_RANK" in os.environ:  # a rank started by Lightning's launcher or torchrun
        die_with_parent()
    devices, num_nodes = trainer.num_devices, trainer.num_nodes
    check_world_size(devices, num_nodes, external_launcher())
    if isinstance(trainer.accelerator, CPUAccelerator) and devices > 1:
        check_cpu_ranks(devices)
    for logger in trainer.loggers:
        tags = getattr(logger, "tags", None)
        if isinstance(tags, dict):
            logger.tags = {**tags, WORLD_SIZE_TAG: str(devices * num_nodes)}
