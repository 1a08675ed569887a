"""The hot path, at least once: per batch, its outputs acknowledged, then its offsets committed.

Offsets are stored only once the broker has acknowledged every alert, audit record, dead letter and
count record of the batch (acks=all, idempotent producer); librdkafka commits the stored offsets every
`commit_interval_ms`, before partitions are taken away and on close. A worker killed mid-batch re-reads
the batch on restart and re-sends the same alert ids, which consumers de-duplicate. SIGTERM lets the
batch in hand finish and commit before the worker exits.

An output the broker does not acknowledge within `message.timeout.ms` (a lost cluster) fails its batch:
nothing of it is stored, and every assigned partition goes back to its committed offset, so the batch
is read and sent again.

On librdkafka, like exactly once (`rd_processor`): on the same pipeline it measured faster and cheaper
per read than on aiokafka (docs/performance.md, "The data path's client").
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from typing import Any

from streams.kafka.batch_outputs import batch_outputs
from streams.kafka.rd_config import at_least_once_producer_properties, consumer_properties, reach
from streams.kafka.rd_processor import RdReadProcessor
from streams.kafka.rd_records import ConsumedMessages, ConsumeErrorLog
from streams.kafka.transaction_errors import describe
from streams.pipeline.batch import RecordColumns
from streams.pipeline.counts import InputRange
from streams.pipeline.outputs import Outbound

log = logging.getLogger(__name__)

CONNECT_DEADLINE_S = 10.0  # reaching the brokers fails within about 2 s; past this, librdkafka is stuck


class AtLeastOnceProcessor(RdReadProcessor):
    guarantee = "at least once"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._failed_outputs = 0  # outputs librdkafka reported failed (the delivery callback, on the lane)
        self._producer_fatal = False  # the idempotent producer hit a fatal error: a new one is needed
        self._log_producer_error = ConsumeErrorLog(log, "producer")

    async def connect(self) -> None:
        """The producer, once it reaches the brokers (one attempt: the worker retries)."""
        if self.producer is not None:
            return
        producer = self.clients.rdkafka_producer(
            **at_least_once_producer_properties(), on_delivery=self._delivered, error_cb=self._producer_error
        )
        metadata = await self._call(reach, producer, self.settings.bootstrap_servers, deadline=CONNECT_DEADLINE_S)
        self._learn_partitions(metadata)
        self._producer_fatal = False
        self.producer = producer

    def _new_consumer(self) -> Any:
        return self.clients.rdkafka_consumer(**consumer_properties(self.settings, exactly_once=False))

    async def _process(self, batch: ConsumedMessages) -> None:
        started = time.monotonic()
        result = self.pipeline.process_isolating(batch.records, RecordColumns(batch.values, batch.topics))
        if self.breaker.observe(result):
            await self._call(self._open_circuit, batch.ranges)
            return
        by_topic = batch_outputs(result, batch.ranges, self.names, int(time.time() * 1000))
        if not await self._call(self._deliver, by_topic, batch.ranges):
            self.metrics.output_failures.inc()
            log.warning("outputs of a batch were not acknowledged; re-reading from the committed offsets")
            if self._producer_fatal:
                await self._replace_producer()
            await self._rewind_until_done()
            return
        for r in batch.ranges:
            self._positions[(r.topic, r.partition)] = r.last_offset + 1
        self.metrics.observe_batch(result, time.monotonic() - started, int(time.time() * 1000))
        self._report_lag()

    async def _replace_producer(self) -> None:
        """An idempotent producer that failed fatally (a sequence the broker refused) cannot go on."""
        self.producer = None
        delay = 0.2
        while not self._stopping:
            try:
                await self.connect()
                return
            except Exception as exc:
                log.warning("the producer could not be replaced (%s); retrying", describe(exc))
                await asyncio.sleep(delay)
                delay = min(2.0, delay * 2)

    # ---- on librdkafka's thread ------------------------------------------------------------------

    def _deliver(self, by_topic: dict[str, list[Outbound]], ranges: Sequence[InputRange]) -> bool:
        """Produce a batch's outputs, wait for every acknowledgement, then store its offsets. False
        when an output failed: nothing is stored."""
        import confluent_kafka  # noqa: PLC0415

        failed = self._failed_outputs
        try:
            self._produce(self.producer, by_topic)
        except confluent_kafka.KafkaException as exc:
            if exc.args[0].code() != confluent_kafka.KafkaError._FATAL:
                raise
            self._producer_fatal = True  # it takes no more outputs: the batch is re-read on a new one
            return False
        self._await_acks(self.producer, float("inf"))  # each output is acknowledged, or fails by message.timeout.ms
        if self._failed_outputs != failed or self._producer_fatal:
            return False
        offsets = [confluent_kafka.TopicPartition(r.topic, r.partition, r.last_offset + 1) for r in ranges]
        try:
            self.consumer.store_offsets(offsets=offsets)
        except confluent_kafka.KafkaException as exc:
            # a partition taken away meanwhile: its new owner reads it from the committed offset
            log.info("offsets of a batch not stored (%s)", exc.args[0].str())
        if not self.settings.commit_interval_ms:  # no auto commit: every batch
            self._commit()
        return True

    def _delivered(self, err: Any, _msg: Any) -> None:
        """librdkafka reports failed outputs only (`delivery.report.only.error`)."""
        if err is not None:
            self._failed_outputs += 1
            self.metrics.produce_errors.inc()

    def _producer_error(self, err: Any) -> None:
        """The producer's own errors: a fatal one (the idempotent producer's sequence broken) is only
        flagged here, the error report's `fatal()` says so; a delivery report's error does not."""
        if err.fatal():
            self._producer_fatal = True
            log.warning("the producer failed: %s; a new one takes over", err.str())
        else:  # a broker gone, a connection refused: librdkafka retries; said once in a while
            self._log_producer_error(err)

    def _commit(self) -> None:
        """Commit the stored offsets now (none stored since the last commit is not an error)."""
        import confluent_kafka  # noqa: PLC0415

        try:
            self.consumer.commit(asynchronous=False)
        except confluent_kafka.KafkaException as exc:
            if exc.args[0].code() != confluent_kafka.KafkaError._NO_OFFSET:
                self.metrics.commit_failures.inc()
                log.warning("offset commit failed (%s); the next commit carries them", exc.args[0].str())

    def _before_revoke(self) -> None:
        """Every delivered batch's offsets committed before the partitions go: their next owner starts
        after them."""
        self._commit()

    def _close_consumer(self) -> None:
        self._commit()
        self.consumer.close()
