"""Freed heap memory goes back to the system: the worker's RSS is not its high-water mark."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import pytest

from streams.ops import memory

PROGRAM = """
import os
from streams.hotlists.columns import release_free_memory

def rss_mb():
    return int(open(f"/proc/{os.getpid()}/statm").read().split()[1]) * 4096 >> 20

blocks = [bytearray(2000) for _ in range(150_000)]  # about 300 MB of heap, as a batch or a catch-up leaves
kept = blocks[::50]  # a few survivors pin the heap's top: glibc alone returns nothing below them
del blocks
before = rss_mb()
released = release_free_memory()
print(before, rss_mb(), released)
"""


def test_freed_heap_memory_is_given_back() -> None:
    out = subprocess.run([sys.executable, "-c", PROGRAM], capture_output=True, text=True, check=True).stdout
    before, after, released = out.split()
    assert released == "True"  # glibc, as on the machines the worker runs on
    assert int(before) > 250 and int(after) < int(before) - 150, out


@pytest.mark.parametrize("can_trim", [True, False])
async def test_the_worker_trims_every_period_and_never_ends_by_itself(
    can_trim: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The trim runs beside the worker's other tasks: one that ended (no malloc_trim, a trim that raised)
    would stop the worker."""
    calls: list[float] = []  # one per trim

    def trim() -> bool:
        calls.append(0.0)
        if len(calls) == 2:
            raise OSError("a failed trim")
        return can_trim

    monkeypatch.setattr(memory, "release_free_memory", trim)
    ready = asyncio.Event()
    task = asyncio.create_task(memory.release_free_memory_every(ready, every_s=0.01))
    await asyncio.sleep(0.05)
    assert calls == []  # not before the worker is ready
    ready.set()
    await asyncio.sleep(0.2)
    assert not task.done()
    assert len(calls) > 3 if can_trim else len(calls) == 1
    task.cancel()
