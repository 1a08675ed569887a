"""`platewatch dlq replay`: dead letters back onto the topic they came from, once their cause is fixed.

Reads the dead-letter topic from the start to its end offsets (optionally only one reason, and only
letters written since a time), and produces each letter's original key and bytes to its source topic
(`platewatch.source.topic`), with a `platewatch.replay.of` header naming the letter. Workers then
process them like any read: the same decoder, filter, audit and delivery. Alert ids are stable for a
read and an entry, so a read that had been processed before yields alerts dispatch de-duplicates.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from streams.errors import InputRefusedError
from streams.kafka.batch_send import OutRecord, send_batched
from streams.kafka.clients import KafkaClients
from streams.kafka.replay import read_to_end
from streams.pipeline.topics import TopicNames


@dataclass
class ReplayReport:
    scanned: int = 0
    replayed: Counter[str] = field(default_factory=Counter)  # by reason
    by_topic: Counter[str] = field(default_factory=Counter)

    def summary(self) -> str:
        reasons = ", ".join(f"{r} {n}" for r, n in self.replayed.most_common()) or "none"
        return f"{self.scanned} dead letters scanned, {sum(self.replayed.values())} replayed ({reasons})"


async def replay_dead_letters(
    clients: KafkaClients,
    names: TopicNames,
    *,
    reason: str | None = None,
    since_ms: int = 0,
    limit: int | None = None,
    dry_run: bool = False,
) -> ReplayReport:
    report = ReplayReport()
    partitions = await clients.topic_partitions(names.dlq)
    if not partitions:
        raise InputRefusedError(f"topic {names.dlq} does not exist", hint="check --topic-prefix")
    consumer = await clients.start(clients.consumer(group_id=None, enable_auto_commit=False))
    chosen: dict[str, list[OutRecord]] = {}
    try:
        async for records in read_to_end(consumer, partitions):
            for r in records:
                report.scanned += 1
                headers = {k: v for k, v in r.headers}
                why = headers.get("platewatch.reason", b"").decode(errors="replace")
                if (reason and why != reason) or r.timestamp < since_ms:
                    continue
                if limit is not None and sum(report.replayed.values()) >= limit:
                    continue
                source = headers.get("platewatch.source.topic", b"").decode() or names.plate_reads
                marker = f"{r.topic}:{r.partition}:{r.offset}".encode()
                chosen.setdefault(source, []).append((r.key, r.value, (("platewatch.replay.of", marker),)))
                report.replayed[why] += 1
                report.by_topic[source] += 1
    finally:
        await consumer.stop()
    if dry_run or not chosen:
        return report
    producer = await clients.start(clients.producer(acks="all", enable_idempotence=True))
    try:
        for topic, records in chosen.items():
            await send_batched(producer, topic, records)
    finally:
        await producer.stop()
    return report
