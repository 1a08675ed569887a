"""The hot path on Kafka: a batch of plate reads in, the pipeline, outputs acknowledged, offsets committed.

Delivery is at least once, with deterministic alert ids: offsets are committed only after the broker
has acknowledged every alert, audit record, dead letter and count record of the batch (acks=all, idempotent
producer). A worker killed mid-batch re-reads the batch on restart and re-sends the same alert ids,
which consumers de-duplicate. SIGTERM lets the batch in hand finish and commit before the worker exits.

faust's per-event agent machinery is bypassed here on purpose: a `getmany` loop handing whole
batches to numpy is what lets one process keep up with a state's traffic (see docs/architecture.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.structs import ConsumerRecord

from streams.kafka.batch_outputs import batch_outputs
from streams.kafka.batch_send import enqueue_all
from streams.kafka.lag import report_lag
from streams.kafka.processor_base import ProcessorBase, freeze_long_lived
from streams.pipeline.counts import InputRange
from streams.pipeline.outputs import BatchResult

log = logging.getLogger(__name__)


class ReadProcessor(ProcessorBase):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.consumer: AIOKafkaConsumer | None = None
        self.producer: AIOKafkaProducer | None = None
        self._in_flight: asyncio.Task[None] | None = None
        self._acked: dict[TopicPartition, int] = {}  # acknowledged, not yet committed
        self._committing: asyncio.Task[None] | None = None
        self._in_commit: dict[TopicPartition, int] = {}  # the offsets of the commit in flight
        self._last_commit = 0.0
        self._positions: dict[TopicPartition, int] = {}

    async def connect(self) -> None:
        """Start the producer (one attempt: the worker retries). The consumer joins its group in `run`."""
        if self.producer is not None:
            return
        producer = self.clients.producer(acks="all", enable_idempotence=True, linger_ms=2, max_batch_size=512 * 1024)
        self.producer = await self.clients.start(producer, wait_s=0)

    def _new_consumer(self) -> AIOKafkaConsumer:
        return self.clients.consumer(
            group_id=self.settings.group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=self.settings.batch_max_reads,
            fetch_max_wait_ms=max(1, self.settings.batch_wait_ms),
            max_partition_fetch_bytes=4 * 1024 * 1024,
            isolation_level="read_uncommitted",
            metadata_max_age_ms=10_000,  # a new agency's input topic is consumed within seconds
            session_timeout_ms=self.settings.session_timeout_ms,
            heartbeat_interval_ms=self.settings.heartbeat_interval_ms,
            group_instance_id=self.settings.group_instance_id or None,
        )

    async def run(self) -> None:
        await self.replica.caught_up.wait()
        freeze_long_lived()
        self.consumer = await self.clients.start(self._new_consumer(), wait_s=float("inf"))
        if self.settings.ingest == "per_agency":
            self.consumer.subscribe(pattern=self.topic, listener=_Rebalance(self))
        else:
            self.consumer.subscribe([self.topic], listener=_Rebalance(self))
        self.consuming = True
        watchdog = asyncio.create_task(self.probe.run())
        log.info("consuming %s as group %s", self.topic, self.settings.group_id)
        try:
            while not self._stopping:
                batch = await self.consumer.getmany(
                    timeout_ms=max(1, self.settings.batch_wait_ms), max_records=self.settings.batch_max_reads
                )
                if self._in_flight is not None and self._in_flight.done() and self._in_flight.exception():
                    await self._rewind(self._in_flight.exception())
                    continue
                if batch:
                    await self._process(batch)
                else:
                    self._report_lag()
                await self._maybe_commit()
        finally:
            watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watchdog  # its admin connection closed
            self.consuming = False
            self._loop_done.set()

    def consumer_assignment(self) -> set[TopicPartition]:
        return set(self.consumer.assignment()) if self.consumer is not None else set()

    async def _maybe_commit(self, force: bool = False) -> None:
        """Commit the acknowledged offsets, at most every `commit_interval_ms` (a commit is a round
        trip to the group coordinator: doing it per batch held up the next fetch)."""
        now = time.monotonic()
        if not self._acked or (not force and now - self._last_commit < self.settings.commit_interval_ms / 1000):
            return
        if self._committing is not None:
            if not self._committing.done() and not force:
                return
            try:
                await self._committing
            except Exception as exc:  # counted, and those offsets go out again with the next commit
                self.metrics.commit_failures.inc()
                log.warning("offset commit failed (%s); retrying with the next commit", type(exc).__name__)
                for tp, offset in self._in_commit.items():
                    if tp in self.consumer_assignment() and offset > self._acked.get(tp, -1):
                        self._acked[tp] = offset
        assert self.consumer is not None
        offsets, self._acked = self._acked, {}
        self._last_commit = now
        self._in_commit = offsets
        self._committing = asyncio.create_task(self.consumer.commit(offsets))
        self._positions.update(offsets)
        if force:
            await self._committing

    async def _process(self, batch: dict[TopicPartition, list[ConsumerRecord]]) -> None:
        """Process a batch and hand its outputs to the producer. The broker's acknowledgement is
        awaited in the background while the next batch is fetched and processed; only offsets of
        acknowledged batches are ever committed (`_maybe_commit`)."""
        assert self.consumer is not None and self.producer is not None
        started = time.monotonic()
        # aiokafka's records already carry what the pipeline reads (value, key, topic, partition,
        # offset, timestamp): no copy per read
        records = [r for rs in batch.values() for r in rs]
        result = self.pipeline.process_isolating(records)
        if self.breaker.observe(result):
            await self._open_circuit(batch)
            return
        inputs = [InputRange(tp.topic, tp.partition, rs[0].offset, rs[-1].offset, len(rs)) for tp, rs in batch.items()]
        by_topic = batch_outputs(result, inputs, self.names, int(time.time() * 1000))
        futures = await enqueue_all(self.producer, by_topic)
        offsets = {tp: rs[-1].offset + 1 for tp, rs in batch.items()}
        if self._in_flight is not None:
            try:
                await self._in_flight  # at most one batch awaits its acknowledgement: bounded memory
            except Exception as exc:
                await self._rewind(exc)  # this batch is re-read with the failed one
                return
        self._in_flight = asyncio.create_task(self._acknowledged(futures, offsets, result, started))

    async def _rewind(self, exc: BaseException | None) -> None:
        """The outputs of a batch were not acknowledged (broker gone, timeout): never commit past it.
        Every assigned partition goes back to its last acknowledged offset and is read again (at
        least once: a re-sent alert keeps its id)."""
        assert self.consumer is not None
        self.metrics.output_failures.inc()
        log.warning("outputs of a batch were not acknowledged (%s); re-reading from the last acknowledged offsets",
                    type(exc).__name__)  # fmt: skip
        self._in_flight = None
        for tp in self.consumer.assignment():
            position = self._acked.get(tp) or self._positions.get(tp)
            if position is None:
                committed = await self.consumer.committed(tp)
                position = committed
            if position is None:
                await self.consumer.seek_to_beginning(tp)
            else:
                self.consumer.seek(tp, position)

    async def _open_circuit(self, batch: dict[TopicPartition, list[ConsumerRecord]]) -> None:
        """Too many internal errors: a bug, not bad input. Nothing of this batch is sent; its partitions
        go back to its first offsets and consumption pauses, so no read (AMBER hits included) is
        dead-lettered by the bug. /readyz says why; a restart with the fix resumes from there."""
        assert self.consumer is not None
        for tp, rs in batch.items():
            self.consumer.seek(tp, rs[0].offset)
        self.consumer.pause(*self.consumer.assignment())
        self.metrics.breaker_open.set(1)
        log.error("circuit breaker open, consumption paused: %s", self.breaker.reason)

    async def _acknowledged(
        self,
        futures: list[asyncio.Future[Any]],
        offsets: dict[TopicPartition, int],
        result: BatchResult,
        started: float,
    ) -> None:
        await asyncio.gather(*futures)  # the broker has every output of the batch ...
        self._acked.update(offsets)  # ... so its reads may be committed
        self.metrics.observe_batch(result, time.monotonic() - started, int(time.time() * 1000))
        self._report_lag()

    def _report_lag(self) -> None:
        report_lag(self.consumer, self._positions, self.metrics.lag)

    async def stop(self) -> None:
        """Let the batch in hand finish and commit, then close the clients."""
        self._stopping = True
        try:
            if self.consuming:
                await asyncio.wait_for(self._loop_done.wait(), timeout=30)
            if self._in_flight is not None:
                await asyncio.wait_for(asyncio.shield(self._in_flight), timeout=30)
            await asyncio.wait_for(self._maybe_commit(force=True), timeout=30)
        except TimeoutError:
            log.error("the batch in hand did not finish within 30s; it will be re-read on restart")
        except Exception:
            log.exception("the last batch failed; it will be re-read on restart")
        if self.consumer is not None:
            await self.consumer.stop()
        if self.producer is not None:
            await self.producer.stop()


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    """Partitions taken away forget their pending offsets and lag gauges; new ones start clean."""

    def __init__(self, processor: ReadProcessor) -> None:
        self.processor = processor

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        p = self.processor
        if p._in_flight is not None:  # the batch in hand: its outputs acknowledged and committed first
            with contextlib.suppress(Exception):
                await asyncio.shield(p._in_flight)
            with contextlib.suppress(Exception):
                await p._maybe_commit(force=True)
        for tp in revoked:
            p._acked.pop(tp, None)
            p._positions.pop(tp, None)
            with contextlib.suppress(KeyError):
                p.metrics.lag.remove(f"{tp.topic}/{tp.partition}")
        p.metrics.rebalances.inc()

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        log.info("assigned %d partitions of %s", len(assigned), self.processor.topic)
