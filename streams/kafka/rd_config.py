"""librdkafka's settings: the worker's consumer and producer under either guarantee, the hotlist
publisher's, and how a transactional producer starts its transactions."""

from __future__ import annotations

from typing import Any

from streams.errors import AccessDeniedError, BrokerUnavailableError, PlatewatchError
from streams.ops.settings import Settings

# a restarted broker is tried again within a second, not after librdkafka's backoff of up to 10 s
FAILOVER = {"reconnect.backoff.max.ms": 1000}


# every producer's outputs: acknowledged by every in-sync replica, in order, without duplicates from retries
_ACKED: dict[str, Any] = {
    "acks": "all",
    "enable.idempotence": True,
    "partitioner": "murmur2_random",  # Java's partitioner: keys land where any standard producer puts them
    **FAILOVER,
}
# the worker's outputs, under either guarantee
_WORKER_OUTPUTS: dict[str, Any] = {
    **_ACKED,
    "linger.ms": 2,
    "batch.size": 512 * 1024,
    # a report per failed output only (counted): one per output cost a Python call each
    "delivery.report.only.error": True,
}


def _transactional(transactional_id: str, timeout_ms: int) -> dict[str, Any]:
    return {**_ACKED, "transactional.id": transactional_id, "transaction.timeout.ms": timeout_ms}


def producer_properties(s: Settings, transactional_id: str) -> dict[str, Any]:
    """The exactly-once worker's: a transaction a batch."""
    return {
        **_WORKER_OUTPUTS,
        **_transactional(transactional_id, s.transaction_timeout_ms),
        # the coordinator answers the next batch's first call with CONCURRENT_TRANSACTIONS until the
        # last commit's markers are written (a few ms); librdkafka's 100 ms retry backoff held a batch
        # back that long, one batch in ten at 5,000 reads/s
        "retry.backoff.ms": 5,
        "socket.timeout.ms": min(60_000, s.transaction_timeout_ms),
    }


def at_least_once_producer_properties() -> dict[str, Any]:
    """The at-least-once worker's: a batch's outputs are awaited (flush) before its offsets are stored."""
    return {
        **_WORKER_OUTPUTS,
        # an output not acknowledged by then is reported failed, and its batch is re-read: long enough
        # for a cluster restart, short enough that a lost cluster shows
        "message.timeout.ms": 60_000,
    }


def consumer_properties(s: Settings, *, exactly_once: bool) -> dict[str, Any]:
    """Exactly once commits offsets in its transactions; at least once stores the offsets of each
    acknowledged batch, and librdkafka commits what is stored every `commit_interval_ms` (and before
    partitions go, and on close)."""
    auto_commit = not exactly_once and s.commit_interval_ms > 0  # 0: the processor commits every batch
    properties: dict[str, Any] = {
        "group.id": s.group_id,
        "enable.auto.commit": auto_commit,
        "enable.auto.offset.store": False,
        "auto.offset.reset": "earliest",
        # exactly once reads only committed reads (a gateway may write in transactions too)
        "isolation.level": "read_committed" if exactly_once else "read_uncommitted",
        "fetch.wait.max.ms": max(1, s.batch_wait_ms),
        "max.partition.fetch.bytes": 4 * 1024 * 1024,
        "fetch.queue.backoff.ms": 10,  # librdkafka's default (1000 ms) stalls a fast consumer
        # read-ahead: 16 MiB is about three batches of reads; librdkafka's 64 MiB held the worker's
        # memory (with 10M entries) above 700 MB at saturation for no gain in reads/s
        "queued.max.messages.kbytes": 16 * 1024,
        "session.timeout.ms": s.session_timeout_ms,
        "heartbeat.interval.ms": s.heartbeat_interval_ms,
        "topic.metadata.refresh.interval.ms": 10_000,  # a new agency's input topic within seconds
        # a lost group coordinator is looked up again within a second (a tenth of this), not a minute
        "coordinator.query.interval.ms": 10_000,
        **FAILOVER,
    }
    if auto_commit:
        properties["auto.commit.interval.ms"] = s.commit_interval_ms
    if s.group_instance_id:
        properties["group.instance.id"] = s.group_instance_id
    return properties


def publisher_properties(s: Settings, transactional_id: str) -> dict[str, Any]:
    """A hotlist load: millions of small records in one transaction, sent in large batches."""
    return {
        **_transactional(transactional_id, s.publish_transaction_timeout_ms),
        "linger.ms": 20,
        "batch.size": 1024 * 1024,
        "queue.buffering.max.messages": 1_000_000,
    }


def reach(producer: Any, bootstrap: str) -> Any:
    """Fail fast, with a one-line reason, when `producer` cannot reach or log in to the brokers; the
    cluster's metadata when it can. Blocking: run it off the event loop."""
    import confluent_kafka  # noqa: PLC0415 (only its users pay for loading librdkafka)

    try:
        return producer.list_topics(None, 2.0)  # an unreachable broker fails here, quickly
    except confluent_kafka.KafkaException as exc:
        err = exc.args[0]
        if err.code() == confluent_kafka.KafkaError._AUTHENTICATION:
            raise PlatewatchError(f"Kafka at {bootstrap} refused the credentials: {err.str()}") from None
        raise BrokerUnavailableError(f"Kafka at {bootstrap} unreachable") from None


def init_transactions(producer: Any, bootstrap: str, transactional_id: str, timeout_s: float) -> Any:
    """Connect and start `producer`'s transactions, which fences any earlier producer of its id (the
    broker aborts that one's open transaction); the cluster's metadata. Blocking: run it off the event
    loop."""
    import confluent_kafka  # noqa: PLC0415

    metadata = reach(producer, bootstrap)
    try:
        producer.init_transactions(timeout_s)
    except confluent_kafka.KafkaException as exc:
        err = exc.args[0]
        if err.code() == confluent_kafka.KafkaError.TRANSACTIONAL_ID_AUTHORIZATION_FAILED:
            raise AccessDeniedError(f"the broker refuses transactional id {transactional_id}") from None
        raise PlatewatchError(f"transactions could not start: {err.str()}") from None
    return metadata
