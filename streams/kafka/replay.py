"""Reading whole topics: a replay from the beginning to the end offsets seen when it starts."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import ConsumerRecord


async def read_to_end(
    consumer: AIOKafkaConsumer, partitions: list[TopicPartition], *, max_records: int = 50_000
) -> AsyncIterator[list[ConsumerRecord]]:
    """Assign `partitions`, seek to their beginning, and yield record lists up to the end offsets
    seen at the start. The consumer stays assigned and positioned, ready to follow the topic."""
    consumer.assign(partitions)
    await consumer.seek_to_beginning(*partitions)
    ends = await consumer.end_offsets(partitions)
    remaining = {tp for tp in partitions if ends[tp] > 0}
    while remaining:
        batch = await consumer.getmany(*remaining, timeout_ms=1000, max_records=max_records)
        for records in batch.values():
            if records:
                yield records
        for tp in list(remaining):
            if await consumer.position(tp) >= ends[tp]:
                remaining.discard(tp)
