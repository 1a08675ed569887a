"""Logging set-up for every command: one format, and the Kafka client library kept to one line a while.

aiokafka logs every failed connection attempt at ERROR; a worker waiting for Kafka would print one
every backoff step. Its repeated messages pass at most once per `every_s` seconds (per message
template), so the log says that Kafka is unreachable without drowning everything else. One-shot
commands report the failure themselves in one line, so they hear from the library only with --debug.
"""

from __future__ import annotations

import logging
import time

LIBRARY_LOGGERS = ("aiokafka", "kafka", "librdkafka")


class OncePerInterval(logging.Filter):
    def __init__(self, every_s: float = 30.0) -> None:
        super().__init__()
        self.every_s = every_s
        self._last: dict[tuple[str, object], float] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        key = (record.name, record.msg)
        now = time.monotonic()
        if now - self._last.get(key, -self.every_s) < self.every_s:
            return False
        self._last[key] = now
        return True


def configure_logging(level: str = "WARNING", *, debug: bool = False, library: str = "quiet") -> None:
    """`library`: "quiet" (only with --debug), or "throttled" (services: once per interval)."""
    logging.basicConfig(
        level=logging.DEBUG if debug else level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True
    )
    for name in LIBRARY_LOGGERS:
        lib = logging.getLogger(name)
        if debug:
            lib.setLevel(logging.DEBUG)
        elif library == "quiet":
            lib.setLevel(logging.CRITICAL + 1)
        else:
            lib.setLevel(logging.WARNING)
            lib.addFilter(OncePerInterval())
