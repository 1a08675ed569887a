"""librdkafka's blocking calls, one at a time, on a daemon thread of their own, awaited from asyncio.

A call may be given a deadline. One that overruns it is abandoned with its thread, and a new thread
takes the next calls. Deadlines exist because librdkafka's `send_offsets_to_transaction` can block
past its own timeout when the group coordinator goes away (librdkafka issues #5456 and #5511). The
thread is a daemon, so a call that never returns cannot keep the process from exiting.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")
_Job = tuple[asyncio.AbstractEventLoop, "asyncio.Future[Any]", Callable[..., Any], tuple[Any, ...]] | None


class LaneWedgedError(TimeoutError):
    """A blocking call overran its deadline; its thread was abandoned."""


class BlockingLane:
    def __init__(self, name: str) -> None:
        self.name = name
        self.abandoned = 0
        self._jobs: queue.SimpleQueue[_Job] = self._start()

    def _start(self) -> queue.SimpleQueue[_Job]:
        jobs: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        threading.Thread(target=_serve, args=(jobs,), name=self.name, daemon=True).start()
        return jobs

    async def call(self, fn: Callable[..., T], *args: Any, deadline: float | None = None) -> T:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._jobs.put((loop, future, fn, args))
        if deadline is None:
            return await future
        try:
            return await asyncio.wait_for(asyncio.shield(future), deadline)
        except TimeoutError:
            future.add_done_callback(_ignore)  # whatever the stuck call ends with, nobody waits for it
            self._jobs.put(None)  # the stuck thread ends if its call ever returns
            self._jobs = self._start()
            self.abandoned += 1
            raise LaneWedgedError(f"{getattr(fn, '__name__', 'a call')} blocked for more than {deadline:g}s") from None

    def close(self) -> None:
        self._jobs.put(None)


def _ignore(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()


def _serve(jobs: queue.SimpleQueue[_Job]) -> None:
    while (job := jobs.get()) is not None:
        loop, future, fn, args = job
        try:
            result = fn(*args)
        except BaseException as exc:  # handed to the awaiting coroutine, whatever it is
            _settle(loop, future, None, exc)
        else:
            _settle(loop, future, result, None)


def _settle(
    loop: asyncio.AbstractEventLoop, future: asyncio.Future[Any], result: Any, exc: BaseException | None
) -> None:
    def done() -> None:
        if future.done():
            return
        if exc is not None:
            future.set_exception(exc)
        else:
            future.set_result(result)

    if not loop.is_closed():
        loop.call_soon_threadsafe(done)
