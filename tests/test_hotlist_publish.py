"""Publishing hotlists to the compacted topic: a full load replaces the list, an append adds."""

from __future__ import annotations

import asyncio
import subprocess
import sys

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


DEAD_PUBLISHER = """
import asyncio, sys
from streams.hotlists.model import HotlistEntry, HotlistInfo
from streams.hotlists.updates import encode_upserts
from streams.kafka.hotlist_publish import ListPublisher
from streams.kafka.clients import KafkaClients
from streams.ops.settings import Settings

async def main() -> None:
    bootstrap, topic = sys.argv[1], sys.argv[2]
    clients = KafkaClients(Settings(bootstrap_servers=bootstrap))
    publisher = await ListPublisher.start(clients, topic, "bolo")
    publisher.begin()
    info = HotlistInfo("bolo", "BOLO v2")
    entries = [HotlistEntry("bolo", f"9HALF{i:03d}", "CA") for i in range(500)]
    await publisher.send(encode_upserts(entries, info))
    await publisher.flush()
    print("half way", flush=True)
    await asyncio.sleep(3600)  # killed here: the transaction is never committed

asyncio.run(main())
"""


async def test_a_publisher_killed_half_way_leaves_the_previous_list_in_force(kafka_bootstrap: str, unique: str) -> None:
    topic = f"pub-{unique}.hotlist-updates"
    settings = Settings(bootstrap_servers=kafka_bootstrap)
    clients = KafkaClients(settings)
    await create_topics(clients, settings, [TopicSpec(topic, 3, {"cleanup.policy": "compact"})])
    v1 = [HotlistEntry("bolo", p, "CA") for p in ("1AAA111", "2BBB222")]
    await publish_list_async(clients, BOLO, v1, replace=True, topic=topic)

    dead = subprocess.Popen([sys.executable, "-c", DEAD_PUBLISHER, kafka_bootstrap, topic], stdout=subprocess.PIPE)
    try:
        assert dead.stdout is not None and dead.stdout.readline().strip() == b"half way"
    finally:
        dead.kill()
        dead.wait(10)
        if dead.stdout is not None:
            dead.stdout.close()

    index = HotlistIndex()
    replica = HotlistReplica(clients, topic, index)
    await replica.connect()
    task = asyncio.create_task(replica.run())
    try:
        await asyncio.wait_for(replica.caught_up.wait(), 30)
        for _ in range(20):  # the follow loop measures what is pending
            if replica.uncommitted_records:
                break
            await asyncio.sleep(0.25)
        # the half-written load is invisible, and the replica says one is pending
        assert sorted(e.plate for e in index.entries("bolo")) == ["1AAA111", "2BBB222"]
        assert replica.uncommitted_records >= 500
        # the next load of the same list fences the dead one (its transaction is aborted) and applies whole
        v3 = [HotlistEntry("bolo", "3CCC333", "CA")]
        published = await publish_list_async(clients, BOLO, v3, replace=True, topic=topic)
        assert published.removals == 2  # the dead load's entries were never part of the list
        for _ in range(40):
            if [e.plate for e in index.entries("bolo")] == ["3CCC333"] and not replica.uncommitted_records:
                break
            await asyncio.sleep(0.25)
        assert [e.plate for e in index.entries("bolo")] == ["3CCC333"]
        assert replica.uncommitted_records == 0
    finally:
        task.cancel()
        await replica.stop()
