"""`platewatch simulate`: a camera network producing plate reads to Kafka at a set rate."""

from __future__ import annotations

import asyncio
import sys
import time
from typing import TextIO

from streams.errors import InputRefusedError
from streams.hotlists.index import HotlistIndex
from streams.kafka.clients import KafkaClients
from streams.ops.settings import Settings
from streams.pipeline.topics import TopicNames
from streams.policy.store import load_policy
from streams.sim.camera_feed import CameraFeed, FeedSettings, agency_of_camera


async def simulate(
    settings: Settings,
    index: HotlistIndex,
    feed_settings: FeedSettings,
    *,
    rate: int,
    seconds: float,
    out: TextIO = sys.stderr,
) -> int:
    policy = load_policy(settings.policy_file, settings.registry_file)
    feed = CameraFeed(index, policy.registry, feed_settings)
    names = TopicNames.with_prefix(settings.topic_prefix)
    per_agency = settings.ingest == "per_agency"
    clients = KafkaClients(settings)
    probe = names.reads_for(feed.readers[0].ori) if per_agency else names.plate_reads
    if not await clients.topic_partitions(probe):
        raise InputRefusedError(f"topic {probe} does not exist", hint="run `platewatch topics create` first")
    producer = await clients.start(clients.producer(linger_ms=5, acks=1, max_batch_size=1 << 20))
    sent = 0
    started = time.monotonic()
    tick = 0.05
    last_report = started
    try:
        while time.monotonic() - started < seconds:
            due = int((time.monotonic() - started + tick) * rate) - sent
            if due > 0:
                for key, value in feed.batch(due):
                    topic = names.reads_for(agency_of_camera(key)) if per_agency else names.plate_reads
                    await producer.send(topic, value, key=key)
                    sent += 1
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
