"""Peer: a confluent-kafka (librdkafka) batch consumer, written as Confluent's documentation writes one.

    python -m benchmarks.peers.confluent_batch --bootstrap HOST:PORT --topic T --reads N --group G \\
        --hotlist FILE --alerts-topic A

A plain synchronous loop: `consume(5000, 0.005)`, each read parsed with orjson, its plate normalised by
the project's normaliser (`streams.plates.normalise`, about 0.4 µs a plate) and looked up in a Python
set of the hotlist's plates; one alert produced per hit (acks=all, idempotent producer).

At least once, as librdkafka's manual describes it: automatic offset storing is off, and a batch's
offsets are stored (then committed in the background by auto-commit, and at close) only once every
alert of that batch and of the batches before it is acknowledged. Delivery reports are served by
`poll(0)` after each batch, so the loop never waits for them.

Tuning, as librdkafka's documentation advises ("How to decrease message latency", CONFIGURATION.md),
so that no setting is left on a default that makes it wait: `fetch.wait.max.ms=5` (default 500),
`fetch.queue.backoff.ms=10` (default 1000: the prefetch queue stalls), `fetch.error.backoff.ms=10`
(default 500, which an empty fetch at the end of the topic would trigger), `linger.ms=2` (default 5),
`socket.nagle.disable=true`; plus `max.partition.fetch.bytes=4 MiB`, 512 KiB producer batches and the
Java client's partitioner (`murmur2_random`) for the alerts. The consumer and producer are those of
benchmarks/client_choice.py (RDKAFKA_CONSUMER, RDKAFKA_PRODUCER) with these additions, built by
`KafkaClients`.
"""

from __future__ import annotations

import time
from collections import deque
from functools import partial
from typing import Any

import orjson

from benchmarks.client_choice import BATCH, RDKAFKA_CONSUMER, RDKAFKA_PRODUCER, WAIT_MS
from benchmarks.peers.common import Window, alert, emit, listed_plate, load_hotlist, peer_arguments
from streams.kafka.clients import KafkaClients
from streams.ops.settings import build_settings

CONSUMER: dict[str, Any] = {
    **RDKAFKA_CONSUMER,
    "enable.auto.commit": True,  # commits what was stored, every 5 s and at close
    "enable.auto.offset.store": False,  # stored by the loop once the batch's alerts are acknowledged
    "fetch.error.backoff.ms": 10,
    "socket.nagle.disable": True,
}
PRODUCER: dict[str, Any] = {**RDKAFKA_PRODUCER, "socket.nagle.disable": True}


class Batch:
    """One consumed batch: its alerts not yet acknowledged, and the positions to store after them."""

    __slots__ = ("left", "positions")

    def __init__(self) -> None:
        self.left = 0
        self.positions: list[Any] = []


class Deliveries:
    """Delivery reports of every alert (served by `poll` and `flush`)."""

    def __init__(self) -> None:
        self.acked = 0
        self.errors: list[str] = []

    def report(self, batch: Batch, err: Any, _msg: Any) -> None:
        batch.left -= 1
        if err is None:
            self.acked += 1
        else:
            self.errors.append(str(err))


def store_acknowledged(consumer: Any, pending: deque[Batch]) -> None:
    """Store the offsets of the oldest batches whose alerts (and all before) are acknowledged."""
    while pending and pending[0].left == 0:
        positions = [tp for tp in pending.popleft().positions if tp.offset >= 0]
        if positions:
            consumer.store_offsets(offsets=positions)


def run(bootstrap: str, topic: str, expect: int, group: str, hotlist_file: str, alerts_topic: str) -> dict[str, Any]:
    hotlist = load_hotlist(hotlist_file)
    clients = KafkaClients(build_settings({"bootstrap_servers": bootstrap}))
    consumer = clients.rdkafka_consumer(**CONSUMER, **{"group.id": group})
    producer = clients.rdkafka_producer(**PRODUCER)
    try:
        if alerts_topic not in producer.list_topics(alerts_topic, timeout=10).topics:
            raise RuntimeError(f"no topic {alerts_topic}")
        consumer.subscribe([topic])
        window, deliveries, pending = Window(), Deliveries(), deque[Batch]()
        loads, dumps, produce = orjson.loads, orjson.dumps, producer.produce
        count = hits = 0
        while count < expect:
            messages = consumer.consume(BATCH, WAIT_MS / 1000)
            if not messages:
                producer.poll(0)
                window.check_stall(count, expect)
                continue
            window.start(len(messages))
            batch = Batch()
            for m in messages:
                if m.error() is not None:
                    raise RuntimeError(f"consume error: {m.error()}")
                try:
                    read = loads(m.value() or b"")
                    plate = listed_plate(read["plate"], hotlist)
                except (orjson.JSONDecodeError, TypeError, KeyError):
                    continue  # not a plate read: no hit
                if plate is not None:
                    batch.left += 1
                    value, key, report = dumps(alert(read, plate)), plate.encode(), partial(deliveries.report, batch)
                    while True:
                        try:
                            produce(alerts_topic, value, key, on_delivery=report)
                            break
                        except BufferError:  # the local queue is full: serve reports until there is room
                            producer.poll(0.05)
            hits += batch.left
            count += len(messages)
            batch.positions = consumer.position(consumer.assignment())
            pending.append(batch)
            producer.poll(0)
            store_acknowledged(consumer, pending)
            window.progressed()
        window.processed()
        deadline = time.monotonic() + 60
        while producer.flush(1) > 0:
            if time.monotonic() > deadline:
                raise TimeoutError("alerts unacknowledged after 60 s")
        window.delivered()
        store_acknowledged(consumer, pending)
        if deliveries.errors:
            raise RuntimeError(f"{len(deliveries.errors)} alerts failed: {deliveries.errors[0]}")
        figures = window.figures(count)
    finally:
        consumer.close()  # commits the stored offsets
    return {**figures, "hits": hits, "alerts_acked": deliveries.acked, "consumer": CONSUMER, "producer": PRODUCER}


def main(argv: list[str] | None = None) -> int:
    args = peer_arguments(__doc__.split("\n")[0] if __doc__ else None).parse_args(argv)
    emit("confluent-batch", run(args.bootstrap, args.topic, args.reads, args.group, args.hotlist, args.alerts_topic))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
