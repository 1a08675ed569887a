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

Structure: librdkafka's blocking calls run on one thread of their own, in turn (consume, then the
transaction of that batch, then the next consume), so the event loop stays free for /readyz and the
hotlist replica, and a rebalance (whose callbacks run inside `consume`) never finds a transaction open.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from streams.errors import PlatewatchError
from streams.kafka.batch_outputs import batch_outputs
from streams.kafka.batch_send import OutRecord
from streams.kafka.blocking_lane import BlockingLane, LaneWedgedError
from streams.kafka.processor_base import ProcessorBase, freeze_long_lived
from streams.kafka.rd_records import ConsumedMessages, ConsumeErrorLog, split_messages
from streams.kafka.transaction_errors import FencedError, abort_reason, describe
from streams.kafka.transactional_config import consumer_properties, init_transactions, producer_properties
from streams.pipeline.batch import RecordColumns
from streams.pipeline.counts import InputRange

log = logging.getLogger(__name__)

T = TypeVar("T")
TAKE_WAIT_S = 0.1  # the longest a consume waits for a first read (then the loop checks for a stop)
CALL_TIMEOUT_S = 10.0  # one transactional call (init, offsets, commit, abort) waits this long at most
SEND_DEADLINE_S = 3.0  # a batch's produce calls and offsets take milliseconds: past this (100x), stuck
COMMIT_RETRIES = 3  # a retriable commit error (a timeout) is retried this often before the batch is aborted


