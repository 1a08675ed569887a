"""confluent-kafka (librdkafka) Messages as the pipeline's `ConsumedRecord`s, and delivery reports."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from itertools import repeat
from operator import is_not
from typing import Any, NamedTuple

import numpy as np

from streams.pipeline.batch import Computed
from streams.pipeline.counts import InputRange

# librdkafka's "partition end reached" event: information, not an error (off by default)
PARTITION_EOF = -191


class ConsumeErrorLog:
    """Each kind of librdkafka error once per `seconds`: with a broker down, every consume returns one."""

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


class ConsumedMessages(NamedTuple):
    """A consumed batch: its records, their values and topics as columns, the offsets they span per
    partition, and the errors the batch carried (consume returns both)."""

    records: Computed[Any, RdRecord]  # each Message wrapped when looked at (hits and dead letters)
    values: list[bytes | None]
    topics: list[str]
    ranges: list[InputRange]
    errors: list[Any]


def split_messages(messages: Sequence[Any]) -> ConsumedMessages:
    """Records, columns, ranges and errors of what `consume` returned: each column one pass of the
    Message method over the batch, in C (`map`), and the ranges computed with numpy, not a Python loop
    over the batch."""
    if not messages:
        return ConsumedMessages(Computed(messages, RdRecord), [], [], [], [])
    cls = type(messages[0])  # confluent_kafka.Message: its methods, called on each message by map
    if any(map(is_not, map(cls.error, messages), repeat(None))):
        errors = [m.error() for m in messages]
        messages = [m for m, e in zip(messages, errors, strict=True) if e is None]
        errors = [e for e in errors if e is not None and e.code() != PARTITION_EOF]
    else:
        errors = []
    topics: list[str] = list(map(cls.topic, messages))
    ranges: list[InputRange] = []
    if messages:
        names = list(dict.fromkeys(topics))
        n = len(messages)
        # a partition of a topic, as one integer: the topic's position, then the partition
        where = np.fromiter(map(cls.partition, messages), np.int64, n)
        if len(names) > 1:
            where |= np.fromiter(map(names.index, topics), np.int64, n) << 32
        offsets = np.fromiter(map(cls.offset, messages), np.int64, n)
        for key in np.unique(where).tolist():
            spanned = offsets[where == key]  # in offset order: consume keeps a partition's order
            ranges.append(
                InputRange(names[key >> 32], key & 0xFFFFFFFF, int(spanned[0]), int(spanned[-1]), len(spanned))
            )
    return ConsumedMessages(Computed(messages, RdRecord), list(map(cls.value, messages)), topics, ranges, errors)
