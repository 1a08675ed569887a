"""Peer: consume only, the ceiling of a Python consumer: aiokafka `getmany` or librdkafka `consume`.

    python -m benchmarks.peers.raw_consume aiokafka|librdkafka --bootstrap HOST:PORT --topic T --reads N --group G

Nothing is done with the reads: they are counted (librdkafka's messages are checked for an error, as a
correct consumer must). Both subscribe with a fresh group, as their documentation shows, and take the
settings of benchmarks/client_choice.py's raw variants (the worker's fetch settings, 5,000 reads a
batch, 5 ms wait; librdkafka with `fetch.queue.backoff.ms=10`). librdkafka runs in a plain loop here,
not off an event loop.
"""

from __future__ import annotations

import asyncio
from typing import Any

from benchmarks.client_choice import AIOKAFKA_CONSUMER, BATCH, RDKAFKA_CONSUMER, WAIT_MS
from benchmarks.peers.common import Window, emit, peer_arguments
from streams.kafka.clients import KafkaClients
from streams.ops.settings import build_settings

VARIANTS = ("aiokafka", "librdkafka")
AIOKAFKA: dict[str, Any] = {**AIOKAFKA_CONSUMER, "enable_auto_commit": False}
LIBRDKAFKA: dict[str, Any] = {**RDKAFKA_CONSUMER, "fetch.error.backoff.ms": 10, "socket.nagle.disable": True}


async def aiokafka_raw(clients: KafkaClients, topic: str, expect: int, group: str) -> dict[str, Any]:
    consumer = await clients.start(clients.consumer(topic, **{**AIOKAFKA, "group_id": group}))
    try:
        window, count = Window(), 0
        while count < expect:
            batch = await consumer.getmany(timeout_ms=WAIT_MS, max_records=BATCH)
            n = sum(len(records) for records in batch.values())
            if n:
                window.start(n)
                window.progressed()
                count += n
            window.check_stall(count, expect)
        window.processed()
        window.delivered()
        figures = window.figures(count)
    finally:
        await consumer.stop()
    return {**figures, "consumer": AIOKAFKA}


def librdkafka_raw(clients: KafkaClients, topic: str, expect: int, group: str) -> dict[str, Any]:
    consumer = clients.rdkafka_consumer(**LIBRDKAFKA, **{"group.id": group})
    try:
        consumer.subscribe([topic])
        window, count = Window(), 0
        while count < expect:
            messages = consumer.consume(BATCH, WAIT_MS / 1000)
            if messages:
                for m in messages:
                    if m.error() is not None:
                        raise RuntimeError(f"consume error: {m.error()}")
                window.start(len(messages))
                window.progressed()
                count += len(messages)
            window.check_stall(count, expect)
        window.processed()
        window.delivered()
        figures = window.figures(count)
    finally:
        consumer.close()
    return {**figures, "consumer": LIBRDKAFKA}


def main(argv: list[str] | None = None) -> int:
    parser = peer_arguments(__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("variant", choices=VARIANTS)
    args = parser.parse_args(argv)
    clients = KafkaClients(build_settings({"bootstrap_servers": args.bootstrap}))
    if args.variant == "aiokafka":
        figures = asyncio.run(aiokafka_raw(clients, args.topic, args.reads, args.group))
    else:
        figures = librdkafka_raw(clients, args.topic, args.reads, args.group)
    emit(f"raw-{args.variant}", figures)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
