"""faust-streaming works against the project's real broker: an agent and a table process messages."""

from __future__ import annotations

import asyncio
from pathlib import Path

import faust
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

pytestmark = pytest.mark.kafka


async def test_faust_agent_and_table_count_messages(kafka_bootstrap: str, unique: str, tmp_path: Path) -> None:
    app = faust.App(
        f"it-faust-{unique}",
        broker=f"kafka://{kafka_bootstrap}",
        store="memory://",
        datadir=str(tmp_path),
        web_enabled=False,
        topic_partitions=2,
        topic_replication_factor=1,
        broker_commit_every=10,
    )
    topic = app.topic(
        f"it-faust-in-{unique}",
        key_type=str,
        value_type=str,
        partitions=2,
        key_serializer="raw",
        value_serializer="raw",
    )
    counts = app.Table(f"counts-{unique}", default=int, partitions=2)
    processed: list[str] = []

    @app.agent(topic)
    async def count(stream):
        async for key, value in stream.items():
            counts[key] += 1
            processed.append(value)

    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic.get_topic_name(), num_partitions=2, replication_factor=1)])
    finally:
        await admin.close()

    await app.start()
    try:
        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
        await producer.start()
        try:
            for i in range(40):
                await producer.send_and_wait(
                    topic.get_topic_name(), key=f"cam{i % 4}".encode(), value=f"read{i}".encode()
                )
        finally:
            await producer.stop()
        async with asyncio.timeout(60):
            while len(processed) < 40:
                await asyncio.sleep(0.1)
        assert sorted(processed) == sorted(f"read{i}" for i in range(40))
        assert {k: counts[k] for k in ("cam0", "cam1", "cam2", "cam3")} == {
            "cam0": 10,
            "cam1": 10,
            "cam2": 10,
            "cam3": 10,
        }
    finally:
        await app.stop()
