"""Publish a hotlist to the compacted hotlist-updates topic: upserts, and tombstones on replace."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from streams.hotlists.model import HotlistEntry, HotlistInfo
from streams.hotlists.updates import encode_tombstone, encode_upsert, parse_key
from streams.kafka.batch_send import send_batched
from streams.kafka.metadata import read_to_end, topic_partitions
from streams.pipeline.topics import HOTLIST_UPDATES


@dataclass(frozen=True)
class Published:
    upserts: int
    removals: int


async def current_keys(bootstrap: str, topic: str, list_id: str) -> set[tuple[str, str, str]]:
    """Keys of the list's live entries: the topic read from the start to its end offsets."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    live: set[tuple[str, str, str]] = set()
    try:
        partitions = await topic_partitions(consumer, topic, wait_s=5)
        async for records in read_to_end(consumer, partitions):
            for r in records:
                if r.key is None:
                    continue
                key = parse_key(r.key)
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
    bootstrap: str,
    info: HotlistInfo,
    entries: Sequence[HotlistEntry],
    *,
    replace: bool,
    topic: str = HOTLIST_UPDATES,
) -> Published:
    stale = await current_keys(bootstrap, topic, info.list_id) if replace else set()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", max_batch_size=512 * 1024)
    await producer.start()
    try:
        records: list[tuple[bytes, bytes | None]] = []
        for i, entry in enumerate(entries):
            records.append(encode_upsert(entry, info if i == 0 else None))
            stale.discard(entry.key)
        records.extend(encode_tombstone(*key) for key in sorted(stale))
        await publish_records(producer, topic, records)
    finally:
        await producer.stop()
    return Published(upserts=len(entries), removals=len(stale))


def publish_list(
    bootstrap: str,
    info: HotlistInfo,
    entries: Sequence[HotlistEntry],
    *,
    replace: bool,
    topic: str = HOTLIST_UPDATES,
) -> Published:
    return asyncio.run(publish_list_async(bootstrap, info, entries, replace=replace, topic=topic))
