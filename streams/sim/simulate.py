"""`platewatch simulate`: a camera network producing plate reads to Kafka at a set rate."""

from __future__ import annotations

import asyncio
import sys
import time
from typing import TextIO

from aiokafka import AIOKafkaProducer

from streams.hotlists.index import HotlistIndex
from streams.ops.settings import Settings
from streams.pipeline.topics import TopicNames
from streams.policy.jurisdiction_filter import SharingPolicy
from streams.policy.store import PolicyStore
from streams.sim.camera_feed import CameraFeed, FeedSettings


async def simulate(
    settings: Settings,
    index: HotlistIndex,
    feed_settings: FeedSettings,
    *,
    rate: int,
    seconds: float,
    out: TextIO = sys.stderr,
) -> int:
    store = PolicyStore(settings.policy_file, settings.registry_file)
    policy = store.current
    if not isinstance(policy, SharingPolicy):
        out.write("simulate: the policy files did not load\n")
        return 1
    feed = CameraFeed(index, policy.registry, feed_settings)
    topic = TopicNames.with_prefix(settings.topic_prefix).plate_reads
    producer = AIOKafkaProducer(**settings.kafka_client_options(), linger_ms=5, acks=1, max_batch_size=1 << 20)
    await producer.start()
    sent = 0
    started = time.monotonic()
    tick = 0.05
    last_report = started
    try:
        while time.monotonic() - started < seconds:
            due = int((time.monotonic() - started + tick) * rate) - sent
            if due > 0:
                futures = [await producer.send(topic, value, key=key) for key, value in feed.batch(due)]
                sent += len(futures)
            now = time.monotonic()
            if now - last_report >= 1:
                out.write(f"\rsimulate: {sent:,} reads sent, {sent / (now - started):,.0f}/s offered")
                out.flush()
                last_report = now
            await asyncio.sleep(max(0.0, tick - (time.monotonic() - now)))
        await producer.flush()
    finally:
        await producer.stop()
    out.write(f"\rsimulate: {sent:,} reads sent in {time.monotonic() - started:.1f}s\n")
    return 0
