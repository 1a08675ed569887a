"""A replica's catch-up read: the hotlist-updates topic from its start to given end offsets, on librdkafka.

Catch-up reads every record of the topic (10 million for a national list) while the worker waits, so
it reads with librdkafka: its fetcher threads read ahead while Python decodes, and a Message costs a
fraction of an aiokafka ConsumerRecord. The consumer is assigned partitions and offsets explicitly: it
joins no group and commits nothing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from streams.errors import PlatewatchError
from streams.kafka.clients import KafkaClients
from streams.kafka.rd_records import PARTITION_EOF, ConsumeErrorLog

Partition = tuple[str, int]
# (key, value) of each record, and its Message (for its offset, should the record be refused)
BatchHandler = Callable[[list[tuple[bytes | None, bytes | None]], list[Any]], None]
_BATCH = 50_000

log = logging.getLogger(__name__)


async def replay_to_end(
    clients: KafkaClients, ends: dict[Partition, int], on_batch: BatchHandler
) -> dict[Partition, int]:
    """Hand every committed record from the start of each partition to at least its end offset to
    `on_batch` (keys and values, and their Messages), a batch at a time, in partition order.
    Returns the offset to follow each partition from."""
    import confluent_kafka  # noqa: PLC0415 (loaded with the worker's other librdkafka clients)

    following = dict.fromkeys(ends, 0)
    remaining = {tp for tp, end in ends.items() if end > 0}
    if not remaining:
        return following
    consumer = clients.rdkafka_consumer(**{
        "group.id": clients.settings.group_id,  # required by the client; never joined, never committed to
        "enable.auto.commit": False,
        "enable.partition.eof": True,
        "auto.offset.reset": "error",  # records gone mid-read (truncation): fail, never skip or re-read
        "isolation.level": "read_committed",  # a hotlist load counts once its transaction commits
        "fetch.queue.backoff.ms": 10,
        "max.partition.fetch.bytes": 16 * 1024 * 1024,
        "queued.max.messages.kbytes": 64 * 1024,
        "queued.min.messages": 1_000_000,  # read ahead while Python decodes
    })  # fmt: skip
    log_error = ConsumeErrorLog(log, "hotlist catch-up")
    try:
        consumer.assign([
            confluent_kafka.TopicPartition(topic, partition, confluent_kafka.OFFSET_BEGINNING)
            for topic, partition in sorted(remaining)
        ])  # fmt: skip
        assigned = [confluent_kafka.TopicPartition(topic, partition) for topic, partition in sorted(remaining)]
        while remaining:
            messages: list[Any] = await asyncio.to_thread(consumer.consume, _BATCH, 1.0)
            good = [m for m in messages if m.error() is None]
            if len(good) < len(messages):
                for m in messages:
                    if (err := m.error()) is not None and err.code() == PARTITION_EOF:
                        part = (m.topic(), m.partition())
                        if m.offset() >= ends[part]:  # a new leader may briefly report a lower end
                            remaining.discard(part)  # nothing committed beyond this
                            following[part] = max(following[part], m.offset())
                    elif err is not None:
                        _consume_error(m.topic(), err, log_error)
            if good:
                on_batch([(m.key(), m.value()) for m in good], good)
            for tp in consumer.position(assigned):  # each partition's offset after its last record
                if tp.offset >= 0:
                    following[(tp.topic, tp.partition)] = tp.offset
                    if tp.offset >= ends[(tp.topic, tp.partition)]:
                        remaining.discard((tp.topic, tp.partition))
            await asyncio.sleep(0)
    finally:
        await asyncio.to_thread(consumer.close)
    return {tp: max(following[tp], ends[tp]) for tp in ends}


def _consume_error(topic: str, err: Any, log_error: ConsumeErrorLog) -> None:
    """Fatal errors, authorisation and records gone from under the read stop the replica (the worker
    starts it again from the beginning); the rest librdkafka retries (logged once per 30 s)."""
    import confluent_kafka  # noqa: PLC0415

    refusals = (confluent_kafka.KafkaError.TOPIC_AUTHORIZATION_FAILED, confluent_kafka.KafkaError._AUTO_OFFSET_RESET)
    if err.fatal() or err.code() in refusals:
        raise PlatewatchError(f"the hotlist replica cannot read {topic}: {err.str()}")
    log_error(err)
