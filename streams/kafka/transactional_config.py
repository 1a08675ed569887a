"""The exactly-once worker's librdkafka settings: its transactional producer and its consumer."""

from __future__ import annotations

from typing import Any

from streams.ops.settings import Settings

# a restarted broker is tried again within a second, not after librdkafka's backoff of up to 10 s
FAILOVER = {"reconnect.backoff.max.ms": 1000}


def producer_properties(s: Settings, transactional_id: str) -> dict[str, Any]:
    return {
        "transactional.id": transactional_id,
        "transaction.timeout.ms": s.transaction_timeout_ms,
        "acks": "all",
        "enable.idempotence": True,
        "linger.ms": 2,
        "batch.size": 512 * 1024,
        "partitioner": "murmur2_random",  # Java's partitioner: keys land where batch_send puts them
        "socket.timeout.ms": min(60_000, s.transaction_timeout_ms),
        **FAILOVER,
    }


def consumer_properties(s: Settings) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "group.id": s.group_id,
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "auto.offset.reset": "earliest",
        "isolation.level": "read_committed",
        "fetch.wait.max.ms": max(1, s.batch_wait_ms),
        "max.partition.fetch.bytes": 4 * 1024 * 1024,
        "fetch.queue.backoff.ms": 10,  # librdkafka's default (1000 ms) stalls a fast consumer
        "session.timeout.ms": s.session_timeout_ms,
        "heartbeat.interval.ms": s.heartbeat_interval_ms,
        "topic.metadata.refresh.interval.ms": 10_000,  # a new agency's input topic within seconds
        # a lost group coordinator is looked up again within a second (a tenth of this), not a minute
        "coordinator.query.interval.ms": 10_000,
        **FAILOVER,
    }
    if s.group_instance_id:
        properties["group.instance.id"] = s.group_instance_id
    return properties
