"""Publishing hotlists to the compacted topic: a full load replaces the list, an append adds."""

from __future__ import annotations

import asyncio

import pytest

from streams.hotlists.index import HotlistIndex
from streams.hotlists.model import HotlistEntry, HotlistInfo
from streams.kafka.clients import KafkaClients
from streams.kafka.hotlist_publish import current_keys, publish_list_async
from streams.kafka.hotlist_replica import HotlistReplica
from streams.kafka.topic_setup import TopicSpec, create_topics
from streams.ops.settings import Settings

pytestmark = pytest.mark.kafka
BOLO = HotlistInfo("bolo", "BOLO", owner_ori="CA0373700")
OTHER = HotlistInfo("other", "Other list")


async def test_full_load_tombstones_what_left_the_list_and_a_replica_agrees(kafka_bootstrap: str, unique: str) -> None:
    topic = f"pub-{unique}.hotlist-updates"
    settings = Settings(bootstrap_servers=kafka_bootstrap)
    clients = KafkaClients(settings)
    await create_topics(clients, settings, [TopicSpec(topic, 3, {"cleanup.policy": "compact"})])
    a, b, c = (HotlistEntry("bolo", p, "CA") for p in ("1AAA111", "2BBB222", "3CCC333"))
    await publish_list_async(clients, BOLO, [a, b], replace=True, topic=topic)
    await publish_list_async(clients, OTHER, [HotlistEntry("other", "9ZZZ999")], replace=True, topic=topic)
    published = await publish_list_async(clients, BOLO, [b, c], replace=True, topic=topic)
    assert (published.upserts, published.removals) == (2, 1)
    assert await current_keys(clients, topic, "bolo") == {b.key, c.key}
    # a is back: the replica must apply the later upsert after the tombstone
    appended = await publish_list_async(clients, BOLO, [a], replace=False, topic=topic)
    assert appended.removals == 0

    index = HotlistIndex()
    replica = HotlistReplica(clients, topic, index)
    await replica.connect()
    task = asyncio.create_task(replica.run())
    try:
        await asyncio.wait_for(replica.caught_up.wait(), 30)
    finally:
        task.cancel()
        await replica.stop()
    assert sorted(e.plate for e in index.entries("bolo")) == ["1AAA111", "2BBB222", "3CCC333"]
    assert [e.plate for e in index.entries("other")] == ["9ZZZ999"]
    assert index.list_info("bolo") == BOLO
