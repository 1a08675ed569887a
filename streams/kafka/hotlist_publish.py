"""Publish a hotlist to the compacted hotlist-updates topic: upserts, and tombstones on replace.

A load is one Kafka transaction (see `ListPublisher`): every replica applies all of it or none.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from streams.errors import BrokerUnavailableError, InputRefusedError, PlatewatchError
from streams.hotlists.model import HotlistEntry, HotlistInfo
from streams.hotlists.updates import UpdateError, encode_tombstone, encode_upserts, parse_key
from streams.kafka.clients import KafkaClients, retry_broker
from streams.kafka.hotlist_catch_up import replay_to_end
from streams.kafka.rd_config import init_transactions, publisher_properties
from streams.kafka.transaction_errors import describe
from streams.pipeline.topics import HOTLIST_UPDATES


@dataclass(frozen=True)
class Published:
    upserts: int
    removals: int


async def current_keys(clients: KafkaClients, topic: str, list_id: str) -> set[tuple[str, str, str]]:
    """Keys of the list's live entries: the topic read from the start to its end offsets."""
    partitions = await clients.topic_partitions(topic, wait_s=5)
    if not partitions:
        raise InputRefusedError(f"topic {topic} does not exist", hint="run `platewatch topics create` first")
    consumer = await clients.start(clients.consumer(enable_auto_commit=False, isolation_level="read_committed"))
    try:
        ends = await consumer.end_offsets(partitions)  # read_committed: the last stable offsets
    finally:
        await consumer.stop()
    live: set[tuple[str, str, str]] = set()
    prefix = f"{list_id}|".encode()

    def on_batch(records: list[tuple[bytes | None, bytes | None]], messages: list[Any]) -> None:
        for key, value in records:
            if key is None or not key.startswith(prefix):
                continue
            try:
                parsed = parse_key(key)
            except UpdateError:
                continue  # not a hotlist record: replicas refuse it too (and count it)
            if value is None:
                live.discard(parsed)
            else:
                live.add(parsed)

    await replay_to_end(clients, {(tp.topic, tp.partition): end for tp, end in ends.items()}, on_batch)
    return live


async def publish_list_async(
    clients: KafkaClients,
    info: HotlistInfo,
    entries: Iterable[HotlistEntry],
    *,
    replace: bool,
    topic: str = HOTLIST_UPDATES,
) -> Published:
    # starting the transactional producer first fences a load of this list that died half way (the
    # broker aborts its transaction), so the keys read next are those of the list in force
    publisher = await ListPublisher.start(clients, topic, info.list_id)
    try:
        stale = await current_keys(clients, topic, info.list_id) if replace else set()
        publisher.begin()
        upserts = 0
        for chunk in _chunks(entries, _CHUNK):
            await publisher.send(encode_upserts(chunk, info if upserts == 0 else None))
            if stale:
                stale.difference_update(entry.key for entry in chunk)
            upserts += len(chunk)
        await publisher.send([encode_tombstone(*key) for key in sorted(stale)])
        await publisher.commit()
    except BaseException:
        await publisher.abort()
        raise
    return Published(upserts=upserts, removals=len(stale))


_CHUNK = 50_000  # entries encoded and handed to the producer at a time


def _chunks(entries: Iterable[HotlistEntry], size: int) -> Iterator[list[HotlistEntry]]:
    it = iter(entries)
    while chunk := list(itertools.islice(it, size)):
        yield chunk


def publisher_transactional_id(clients: KafkaClients, topic: str, list_id: str) -> str:
    """One transactional id per list and topic: a new load of a list fences (and aborts) a load of the
    same list that died half way; loads of different lists do not disturb each other."""
    return f"{clients.settings.topic_prefix}platewatch-publisher.{topic}.{list_id}"


class ListPublisher:
    """A list's load as one transaction, on librdkafka: replicas read committed records only, so they
    apply a load whole or not at all, and a publisher killed half way leaves the previous list in force.

    librdkafka batches in C (10 million records: a few seconds, where building aiokafka's batches in
    Python took a minute); its blocking calls run off the event loop."""

    def __init__(self, producer: Any, topic: str) -> None:
        self.producer = producer
        self.topic = topic

    @classmethod
    async def start(cls, clients: KafkaClients, topic: str, list_id: str) -> ListPublisher:
        transactional_id = publisher_transactional_id(clients, topic, list_id)
        producer = clients.rdkafka_producer(**publisher_properties(clients.settings, transactional_id))
        bootstrap = clients.settings.bootstrap_servers

        async def attempt() -> None:
            try:
                await asyncio.to_thread(init_transactions, producer, bootstrap, transactional_id, _CALL_TIMEOUT_S)
            except BrokerUnavailableError as exc:
                raise ConnectionError(str(exc)) from None  # retried for broker_wait_seconds, as every client is

        await retry_broker(attempt, clients.settings)
        return cls(producer, topic)

    def begin(self) -> None:
        self.producer.begin_transaction()

    async def send(self, records: Sequence[tuple[bytes, bytes | None]]) -> None:
        """Hand `records` to the producer, waiting while its queue is full."""
        import confluent_kafka  # noqa: PLC0415

        pending: list[dict[str, Any]] = [{"key": key, "value": value} for key, value in records]
        while pending:
            queued = self.producer.produce_batch(self.topic, pending)
            if queued == len(pending):
                break
            failed = [m for m in pending if "_error" in m]
            for m in failed:
                err = m.pop("_error")
                if err.code() != confluent_kafka.KafkaError._QUEUE_FULL:
                    raise PlatewatchError(f"a hotlist update could not be sent: {err.str()}")
            pending = failed
            await asyncio.to_thread(self.producer.poll, 0.2)  # deliveries free the queue
        self.producer.poll(0)

    async def flush(self) -> None:
        await asyncio.to_thread(self.producer.flush, _CALL_TIMEOUT_S)

    async def commit(self) -> None:
        import confluent_kafka  # noqa: PLC0415

        try:
            await asyncio.to_thread(self.producer.commit_transaction, _COMMIT_TIMEOUT_S)
        except confluent_kafka.KafkaException as exc:
            raise PlatewatchError(f"the hotlist load was not committed: {describe(exc)}") from None

    async def abort(self) -> None:
        with contextlib.suppress(Exception):
            await asyncio.to_thread(self.producer.abort_transaction, _CALL_TIMEOUT_S)


_CALL_TIMEOUT_S = 30.0
_COMMIT_TIMEOUT_S = 300.0  # every record of the load acknowledged first


def publish_list(
    clients: KafkaClients,
    info: HotlistInfo,
    entries: Iterable[HotlistEntry],
    *,
    replace: bool,
    topic: str = HOTLIST_UPDATES,
) -> Published:
    return asyncio.run(publish_list_async(clients, info, entries, replace=replace, topic=topic))
