"""`platewatch audit sink`: the audited topics into the audit store, each fact once, nothing lost.

It consumes, as the consumer group `audit_group_id` with `isolation_level=read_committed`, one pattern
subscription: `share-audit` (decisions), every `alerts.<ORI>` (deliveries, read tolerantly),
`batch-counts` (reads, hits and dead letters per agency) and `access-log` (queries of retained data).
A new agency's alert topic is picked up within `metadata_max_age_ms`.

Order of commits, per batch (`getmany` of up to `audit_batch_rows` records):

1. the batch's rows go into the store in one database transaction, every table at once, with
   `INSERT ... ON CONFLICT DO NOTHING` on natural keys (streams/audit/store.py);
2. only once the database has committed are the batch's Kafka offsets committed (auto-commit is off).

A sink killed between 1 and 2 re-reads the batch and stores nothing twice (the keys); killed before
1, it re-reads the batch and stores it then. So killing it loses nothing and duplicates nothing. A
store that fails (database down, disk full) is retried with backoff, the batch held and its offsets
not committed, `/readyz` 503 and `platewatch_audit_sink_ready` 0 meanwhile; a store that refuses
this role an insert stops the sink (exit 5). SIGTERM stores and commits the batch in hand, leaves
the group and exits 0. `/metrics` carries rows stored and duplicated per table, unreadable records,
lag per partition, store and commit failures (streams/ops/audit_metrics.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import signal
import time
from collections import Counter
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.structs import ConsumerRecord
from prometheus_client import CollectorRegistry
from sqlalchemy.exc import DBAPIError

from streams.audit.records import Rows, rows_of
from streams.audit.store import AuditStore, Written, display_url, ensure_current, store_error
from streams.errors import EXIT_OK, AccessDeniedError, StoreUnavailableError
from streams.kafka.clients import KafkaClients
from streams.kafka.http_endpoints import start_endpoints
from streams.kafka.lag import report_lag
from streams.ops.audit_metrics import AuditSinkMetrics
from streams.ops.settings import Settings
from streams.pipeline.topics import TopicNames

log = logging.getLogger(__name__)

RETRY_LOG_EVERY_S = 30.0
MAX_BACKOFF_S = 5.0


def audited_pattern(names: TopicNames) -> str:
    """One regular expression for every topic the sink stores."""
    exact = "|".join(re.escape(t) for t in (names.share_audit, names.batch_counts))
    agencies = "|".join(re.escape(t) for t in (names.alerts_prefix, names.access_log_prefix))
    return f"^(?:{exact}|(?:{agencies})[A-Z0-9]{{9}})$"


class AuditSink:
    """Everything one sink process holds, assembled from its settings."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.clients = KafkaClients(settings)
        self.names = TopicNames.with_prefix(settings.topic_prefix)
        self.pattern = audited_pattern(self.names)
        self.registry = CollectorRegistry()
        self.metrics = AuditSinkMetrics(self.registry)
        self.store = AuditStore.open(settings.audit_db_url)
        self.consumer: AIOKafkaConsumer | None = None
        self.consuming = False
        self.waiting_for = "starting"
        self.store_failing = ""  # why the last attempt to store failed; "" once it succeeded
        self._in_hand: asyncio.Task[None] | None = None  # the batch being stored and committed
        self._committed: dict[TopicPartition, int] = {}

    # ---- readiness -------------------------------------------------------------------------------

    @property
    def not_ready_because(self) -> str | None:
        if self.store_failing:
            return f"the audit store does not take the batch in hand: {self.store_failing}"
        if not self.consuming:
            return self.waiting_for
        return None

    def readiness(self) -> tuple[str | None, dict[str, Any]]:
        return self.not_ready_because, {
            "store": display_url(self.settings.audit_db_url),
            "group_id": self.settings.audit_group_id,
            "partitions": len(self.consumer.assignment()) if self.consumer is not None else 0,
        }

    def _set_ready(self) -> None:
        self.metrics.ready.set(1 if self.not_ready_because is None else 0)

    # ---- start ---------------------------------------------------------------------------------

    async def prepare_store(self, stop: asyncio.Event) -> bool:
        """The store reachable and at the schema this code writes (a SQLite file is migrated); retried
        while the database is unreachable. False when stopped first."""
        self.waiting_for = f"audit store {display_url(self.settings.audit_db_url)} unreachable"
        return await _retrying(lambda: asyncio.to_thread(ensure_current, self.store.engine),
                               StoreUnavailableError, self.waiting_for, stop)  # fmt: skip

    async def connect(self, stop: asyncio.Event) -> bool:
        consumer = self.clients.consumer(
            group_id=self.settings.audit_group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            isolation_level="read_committed",
            max_poll_records=self.settings.audit_batch_rows,
            max_partition_fetch_bytes=4 * 1024 * 1024,
            metadata_max_age_ms=10_000,  # a new agency's alert topic is stored within seconds
            session_timeout_ms=self.settings.session_timeout_ms,
            heartbeat_interval_ms=self.settings.heartbeat_interval_ms,
        )
        self.waiting_for = f"Kafka at {self.settings.bootstrap_servers} unreachable"
        starting = asyncio.create_task(self.clients.start(consumer, wait_s=float("inf")))
        stopped = asyncio.create_task(stop.wait())
        await asyncio.wait({starting, stopped}, return_when=asyncio.FIRST_COMPLETED)
        stopped.cancel()
        if not starting.done():  # SIGTERM while Kafka is away: leave at once
            starting.cancel()
            with contextlib.suppress(BaseException):
                await starting
            with contextlib.suppress(Exception):
                await consumer.stop()
            return False
        self.consumer = starting.result()
        self.consumer.subscribe(pattern=self.pattern, listener=_Rebalance(self))
        return not stop.is_set()

    # ---- the loop ------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        assert self.consumer is not None
        self.consuming = True
        self._set_ready()
        log.info("storing %s as group %s into %s", self.pattern, self.settings.audit_group_id,
                 display_url(self.settings.audit_db_url))  # fmt: skip
        try:
            while not stop.is_set():
                batch = await self.consumer.getmany(timeout_ms=500, max_records=self.settings.audit_batch_rows)
                if batch:
                    self._in_hand = asyncio.create_task(self._store_and_commit(batch, stop))
                    await self._in_hand
                    self._in_hand = None
                self._report_lag()
        finally:
            self.consuming = False
            self._set_ready()

    async def _store_and_commit(self, batch: dict[TopicPartition, list[ConsumerRecord]], stop: asyncio.Event) -> None:
        assert self.consumer is not None
        started = time.monotonic()
        records = [r for rs in batch.values() for r in rs]
        rows = await asyncio.to_thread(rows_of, records, self.names)  # parsing off the loop: heartbeats go on
        offsets = {tp: rs[-1].offset + 1 for tp, rs in batch.items()}
        written = await self._store(rows, stop)
        if written is None:  # stopped while the store was failing: nothing committed, re-read on restart
            return
        # the rows are committed in the database: now, and only now, the offsets
        try:
            await self.consumer.commit(offsets)
            self._committed.update(offsets)
        except Exception as exc:  # a rebalance took the partitions: their new owner re-reads, stores once
            self.metrics.commit_failures.inc()
            log.warning("offsets not committed (%s); those records come again and are stored once",
                        type(exc).__name__)  # fmt: skip
        unreadable = Counter(row["kind"] for row in rows.unreadable)
        self.metrics.observe_batch(
            len(records), written.stored, written.duplicates, unreadable, time.monotonic() - started, time.time()
        )
        if unreadable:
            kinds = ", ".join(f"{k}: {n}" for k, n in sorted(unreadable.items()))
            log.warning("%d records were not what their topic says; kept in unreadable_records (%s)",
                        len(rows.unreadable), kinds)  # fmt: skip

    async def _store(self, rows: Rows, stop: asyncio.Event) -> Written | None:
        """Write the batch, retrying with backoff while the store fails; None when stopped first."""
        backoff, last_log = 0.2, 0.0
        while True:
            try:
                written: Written = await asyncio.to_thread(self.store.write, rows)
            except DBAPIError as exc:
                error = store_error(self.store.engine, "store a batch", exc)
                if isinstance(error, AccessDeniedError):
                    raise error from None  # retrying will not grant it
                self.metrics.store_failures.inc()
                self.store_failing = error.one_line()
                self._set_ready()
                now = time.monotonic()
                if now - last_log >= RETRY_LOG_EVERY_S:
                    log.error("%s; retrying, offsets not committed", error)
                    last_log = now
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), backoff)
                if stop.is_set():
                    return None
                backoff = min(backoff * 2, MAX_BACKOFF_S)
                continue
            if self.store_failing:
                log.info("the audit store takes batches again")
                self.store_failing = ""
                self._set_ready()
            return written

    def _report_lag(self) -> None:
        report_lag(self.consumer, self._committed, self.metrics.lag)

    async def close(self) -> None:
        if self._in_hand is not None:  # SIGTERM mid-batch: store and commit it first
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(self._in_hand), timeout=30)
        if self.consumer is not None:
            await self.consumer.stop()
        self.store.close()


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    """The batch in hand is stored and committed before its partitions go; their lag gauges go too."""

    def __init__(self, sink: AuditSink) -> None:
        self.sink = sink

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        if self.sink._in_hand is not None:
            with contextlib.suppress(Exception):
                await asyncio.shield(self.sink._in_hand)
        for tp in revoked:
            self.sink._committed.pop(tp, None)
            with contextlib.suppress(KeyError):
                self.sink.metrics.lag.remove(f"{tp.topic}/{tp.partition}")

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        """Lag counts from the group's committed offsets (a new group: from the start of the topic)."""
        consumer = self.sink.consumer
        if consumer is not None and assigned:
            with contextlib.suppress(Exception):
                beginnings = await consumer.beginning_offsets(list(assigned))
                for tp in assigned:
                    committed = await consumer.committed(tp)
                    self.sink._committed[tp] = committed if committed is not None else beginnings[tp]
        log.info("assigned %d partitions of the audited topics", len(assigned))


async def _retrying(step: Any, retried: type[Exception], reason: str, stop: asyncio.Event) -> bool:
    backoff, last_log = 0.2, 0.0
    while not stop.is_set():
        try:
            await step()
            return True
        except retried as exc:
            now = time.monotonic()
            if now - last_log >= RETRY_LOG_EVERY_S:
                log.warning("%s (%s); retrying", reason, exc)
                last_log = now
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), backoff)
        backoff = min(backoff * 2, MAX_BACKOFF_S)
    return False


async def serve(sink: AuditSink, stop: asyncio.Event) -> int:
    """Run the sink until `stop` is set; returns the exit status (errors propagate to the CLI)."""
    s = sink.settings
    runner = await start_endpoints(sink.registry, sink.readiness, s.web_host, s.web_port, "audit sink")
    try:
        if await sink.prepare_store(stop) and await sink.connect(stop):
            await sink.run(stop)
    finally:
        await sink.close()
        await runner.cleanup()
    return EXIT_OK


def run_sink(settings: Settings) -> int:
    async def main() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        return await serve(AuditSink(settings), stop)

    return asyncio.run(main())
