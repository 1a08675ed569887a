"""Publish a hotlist to the compacted hotlist-updates topic: upserts, and tombstones on replace."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from streams.hotlist_model import HotlistEntry, HotlistInfo
from streams.hotlist_updates import encode_tombstone, encode_upsert, parse_key
from streams.topics import HOTLIST_UPDATES


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
        partitions = [TopicPartition(topic, p) for p in (consumer.partitions_for_topic(topic) or set())]
        if not partitions:
            await consumer.topics()
            partitions = [TopicPartition(topic, p) for p in (consumer.partitions_for_topic(topic) or set())]
        if not partitions:
            return live
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        remaining = {tp for tp in partitions if ends[tp] > 0}
        while remaining:
            batch = await consumer.getmany(*remaining, timeout_ms=1000)
            for tp, records in batch.items():
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
                if records and records[-1].offset + 1 >= ends[tp]:
                    remaining.discard(tp)
            for tp in list(remaining):
                if await consumer.position(tp) >= ends[tp]:
                    remaining.discard(tp)
    finally:
        await consumer.stop()
    return live


async def publish_list_async(
    bootstrap: str,
    info: HotlistInfo,
    entries: Sequence[HotlistEntry],
    *,
    replace: bool,
    topic: str = HOTLIST_UPDATES,
) -> Published:
    stale = await current_keys(bootstrap, topic, info.list_id) if replace else set()
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=20, max_batch_size=262144
    )
    await producer.start()
    try:
        pending = []
        for i, entry in enumerate(entries):
            key, value = encode_upsert(entry, info if i == 0 else None)
            stale.discard(entry.key)
            pending.append(await producer.send(topic, key=key, value=value))
        for key_tuple in sorted(stale):
            key, _ = encode_tombstone(*key_tuple)
            pending.append(await producer.send(topic, key=key, value=None))
        await asyncio.gather(*pending)
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