class TransactionalReadProcessor(ProcessorBase):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # a stable id (static membership) fences this worker's predecessor at once: init_transactions
        # aborts whatever transaction it left open; a random one waits for the broker's timeout
        s = self.settings
        self.transactional_id = f"{s.group_id}-{s.group_instance_id or uuid.uuid4().hex}"
        self.consumer: Any = None
        self.producer: Any = None
        self._fatal_at: list[float] = []  # when the producer last failed fatally
        self._log_consume_error = ConsumeErrorLog(log, "consume")
        self._rebalances = 0  # assignments and revocations seen (by the consume thread)
        self._positions: dict[tuple[str, int], int] = {}  # committed offsets, for the lag gauges
        self._lane = BlockingLane("rdkafka")  # librdkafka's blocking calls, one at a time, off the event loop
        self._recovery = BlockingLane("rdkafka-recovery")  # the producer's registration and aborts

    async def _call(
        self, fn: Callable[..., T], *args: Any, deadline: float | None = None, lane: BlockingLane | None = None
    ) -> T:
        return await (lane or self._lane).call(fn, *args, deadline=deadline)

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
        await self._call(init_transactions, producer, self.settings.bootstrap_servers, self.transactional_id,
                         CALL_TIMEOUT_S, deadline=CALL_TIMEOUT_S + 7, lane=self._recovery)  # fmt: skip
        self.producer = producer

    def _new_consumer(self) -> Any:
        return self.clients.rdkafka_consumer(**consumer_properties(self.settings))

    async def run(self) -> None:
        await self.replica.caught_up.wait()
        freeze_long_lived()
        self.consumer = self._new_consumer()
        self.consumer.subscribe([self.topic], on_assign=self._assigned, on_revoke=self._revoked, on_lost=self._revoked)
        self.consuming = True
        probe = asyncio.create_task(self.probe.run())
        log.info("consuming %s as group %s, exactly once (transactional id %s)",
                 self.topic, self.settings.group_id, self.transactional_id)  # fmt: skip
        try:
            while not self._stopping:
                messages = await self._call(self._take)
                batch = split_messages(messages)
                for err in batch.errors:
                    if err.fatal():
                        raise PlatewatchError(f"the consumer failed: {err.str()}")
                    self._log_consume_error(err)
                if batch.records:
                    await self._process(batch)
                else:
                    self._report_lag()
        finally:
            probe.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await probe
            self.consuming = False
            self._loop_done.set()

    def _take(self) -> list[Any]:
        """The next batch: whatever has arrived, as soon as one read has. librdkafka's consume waits out
        its whole timeout for a batch that does not fill, which at a few thousand reads a second added
        that timeout to every read's latency; here a batch is what arrived while the last one committed."""
        first: list[Any] = self.consumer.consume(1, TAKE_WAIT_S)
        more = self.settings.batch_max_reads - 1
        if not first or not more:
            return first
        rebalances = self._rebalances
        rest: list[Any] = self.consumer.consume(more, 0)
        if self._rebalances != rebalances:  # librdkafka dropped what the rebalance made stale from
            # this call's messages only: the first read may be stale. The group rebalances eagerly
            # (librdkafka's default strategies), so every partition restarts from its committed
            # offset and the first read comes again
            return rest
        return first + rest

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
            await self._call(self._commit, self.producer, deadline=(CALL_TIMEOUT_S + 1) * (COMMIT_RETRIES + 1))
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

    async def _rewind_until_done(self) -> None:
        delay = 0.2
        while not self._stopping:
            try:
                await self._call(self._rewind)  # no deadline: a late rewind would undo newer batches
                return
            except Exception as exc:
                log.warning("going back to the committed offsets failed (%s); retrying", describe(exc))
                await asyncio.sleep(delay)
                delay = min(2.0, delay * 2)

    # ---- on librdkafka's thread ------------------------------------------------------------------

    def _send(self, by_topic: dict[str, list[OutRecord]], ranges: Sequence[InputRange]) -> None:
        """One batch, one transaction: its outputs, then the offsets of its reads (then `_commit`)."""
        import confluent_kafka  # noqa: PLC0415

        producer = self.producer
        producer.begin_transaction()
        for topic, outs in by_topic.items():
            for key, value, headers in outs:
                while True:
                    try:
                        if headers:
                            producer.produce(topic, value, key, headers=list(headers))
                        else:
                            producer.produce(topic, value, key)
                        break
                    except BufferError:  # the local queue is full: serve delivery reports until there is room
                        producer.poll(0.05)
        offsets = [confluent_kafka.TopicPartition(r.topic, r.partition, r.last_offset + 1) for r in ranges]
        producer.send_offsets_to_transaction(offsets, self.consumer.consumer_group_metadata(), SEND_DEADLINE_S - 1)

    def _commit(self, producer: Any) -> None:
        """Commit the batch's transaction, on the producer that began it (a call abandoned past its
        deadline must not touch the producer that replaced it)."""
        import confluent_kafka  # noqa: PLC0415

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

    def _rewind(self) -> None:
        """Go back to the committed offsets of every assigned partition (a zombie's assignment may be
        gone already: it rejoins on its next consume)."""
        import confluent_kafka  # noqa: PLC0415

        assignment = self.consumer.assignment()
        if not assignment:
            return
        for tp in self.consumer.committed(assignment, CALL_TIMEOUT_S):
            if tp.error is not None:
                raise confluent_kafka.KafkaException(tp.error)  # retried: never guess a position
            if tp.offset < 0:  # nothing committed yet: where auto.offset.reset=earliest starts
                tp.offset = confluent_kafka.OFFSET_BEGINNING
            self.consumer.seek(tp)

    def _open_circuit(self, ranges: Sequence[InputRange]) -> None:
        """Too many internal errors: a bug, not bad input. Nothing of this batch is sent; its partitions
        go back to its first offsets and consumption pauses (see read_processor)."""
        import confluent_kafka  # noqa: PLC0415

        for r in ranges:
            self.consumer.seek(confluent_kafka.TopicPartition(r.topic, r.partition, r.first_offset))
        self.consumer.pause(self.consumer.assignment())
        self.metrics.breaker_open.set(1)
        log.error("circuit breaker open, consumption paused: %s", self.breaker.reason)

    def _assigned(self, _consumer: Any, partitions: list[Any]) -> None:
        self._rebalances += 1
        log.info("assigned %d partitions of %s", len(partitions), self.topic)

    def _revoked(self, _consumer: Any, partitions: list[Any]) -> None:
        """No transaction is open here (consume and transactions take turns): forget the partitions."""
        self._rebalances += 1
        for tp in partitions:
            self._positions.pop((tp.topic, tp.partition), None)
            with contextlib.suppress(KeyError):
                self.metrics.lag.remove(f"{tp.topic}/{tp.partition}")
        self.metrics.rebalances.inc()

    # ----------------------------------------------------------------------------------------------

    def _report_lag(self) -> None:
        if self.consumer is None:
            return
        import confluent_kafka  # noqa: PLC0415

        for (topic, partition), position in list(self._positions.items()):
            try:
                _low, high = self.consumer.get_watermark_offsets(
                    confluent_kafka.TopicPartition(topic, partition), cached=True
                )
            except confluent_kafka.KafkaException:
                continue
            if high >= 0:
                self.metrics.lag.labels(f"{topic}/{partition}").set(max(0, high - position))

    async def stop(self) -> None:
        """Let the batch in hand commit, leave the group at once, close the clients."""
        self._stopping = True
        try:
            if self.consuming:
                await asyncio.wait_for(self._loop_done.wait(), timeout=30)
        except TimeoutError:
            log.error("the batch in hand did not finish within 30s; the broker aborts it, it is re-read")
        # leaves the group (a rebalance at once); bounded, since Kafka may be gone
        if self.consumer is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._call(self.consumer.close), 10)
        if self.producer is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._call(self.producer.flush, 5), 10)
        self._lane.close()
        self._recovery.close()
