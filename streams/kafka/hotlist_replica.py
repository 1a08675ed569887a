"""Every worker's copy of the hotlists: the whole compacted hotlist-updates topic, replayed into the index.

Catch-up replays the topic into one bulk load (a fresh worker of 10 million entries must not pay a
per-record index update): librdkafka reads it (hotlist_catch_up.py) and the records are decoded a
batch at a time into columns (update_batches.py). Afterwards aiokafka follows the topic and each record
is applied as it arrives. The worker takes no reads
until the replica has caught up with the end offsets it saw at start: a read matched against half a
hotlist would silently miss hits.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from streams.hotlists.columns import release_free_memory
from streams.hotlists.index import HotlistIndex
from streams.hotlists.update_batches import UpdateStager
from streams.hotlists.updates import UpdateError, apply_update
from streams.kafka.clients import KafkaClients
from streams.kafka.hotlist_catch_up import replay_to_end

log = logging.getLogger(__name__)


class HotlistReplica:
    def __init__(
        self,
        clients: KafkaClients,
        topic: str,
        index: HotlistIndex,
        on_applied: Callable[[int, int], None] = lambda applied, rejected: None,
    ) -> None:
        self.clients = clients
        self.topic = topic
        self.index = index
        self.on_applied = on_applied
        self.caught_up = asyncio.Event()
        self._consumer: AIOKafkaConsumer | None = None
        self._partitions: list[TopicPartition] = []
        self.catch_up_seconds: float | None = None
        self.records_replayed = 0
        self.uncommitted_records = 0

    async def connect(self) -> None:
        """Start the consumer (one attempt: the worker retries)."""
        if self._consumer is None:
            consumer = self.clients.consumer(
                group_id=None,
                enable_auto_commit=False,
                isolation_level="read_committed",  # a hotlist load counts once its transaction commits
                fetch_max_bytes=64 * 1024 * 1024,
                max_partition_fetch_bytes=16 * 1024 * 1024,
            )
            self._consumer = await self.clients.start(consumer, wait_s=0)

    async def find_topic(self) -> None:
        """Look up the topic's partitions; LookupError while it does not exist."""
        self._partitions = await self.clients.topic_partitions(self.topic)
        if not self._partitions:
            raise LookupError(f"topic {self.topic} does not exist: run `platewatch topics create`")

    async def stop(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()
            self._consumer = None

    async def run(self) -> None:
        """Catch up, then follow the topic until cancelled."""
        consumer = self._consumer
        assert consumer is not None
        started = time.monotonic()
        await self._catch_up(consumer, self._partitions or await self._find_partitions())
        self.catch_up_seconds = time.monotonic() - started
        log.info(
            "hotlist replica caught up: %d records, %d entries in %.1fs",
            self.records_replayed,
            len(self.index),
            self.catch_up_seconds,
        )
        self.caught_up.set()
        self.on_applied(0, 0)  # lets the owner see caught_up (readiness gauge)
        while True:
            batch = await consumer.getmany(timeout_ms=1000, max_records=10000)
            applied = rejected = 0
            for records in batch.values():
                for record in records:
                    try:
                        apply_update(self.index, record.key or b"", record.value)
                        applied += 1
                    except UpdateError as exc:
                        rejected += 1
                        log.warning("hotlist update at offset %d refused: %s", record.offset, _without_plate(exc))
            pending = self._uncommitted(consumer)
            if applied or rejected or pending != self.uncommitted_records:
                self.uncommitted_records = pending
                self.on_applied(applied, rejected)

    def _uncommitted(self, consumer: AIOKafkaConsumer) -> int:
        """Records written but not yet committed (a load in progress, or a dead publisher's
        transaction the broker has not aborted yet): the list in force stays the previous one."""
        pending = 0
        for tp in consumer.assignment():
            high, stable = consumer.highwater(tp), consumer.last_stable_offset(tp)
            if high is not None and stable is not None:
                pending += max(0, high - stable)
        return pending

    async def _find_partitions(self) -> list[TopicPartition]:
        await self.find_topic()
        return self._partitions

    async def _catch_up(self, consumer: AIOKafkaConsumer, partitions: list[TopicPartition]) -> None:
        """Replay the topic to the end offsets seen now (read_committed: its last stable offsets)
        through librdkafka, staged in columns and loaded at once; then point `consumer` past it."""
        consumer.assign(partitions)
        ends = await consumer.end_offsets(partitions)
        stager = UpdateStager(self.index)
        rejected = 0

        def on_batch(records: list[tuple[bytes | None, bytes | None]], messages: list[Any]) -> None:
            nonlocal rejected
            for pos, exc in stager.stage(records):
                rejected += 1
                log.warning("hotlist update at offset %d refused: %s", messages[pos].offset(), _without_plate(exc))
            self.records_replayed += len(records)

        # millions of short-lived acyclic tuples: the cyclic collector would rescan the staged columns
        # after every few thousand of them (a third of the catch-up's time); nothing here forms cycles
        collecting = gc.isenabled()
        gc.disable()
        try:
            following = await replay_to_end(
                self.clients, {(tp.topic, tp.partition): ends[tp] for tp in partitions}, on_batch
            )
            loaded = stager.finish()
        finally:
            if collecting:
                gc.enable()
        gc.collect()
        release_free_memory()  # what catch-up allocated and freed, handed back (about 170 MB per 2M entries)
        for tp in partitions:
            consumer.seek(tp, following[(tp.topic, tp.partition)])
        self.on_applied(loaded, rejected)


def _without_plate(exc: Exception) -> str:
    """Logs at INFO and above never carry plates: keep the reason, drop the key."""
    return str(exc) if log.isEnabledFor(logging.DEBUG) else str(exc).split(": ", 1)[-1]
