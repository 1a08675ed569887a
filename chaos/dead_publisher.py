"""A hotlist publisher that dies half way through a load: it opens the load's transaction, sends the
decoy list, says "half way" and waits to be killed (`python -m chaos.dead_publisher BOOTSTRAP TOPIC`)."""

from __future__ import annotations

import asyncio
import sys

from chaos.workload import decoy_entries
from streams.hotlists.model import HotlistInfo
from streams.hotlists.updates import encode_upserts
from streams.kafka.clients import KafkaClients
from streams.kafka.hotlist_publish import ListPublisher
from streams.ops.settings import Settings

DECOYS = HotlistInfo("decoys", "A load that never finished", owner_ori="CA0373700", priority=10)


async def main() -> None:
    bootstrap, topic = sys.argv[1], sys.argv[2]
    clients = KafkaClients(Settings(bootstrap_servers=bootstrap))
    publisher = await ListPublisher.start(clients, topic, DECOYS.list_id)
    publisher.begin()
    entries = decoy_entries()
    await publisher.send(encode_upserts(entries, DECOYS))
    await publisher.flush()
    print(f"half way: {len(entries)} decoy entries sent, not committed", flush=True)
    await asyncio.sleep(3600)


if __name__ == "__main__":
    asyncio.run(main())
