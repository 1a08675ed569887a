"""Send many records as whole record batches, one per partition: no future per message.

Keyed records go to the partition Kafka's default partitioner would choose (see `partitioning`), so
a key lands where any standard producer would put it; records without a key are spread evenly.
Returns when the broker has acknowledged every batch (with the producer's `acks`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import numpy as np
from aiokafka import AIOKafkaProducer

from streams.kafka.partitioning import partitions_for

Headers = Sequence[tuple[str, bytes]]
OutRecord = tuple[bytes | None, bytes | None, Headers]


async def send_keyed(producer: AIOKafkaProducer, topic: str, records: Sequence[tuple[bytes, bytes | None]]) -> None:
    """Many keyed records without headers; returns when every batch is acknowledged."""
    await send_batched(producer, topic, [(key, value, ()) for key, value in records])


async def send_batched(producer: AIOKafkaProducer, topic: str, records: Sequence[OutRecord]) -> None:
    await asyncio.gather(*await enqueue(producer, topic, records))


async def enqueue(producer: AIOKafkaProducer, topic: str, records: Sequence[OutRecord]) -> list[asyncio.Future[Any]]:
    """Hand the records to the producer; the futures resolve when the broker acknowledges them."""
    if not records:
        return []
    partitions = sorted(await producer.partitions_for(topic))
    keys = [r[0] for r in records]
    if all(k is not None for k in keys):
        chosen = partitions_for(keys, len(partitions))  # type: ignore[arg-type]
    else:
        chosen = np.array(
            [
                int(partitions_for([k], len(partitions))[0]) if k is not None else i % len(partitions)
                for i, k in enumerate(keys)
            ]
        )
    pending: list[asyncio.Future[Any]] = []
    for p in range(len(partitions)):
        batch = producer.create_batch()
        for i in np.flatnonzero(chosen == p).tolist():
            key, value, headers = records[i]
            if batch.append(key=key, value=value, timestamp=None, headers=list(headers)) is None:
                batch.close()
                pending.append(await producer.send_batch(batch, topic, partition=partitions[p]))
                batch = producer.create_batch()
                batch.append(key=key, value=value, timestamp=None, headers=list(headers))
        if batch.record_count():
            batch.close()
            pending.append(await producer.send_batch(batch, topic, partition=partitions[p]))
    return pending


async def enqueue_all(producer: AIOKafkaProducer, by_topic: dict[str, list[OutRecord]]) -> list[asyncio.Future[Any]]:
    """Every topic's records; the futures resolve when the broker acknowledges them."""
    futures: list[asyncio.Future[Any]] = []
    for topic, records in by_topic.items():
        futures.extend(await enqueue(producer, topic, records))
    return futures
