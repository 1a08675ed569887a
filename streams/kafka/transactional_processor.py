"""The hot path, exactly once: per batch, one Kafka transaction holds its alerts, audit records, dead
letters, count records and the consumer offsets of its reads.

A batch's outputs become visible to `read_committed` readers (dispatch, the audit sink, tail-alerts)
together with the commit of its offsets, or not at all: a worker killed mid-batch leaves an open
transaction that the broker aborts after `transaction_timeout_ms`, and the next owner of the partitions
re-reads the batch from the committed offsets. Nothing is lost, nothing is delivered twice.

Fencing (KIP-447): the offsets go into the transaction with the consumer's group metadata (generation
and member id), so a zombie worker — paused past its session timeout while the group gave its
partitions to another — cannot commit: the broker refuses its offsets, its transaction is aborted, and
it re-reads from the committed offsets once it has rejoined. This is why this path runs on
confluent-kafka (librdkafka): aiokafka's `send_offsets_to_transaction` carries the group id only, so
fencing would need one producer per input partition (docs/performance.md, "The data path's client").

Structure (`rd_processor.RdReadProcessor`): consume, process, then the batch's transaction, then the
next consume, so that a rebalance never finds a transaction open.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Sequence
from typing import Any, TypeVar

from streams.kafka.batch_outputs import batch_outputs
from streams.kafka.blocking_lane import BlockingLane, LaneWedgedError
from streams.kafka.rd_config import consumer_properties, init_transactions, producer_properties
from streams.kafka.rd_processor import CALL_TIMEOUT_S, RdReadProcessor
from streams.kafka.rd_records import ConsumedMessages
from streams.kafka.transaction_errors import FencedError, abort_reason, describe
from streams.pipeline.batch import RecordColumns
from streams.pipeline.counts import InputRange
from streams.pipeline.outputs import Outbound

log = logging.getLogger(__name__)

T = TypeVar("T")
SEND_DEADLINE_S = 3.0  # a batch's produce calls and offsets take milliseconds: past this (100x), stuck
COMMIT_RETRIES = 3  # a retriable commit error (a timeout) is retried this often before the batch is aborted


class TransactionalReadProcessor(RdReadProcessor):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # a stable id (static membership) fences this worker's predecessor at once: init_transactions
        # aborts whatever transaction it left open; a random one waits for the broker's timeout
        s = self.settings
        self.transactional_id = f"{s.group_id}-{s.group_instance_id or uuid.uuid4().hex}"
        self.guarantee = f"exactly once (transactional id {self.transactional_id})"
        self._fatal_at: list[float] = []  # when the producer last failed fatally
        self._recovery = BlockingLane("rdkafka-recovery")  # the producer's registration and aborts

    async def _pumping(self, work: Awaitable[T]) -> T:
        """Recover the producer (on its own lane) while the consumer is served: a rebalance the group
        starts meanwhile (a broker failover moves the group coordinator) completes without waiting
        for this worker. What is consumed meanwhile is dropped: the rewind that follows reads it again."""
        task = asyncio.ensure_future(work)
        try:
            while not task.done():
                if self.consumer is None:
                    await asyncio.wait({task}, timeout=0.1)
                    continue
                # no deadline: a consume abandoned and returning after the rewind would skip records
                await self._call(self.consumer.consume, 1000, 0.1)
            return await task
        finally:
            task.cancel()

    async def connect(self) -> None:
        """The transactional producer, registered with the transaction coordinator (one attempt: the
        worker retries). Registering fences any earlier producer with the same id."""
        if self.producer is not None:
            return
        producer = self.clients.rdkafka_producer(
            **producer_properties(self.settings, self.transactional_id), on_delivery=self._delivered
        )
        metadata = await self._call(init_transactions, producer, self.settings.bootstrap_servers,
                                    self.transactional_id, CALL_TIMEOUT_S, deadline=CALL_TIMEOUT_S + 7,
                                    lane=self._recovery)  # fmt: skip
        self._learn_partitions(metadata)
        self.producer = producer

    def _new_consumer(self) -> Any:
        return self.clients.rdkafka_consumer(**consumer_properties(self.settings, exactly_once=True))

    async def _process(self, batch: ConsumedMessages) -> None:
        started = time.monotonic()
        ranges = batch.ranges
        result = self.pipeline.process_isolating(batch.records, RecordColumns(batch.values, batch.topics))
        if self.breaker.observe(result):
            await self._call(self._open_circuit, ranges)
            return
        by_topic = batch_outputs(result, ranges, self.names, int(time.time() * 1000))
        try:
            await self._call(self._send, by_topic, ranges, deadline=SEND_DEADLINE_S)
            # the wait for acknowledgements, then the commit and its retries
            await self._call(self._commit, self.producer, deadline=(CALL_TIMEOUT_S + 1) * (COMMIT_RETRIES + 2))
        except FencedError as exc:
            await self._recover_fatal(exc)
            return
        except LaneWedgedError as exc:
            self.metrics.transaction_aborts.labels("WEDGED").inc()
            log.warning("%s; a new transactional producer fences the stuck one, re-reading from the committed "
                        "offsets", exc)  # fmt: skip
            await self._replace_producer()
            return
        except Exception as exc:
            reason = abort_reason(exc)
            self.metrics.transaction_aborts.labels(reason).inc()
            log.warning("batch transaction aborted (%s: %s); re-reading from the committed offsets",
                        reason, describe(exc))  # fmt: skip
            await self._abort_and_rewind_until_done()
            return
        for r in ranges:
            self._positions[(r.topic, r.partition)] = r.last_offset + 1
        self.metrics.observe_batch(result, time.monotonic() - started, int(time.time() * 1000))
        self._report_lag()

    async def _recover_fatal(self, exc: FencedError) -> None:
        """A fatal producer error: most often this worker's own transaction was timed out by the broker
        while the worker was paused (the zombie case). A new producer with the same transactional id
        starts a new epoch. Fenced again and again means another process holds the same id (two
        workers given one `group_instance_id`): that stops the worker."""
        now = time.monotonic()
        self._fatal_at = [t for t in self._fatal_at if now - t < 60] + [now]
        if len(self._fatal_at) > 3:
            raise FencedError(f"{exc}; fenced {len(self._fatal_at)} times in 60 s: is another worker using "
                              f"transactional id {self.transactional_id}?") from None  # fmt: skip
        self.metrics.transaction_aborts.labels("FATAL").inc()
        log.warning("%s; a new transactional producer takes over, re-reading from the committed offsets", exc)
        await self._replace_producer()

    async def _replace_producer(self) -> None:
        """A producer stuck inside librdkafka is dropped; a new one with the same transactional id
        fences it (its transaction is aborted by the coordinator), then the reads are re-read."""
        self.producer = None
        delay = 0.2
        while not self._stopping:
            try:
                await self._pumping(self.connect())
                break
            except FencedError:
                raise
            except Exception as exc:
                log.warning("the transactional producer could not be replaced (%s); retrying", describe(exc))
                await asyncio.sleep(delay)
                delay = min(2.0, delay * 2)
        await self._rewind_until_done()

    async def _abort_and_rewind_until_done(self) -> None:
        """Abort and rewind, retried while the brokers cannot answer (a cluster restart): the worker
        never goes on past a batch whose transaction is not settled."""
        delay, failures = 0.2, 0
        producer = self.producer
        while True:
            try:
                await self._pumping(self._call(self._abort, producer, deadline=CALL_TIMEOUT_S + 5, lane=self._recovery))
                break
            except FencedError as exc:
                await self._recover_fatal(exc)
                return
            except LaneWedgedError:
                await self._replace_producer()
                return
            except Exception as exc:
                if self._stopping:  # the broker aborts it after transaction_timeout_ms; re-read on restart
                    log.warning("stopping with a batch transaction not aborted (%s)", describe(exc))
                    return
                failures += 1
                if failures >= 3:  # e.g. a commit that gave up mid-way: the producer refuses to abort
                    log.warning("the batch transaction could not be aborted (%s); replacing the producer",
                                describe(exc))  # fmt: skip
                    await self._replace_producer()
                    return
                log.warning("aborting the batch transaction failed (%s); retrying", describe(exc))
                await asyncio.sleep(delay)
                delay = min(2.0, delay * 2)
        await self._rewind_until_done()

    def _send(self, by_topic: dict[str, list[Outbound]], ranges: Sequence[InputRange]) -> None:
        """One batch, one transaction: its outputs, then the offsets of its reads (then `_commit`)."""
        import confluent_kafka  # noqa: PLC0415

        producer = self.producer
        producer.begin_transaction()
        self._produce(producer, by_topic)
        offsets = [confluent_kafka.TopicPartition(r.topic, r.partition, r.last_offset + 1) for r in ranges]
        producer.send_offsets_to_transaction(offsets, self.consumer.consumer_group_metadata(), SEND_DEADLINE_S - 1)

    def _commit(self, producer: Any) -> None:
        """Commit the batch's transaction, on the producer that began it (a call abandoned past its
        deadline must not touch the producer that replaced it)."""
        import confluent_kafka  # noqa: PLC0415

        # the commit flushes too, but in librdkafka's 10 ms sleeps (see ACK_POLL_S)
        self._await_acks(producer, CALL_TIMEOUT_S)
        for attempt in range(COMMIT_RETRIES + 1):
            try:
                producer.commit_transaction(CALL_TIMEOUT_S)
                return
            except confluent_kafka.KafkaException as exc:
                err = exc.args[0]
                if err.fatal():
                    raise FencedError(f"transactional producer fenced: {err.str()}") from None
                if not err.retriable() or attempt == COMMIT_RETRIES or self._stopping:
                    raise
                self.metrics.transaction_retries.inc()

    def _delivered(self, err: Any, _msg: Any) -> None:
        """librdkafka reports failed deliveries only (`delivery.report.only.error`): a failed output
        also fails the transaction's commit, which aborts the batch."""
        if err is not None:
            self.metrics.produce_errors.inc()

    def _abort(self, producer: Any) -> None:
        """Discard the batch's outputs (then `_rewind`), on the producer that began the batch."""
        import confluent_kafka  # noqa: PLC0415

        try:
            producer.abort_transaction(CALL_TIMEOUT_S)
        except confluent_kafka.KafkaException as exc:
            if exc.args[0].fatal():
                raise FencedError(f"transactional producer fenced: {exc.args[0].str()}") from None
            raise

    async def stop(self) -> None:
        """Let the batch in hand commit (a batch cut short is aborted by the broker and re-read), leave
        the group at once, close the clients."""
        await super().stop()
        self._recovery.close()
