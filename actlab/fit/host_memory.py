"""Keep the memory a training step frees in the process, so the next step does not fault it back in.

glibc's ``malloc`` hands large blocks back to the kernel when they are freed: blocks above its
mmap threshold (128 KiB, rising with use to at most 32 MiB) are unmapped, and a heap whose free
top exceeds the trim threshold is shrunk. A CPU training step frees every activation and gradient
it made (2-6 MiB each on 004 §4.2's net), so the next step maps them again and the kernel zeroes
every page on first touch. Measured on 004 §4.2's Fashion-MNIST fit (``benchmarks/fit_cost.py
--epochs 3 --activation relu``, one run each): 698 minor page faults and 1.84 ms of system CPU time
per training step with glibc's defaults, 1 and 0.12 ms with :func:`keep_freed_memory`; the
training steps took 44.5 CPU s instead of 48.6. (A bare loop of those steps faulted 2,000-4,000
times a step; how much glibc returns depends on the process's history.)

What it costs: the process keeps its peak (a training process reaches it every step anyway);
:mod:`~actlab.cli.training` calls it for ``actlab fit``/``validate``/``test``/``predict``, not
for the light commands. It does nothing outside glibc (``mallopt`` is glibc's), nor where the user
tuned glibc's allocator through its own ``MALLOC_*_`` variables, nor with
``ACTLAB_KEEP_FREED_MEMORY=0``.
"""

from __future__ import annotations

import ctypes
import functools
import os

#: glibc's ``mallopt`` parameters (malloc.h).
M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_MAX = -1, -2, -4
#: what :func:`keep_freed_memory` sets: no block is mapped on its own (so none is unmapped when
#: freed), the heap is never shrunk below 2 GiB of free top, and grows 64 MiB at a time.
SETTINGS = {M_MMAP_MAX: 0, M_TRIM_THRESHOLD: 2**31 - 1, M_TOP_PAD: 64 * 2**20}
#: glibc's own settings of its allocator; any of them set means the user chose.
GLIBC_VARIABLES = (
    "MALLOC_MMAP_MAX_",
    "MALLOC_TRIM_THRESHOLD_",
    "MALLOC_TOP_PAD_",
    "MALLOC_MMAP_THRESHOLD_",
    "GLIBC_TUNABLES",
)


@functools.cache
def keep_freed_memory() -> bool:
    """Set glibc's allocator to keep freed memory (see the module docstring), once per process;
    returns whether the settings are in force."""
    if os.environ.get("ACTLAB_KEEP_FREED_MEMORY", "1") == "0":
        return False
    if any(name in os.environ for name in GLIBC_VARIABLES):
        return False
    try:
        libc = ctypes.CDLL(None)  # the process's own symbols, libc's among them
        mallopt = libc.mallopt
        libc.gnu_get_libc_version  # noqa: B018 - glibc's, absent from musl (whose mallopt does nothing)
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return all(mallopt(param, value) == 1 for param, value in SETTINGS.items())
