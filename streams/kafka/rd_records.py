"""confluent-kafka (librdkafka) Messages as the pipeline's `ConsumedRecord`s, and delivery reports."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

from streams.pipeline.counts import InputRange

# librdkafka's "partition end reached" event: information, not an error (off by default)
PARTITION_EOF = -191


class ConsumeErrorLog:
    """Each kind of consume error once per `seconds`: with a broker down, every consume returns one."""

    def __init__(self, logger: logging.Logger, what: str, seconds: float = 30.0) -> None:
        self.logger, self.what, self.seconds = logger, what, seconds
        self.last: dict[int, float] = {}  # error code: when last logged

    def __call__(self, err: Any) -> None:
        now = time.monotonic()
        if now - self.last.get(err.code(), -1e9) >= self.seconds:
            self.last[err.code()] = now
            self.logger.warning("%s: %s", self.what, err.str())


class RdRecord:
    """A Message as a ConsumedRecord: attributes read on demand (the pipeline reads `value` of every
    read, the rest only of hits and dead letters)."""

    __slots__ = ("_m",)

    def __init__(self, message: Any) -> None:
        self._m = message

    @property
    def value(self) -> bytes | None:
        value: bytes | None = self._m.value()
        return value

    @property
    def key(self) -> bytes | None:
        key: bytes | None = self._m.key()
        return key

    @property
    def topic(self) -> str:
        topic: str = self._m.topic()
        return topic

    @property
    def partition(self) -> int:
        partition: int = self._m.partition()
        return partition

    @property
    def offset(self) -> int:
        offset: int = self._m.offset()
        return offset

    @property
    def timestamp(self) -> int:
        timestamp: int = self._m.timestamp()[1]
        return timestamp


def split_messages(messages: Sequence[Any]) -> tuple[list[RdRecord], list[InputRange], list[Any]]:
    """The records of a consumed batch, the offsets they span per partition, and the errors the
    batch carried (consume returns both)."""
    records: list[RdRecord] = []
    errors: list[Any] = []
    spans: dict[tuple[str, int], list[int]] = {}  # first offset, last offset, count
    for m in messages:
        err = m.error()
        if err is not None:
            if err.code() != PARTITION_EOF:
                errors.append(err)
            continue
        records.append(RdRecord(m))
        key = (m.topic(), m.partition())
        span = spans.get(key)
        if span is None:
            offset = m.offset()
            spans[key] = [offset, offset, 1]
        else:
            span[1] = m.offset()
            span[2] += 1
    ranges = [InputRange(t, p, first, last, n) for (t, p), (first, last, n) in spans.items()]
    return records, ranges, errors
