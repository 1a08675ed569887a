"""Memory the worker has freed, given back to the system: once it is ready, then every minute.

glibc's malloc keeps the memory a process frees for its next allocations and returns only what is free
at the top of its heap. The replica hands back what its catch-up freed when it has loaded the index
(`hotlists.columns.release_free_memory`); more is freed after that (the catch-up's consumer, then every
batch of reads), below live objects. Measured on a worker that had caught up on 10M entries and
drained 1.3M reads: 504 MB RSS, 416 MB after one `malloc_trim(0)`.
"""

from __future__ import annotations

import asyncio
import logging

from streams.hotlists.columns import release_free_memory

log = logging.getLogger(__name__)

TRIM_EVERY_S = 60.0  # a trim takes a few ms (about 30 ms for 270 MB freed), on a thread of its own


async def release_free_memory_every(ready: asyncio.Event, every_s: float = TRIM_EVERY_S) -> None:
    """Once `ready` (the replica caught up and its catch-up consumer closed), then every `every_s`, off
    the event loop. Runs until cancelled, like the worker's other tasks (one that ended would stop the
    worker), also where the C library cannot trim or a trim fails."""
    await ready.wait()
    while True:
        try:
            if not await asyncio.to_thread(release_free_memory):
                log.debug("no malloc_trim in this C library: freed memory stays with the process")
                await asyncio.Event().wait()  # until cancelled
        except Exception as exc:  # never the worker's end
            log.warning("giving freed memory back failed (%s)", type(exc).__name__)
        await asyncio.sleep(every_s)
