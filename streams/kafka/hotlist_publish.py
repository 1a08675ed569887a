"""Publish a hotlist to the compacted hotlist-updates topic: upserts, and tombstones on replace.

A load is one Kafka transaction (see `publisher_producer`): every replica applies all of it or none.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass

from aiokafka import AIOKafkaProducer

from streams.errors import InputRefusedError
from streams.hotlists.model import HotlistEntry, HotlistInfo
from streams.hotlists.updates import UpdateError, encode_tombstone, encode_upsert, parse_key
from streams.kafka.batch_send import send_batched
from streams.kafka.clients import KafkaClients
from streams.kafka.replay import read_to_end
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
    live: set[tuple[str, str, str]] = set()
    try:
        async for records in read_to_end(consumer, partitions):
            for r in records:
                try:
                    key = parse_key(r.key or b"")
                except UpdateError:
                    continue  # not a hotlist record: replicas refuse it too (and count it)
                if key[0] != list_id:
                    continue
                if r.value is None:
                    live.discard(key)
                else:
                    live.add(key)
    finally:
        await consumer.stop()
    return live


async def publish_records(
    producer: AIOKafkaProducer, topic: str, records: Sequence[tuple[bytes, bytes | None]]
) -> None:
    """Send many keyed records fast (see `batch_send`); returns when every batch is acknowledged."""
    await send_batched(producer, topic, [(key, value, ()) for key, value in records])


async def publish_list_async(
    clients: KafkaClients,
    info: HotlistInfo,
    entries: Sequence[HotlistEntry],
    *,
    replace: bool,
    topic: str = HOTLIST_UPDATES,
) -> Published:
    # starting the transactional producer first fences a load of this list that died half way (the
    # broker aborts its transaction), so the keys read next are those of the list in force
    producer = await clients.start(publisher_producer(clients, topic, info.list_id))
    try:
        stale = await current_keys(clients, topic, info.list_id) if replace else set()
        records: list[tuple[bytes, bytes | None]] = []
        for i, entry in enumerate(entries):
            records.append(encode_upsert(entry, info if i == 0 else None))
            stale.discard(entry.key)
        records.extend(encode_tombstone(*key) for key in sorted(stale))
        await producer.begin_transaction()
        try:
            await publish_records(producer, topic, records)
        except BaseException:
            with contextlib.suppress(Exception):
                await producer.abort_transaction()
            raise
        await producer.commit_transaction()
    finally:
        await producer.stop()
    return Published(upserts=len(entries), removals=len(stale))


def publisher_transactional_id(clients: KafkaClients, topic: str, list_id: str) -> str:
    """One transactional id per list and topic: a new load of a list fences (and aborts) a load of the
    same list that died half way; loads of different lists do not disturb each other."""
    return f"{clients.settings.topic_prefix}platewatch-publisher.{topic}.{list_id}"


def publisher_producer(clients: KafkaClients, topic: str, list_id: str) -> AIOKafkaProducer:
    """A list is published in one transaction: replicas read committed records only, so they apply a
    load whole or not at all, and a publisher killed half way leaves the previous list in force."""
    return clients.producer(
        acks="all",
        max_batch_size=512 * 1024,
        transactional_id=publisher_transactional_id(clients, topic, list_id),
        transaction_timeout_ms=clients.settings.publish_transaction_timeout_ms,
    )


def publish_list(
    clients: KafkaClients,
    info: HotlistInfo,
    entries: Sequence[HotlistEntry],
    *,
    replace: bool,
    topic: str = HOTLIST_UPDATES,
) -> Published:
    return asyncio.run(publish_list_async(clients, info, entries, replace=replace, topic=topic))
