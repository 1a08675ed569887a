"""The hot path on librdkafka (confluent-kafka), what both guarantees share: consume a batch, process
it, deliver its outputs, then the next batch.

librdkafka's blocking calls run on one thread of their own, in turn (consume, then the delivery of
that batch, then the next consume), so the event loop stays free for /readyz and the hotlist replica,
and a rebalance (whose callbacks run inside `consume`) never finds a batch in flight. A consumed
batch reaches the pipeline as columns (its values and topics); a Message is wrapped as a record only
for a hit or a dead letter. How a batch is delivered is the subclass's: one transaction
(`TransactionalReadProcessor`, exactly once) or acknowledged outputs, then stored offsets
(`AtLeastOnceProcessor`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from streams.errors import PlatewatchError
from streams.kafka.blocking_lane import BlockingLane
from streams.kafka.partition_rotation import ANY_PARTITION, PartitionRotation
from streams.kafka.processor_base import ProcessorBase, freeze_long_lived
from streams.kafka.rd_records import ConsumedMessages, ConsumeErrorLog, split_messages
from streams.kafka.transaction_errors import describe
from streams.pipeline.counts import InputRange
from streams.pipeline.outputs import Outbound

log = logging.getLogger(__name__)

T = TypeVar("T")
TAKE_WAIT_S = 0.1  # the longest a consume waits for a first read (then the loop checks for a stop)
# how often a wait for acknowledgements looks again: librdkafka's flush sleeps on its queue of delivery
# reports up to 10 ms at a time, and with reports of failures only (both guarantees), an acknowledgement
# does not wake it: at 5,000 reads/s that sleep was most of at least once's p99 read->alert (18 -> 11 ms)
ACK_POLL_S = 0.001
CALL_TIMEOUT_S = 10.0  # one call to the brokers (offsets, a transaction's init, commit, abort) waits this long at most


class RdReadProcessor(ProcessorBase):
    guarantee = ""  # for the log

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.consumer: Any = None
        self.producer: Any = None
        self._log_consume_error = ConsumeErrorLog(log, "consume")
        self._rebalances = 0  # assignments and revocations seen (by the consume thread)
        self._positions: dict[tuple[str, int], int] = {}  # offsets of delivered batches, for the lag gauges
        self._lane = BlockingLane("rdkafka")  # librdkafka's blocking calls, one at a time, off the event loop
        # a batch's audit and count records on one partition each (partition counts learnt at connect)
        self._rotation = PartitionRotation((self.names.share_audit, self.names.batch_counts))

    async def _call(
        self, fn: Callable[..., T], *args: Any, deadline: float | None = None, lane: BlockingLane | None = None
    ) -> T:
        return await (lane or self._lane).call(fn, *args, deadline=deadline)

    async def connect(self) -> None:
        raise NotImplementedError

    def _new_consumer(self) -> Any:
        raise NotImplementedError

    async def _process(self, batch: ConsumedMessages) -> None:
        raise NotImplementedError

    async def run(self) -> None:
        await self.replica.caught_up.wait()
        freeze_long_lived()
        self.consumer = self._new_consumer()
        self.consumer.subscribe([self.topic], on_assign=self._assigned, on_revoke=self._revoked, on_lost=self._lost)
        self.consuming = True
        probe = asyncio.create_task(self.probe.run())
        log.info("consuming %s as group %s, %s", self.topic, self.settings.group_id, self.guarantee)
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

    def _open_circuit(self, ranges: Sequence[InputRange]) -> None:
        """Too many internal errors: a bug, not bad input. Nothing of this batch is sent; its partitions
        go back to its first offsets and consumption pauses, so no read (AMBER hits included) is
        dead-lettered by the bug. /readyz says why; a restart with the fix resumes from there."""
        import confluent_kafka  # noqa: PLC0415

        for r in ranges:
            self.consumer.seek(confluent_kafka.TopicPartition(r.topic, r.partition, r.first_offset))
        self.consumer.pause(self.consumer.assignment())
        self.metrics.breaker_open.set(1)
        log.error("circuit breaker open, consumption paused: %s", self.breaker.reason)

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

    def _learn_partitions(self, metadata: Any) -> None:
        """The partition counts of the topics a batch writes to one partition of (at connect)."""
        missing = self._rotation.learn(metadata)
        if missing:
            log.warning("%s not found at connect: their records go to their keys' partitions", ", ".join(missing))

    def _produce(self, producer: Any, by_topic: dict[str, list[Outbound]]) -> None:
        """Hand a batch's outputs to librdkafka (on the lane)."""
        import confluent_kafka  # noqa: PLC0415

        chosen = self._rotation.next_batch()
        produce = producer.produce
        for topic, outs in by_topic.items():
            partition = chosen.get(topic, ANY_PARTITION)
            for _, key, value, headers in outs:
                while True:
                    try:
                        if headers:
                            produce(topic, value, key, partition, headers=list(headers))
                        else:
                            produce(topic, value, key, partition)
                        break
                    except BufferError:  # the local queue is full: serve delivery reports until there is room
                        producer.poll(0.05)
                    except confluent_kafka.KafkaException as exc:
                        if (
                            partition == ANY_PARTITION
                            or exc.args[0].code() != confluent_kafka.KafkaError._UNKNOWN_PARTITION
                        ):
                            raise
                        log.warning("%s has fewer partitions than at connect: its records go by their keys", topic)
                        self._rotation.forget(topic)
                        partition = ANY_PARTITION

    @staticmethod
    def _await_acks(producer: Any, timeout_s: float) -> int:
        """Wait (on the lane) until every output handed to `producer` is acknowledged or has failed, at
        most `timeout_s`; how many are still pending."""
        deadline = time.monotonic() + timeout_s
        pending: int = producer.flush(0)
        while pending and time.monotonic() < deadline:
            pending = producer.flush(ACK_POLL_S)
        return pending

    def _assigned(self, _consumer: Any, partitions: list[Any]) -> None:
        self._rebalances += 1
        log.info("assigned %d partitions of %s", len(partitions), self.topic)

    def _revoked(self, consumer: Any, partitions: list[Any]) -> None:
        """No batch is in flight here (consume and delivery take turns): forget the partitions."""
        self._before_revoke()
        self._lost(consumer, partitions)

    def _lost(self, _consumer: Any, partitions: list[Any]) -> None:
        """Partitions taken away without a revocation (this worker was out of the group too long)."""
        self._rebalances += 1
        for tp in partitions:
            self._positions.pop((tp.topic, tp.partition), None)
            with contextlib.suppress(KeyError):
                self.metrics.lag.remove(f"{tp.topic}/{tp.partition}")
        self.metrics.rebalances.inc()

    def _before_revoke(self) -> None:
        """What the guarantee does before partitions go (on the consume thread)."""

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
        """Let the batch in hand be delivered, leave the group at once, close the clients."""
        self._stopping = True
        try:
            if self.consuming:
                await asyncio.wait_for(self._loop_done.wait(), timeout=30)
        except TimeoutError:
            log.error("the batch in hand did not finish within 30s; it is re-read")
        # leaves the group (a rebalance at once); bounded, since Kafka may be gone
        if self.consumer is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._call(self._close_consumer), 10)
        if self.producer is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._call(self.producer.flush, 5), 10)
        self._lane.close()

    def _close_consumer(self) -> None:
        self.consumer.close()
