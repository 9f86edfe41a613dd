"""A fit keeps the memory its steps free (actlab/fit/host_memory.py): freeing and making again a
step's buffers costs no page faults, where glibc's defaults fault every page back in."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from actlab.cli import training
from actlab.fit import host_memory

#: a child that makes and frees a 48 MiB tensor (above glibc's largest mmap threshold, as the
#: activations of a large batch are) 17 times and prints the minor page faults of the last 7 (the
#: first steps grow the heap, which faults its new pages in once: 7 steps here).
FAULTS = textwrap.dedent(
    """
    import resource, sys, torch
    from actlab.fit.host_memory import keep_freed_memory
    if sys.argv[1] == "keep":
        assert keep_freed_memory()
    def step():
        torch.empty(12 * 2**20).fill_(1.0)  # 48 MiB, every page touched, then freed
    for _ in range(10):
        step()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(7):
        step()
    print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
    """
)


def _faults(mode: str) -> int:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MALLOC_", "GLIBC_TUNABLES"))}
    env.pop("ACTLAB_KEEP_FREED_MEMORY", None)
    out = subprocess.run(
        [sys.executable, "-c", FAULTS, mode], env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    return int(out.stdout.split()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator only")
def test_freed_buffers_come_back_without_page_faults() -> None:
    pages = 7 * 48 * 2**20 // os.sysconf("SC_PAGE_SIZE")
    default, kept = _faults("default"), _faults("keep")
    assert default > pages // 2, f"glibc's defaults faulted {default} times (expected ~{pages})"
    assert kept < pages // 100, f"{kept} page faults with the freed memory kept"


@pytest.mark.parametrize(
    "variable,value", [("ACTLAB_KEEP_FREED_MEMORY", "0"), ("MALLOC_TRIM_THRESHOLD_", "131072")]
)
def test_the_users_choice_is_left_alone(monkeypatch, variable: str, value: str) -> None:
    host_memory.keep_freed_memory.cache_clear()  # a fit in this process may have applied it
    monkeypatch.setenv(variable, value)
    called = []
    monkeypatch.setattr(host_memory.ctypes, "CDLL", lambda *a: called.append(a))
    try:
        assert host_memory.keep_freed_memory() is False
        assert not called
    finally:
        host_memory.keep_freed_memory.cache_clear()  # the next fit here sets it again


def test_every_training_command_keeps_freed_memory(monkeypatch) -> None:
    calls = []
    monkeypatch.setattr(training, "keep_freed_memory", lambda: calls.append(1))
    with pytest.raises(SystemExit):
        training.run(["fit", "--config", "no-such-file.yaml"])
    assert calls == [1]
