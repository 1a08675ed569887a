"""A worker as a child process with test controls, and helpers to feed and read topics: for the load
benchmark and the end-to-end tests."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Iterable
from typing import Any

import orjson
from prometheus_client.parser import text_string_to_metric_families

from streams.kafka.clients import KafkaClients
from streams.ops.settings import Settings, build_settings
from streams.sim.worker_child import WorkerChild


class WorkerProcess(WorkerChild):
    """The demo's child worker, plus what tests and benchmarks need: SIGKILL and metric reads."""

    def start(self, env: dict[str, str] | None = None) -> WorkerProcess:
        super().start(env)
        return self

    def metric(self, name: str, **labels: str) -> float:
        """The sum of the samples called `name` whose labels include `labels` (parsed with prometheus_client)."""
        _, body = self.get("/metrics")
        total = 0.0
        for family in text_string_to_metric_families(body.decode()):
            for sample in family.samples:
                if sample.name == name and labels.items() <= sample.labels.items():
                    total += sample.value
        return total

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)


def clients_for(target: str | Settings) -> KafkaClients:
    """Clients for whole settings, or for a bootstrap address with the PLATEWATCH_* environment (so the
    benchmarks and their child processes run secured when the environment says so)."""
    return KafkaClients(target if isinstance(target, Settings) else build_settings({"bootstrap_servers": target}))


async def produce(target: str | Settings, topic: str, messages: Iterable[tuple[bytes | None, bytes]]) -> None:
    clients = clients_for(target)
    producer = await clients.start(clients.producer(acks="all", linger_ms=5))
    try:
        futures = [await producer.send(topic, value, key=key) for key, value in messages]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def read_topic(target: str | Settings, topic: str, *, settle: float = 1.5, timeout: float = 30) -> list[Any]:
    """Every record of a topic, read from the start until nothing new arrives for `settle` seconds."""
    clients = clients_for(target)
    out: list[Any] = []
    tps = await clients.topic_partitions(topic, wait_s=5)
    if not tps:
        return out
    consumer = await clients.start(
        clients.consumer(enable_auto_commit=False, group_id=None, isolation_level="read_committed")
    )
    try:
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        deadline = time.monotonic() + timeout
        quiet_since = time.monotonic()
        while time.monotonic() < deadline and time.monotonic() - quiet_since < settle:
            batch = await consumer.getmany(timeout_ms=200)
            for records in batch.values():
                if records:
                    quiet_since = time.monotonic()
                out.extend(records)
    finally:
        await consumer.stop()
    return out


def alert_ids(records: list) -> list[str]:  # type: ignore[type-arg]
    return [orjson.loads(r.value)["alert_id"] for r in records]
