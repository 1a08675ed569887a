"""The hot path on Kafka: a batch of plate reads in, the pipeline, outputs acknowledged, offsets committed.

Delivery is at least once, with deterministic alert ids: offsets are committed only after the broker
has acknowledged every alert, audit record and dead letter of the batch (acks=all, idempotent
producer). A worker killed mid-batch re-reads the batch on restart and re-sends the same alert ids,
which consumers de-duplicate. SIGTERM lets the batch in hand finish and commit before the worker exits.

faust's per-event agent machinery is bypassed here on purpose: a `getmany` loop handing whole
batches to numpy is what lets one process keep up with a state's traffic (see docs/architecture.md).
"""

from __future__ import annotations

import asyncio
import logging
import time

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from streams.metrics import PipelineMetrics
from streams.pipeline import InboundRecord, Pipeline
from streams.policy_store import PolicyStore
from streams.settings import Settings

log = logging.getLogger(__name__)


class ReadProcessor:
    def __init__(
        self,
        settings: Settings,
        topic: str,
        pipeline: Pipeline,
        store: PolicyStore,
        metrics: PipelineMetrics,
        ready: asyncio.Event,
    ) -> None:
        self.settings = settings
        self.topic = topic
        self.pipeline = pipeline
        self.store = store
        self.metrics = metrics
        self.ready = ready  # set when the hotlist replica has caught up
        self.consumer: AIOKafkaConsumer | None = None
        self.producer: AIOKafkaProducer | None = None
        self._stopping = False
        self._idle = asyncio.Event()
        self._idle.set()
        self.batches = 0
        self._last_policy_check = 0.0
        self._positions: dict[TopicPartition, int] = {}

    async def start(self) -> None:
        opts = self.settings.kafka_client_options()
        self.producer = AIOKafkaProducer(
            **opts,
            acks="all",
            enable_idempotence=True,
            linger_ms=2,
            max_batch_size=512 * 1024,
        )
        await self.producer.start()
        self.consumer = AIOKafkaConsumer(
            self.topic,
            **opts,
            group_id=self.settings.group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=self.settings.batch_max_reads,
            fetch_max_wait_ms=max(1, self.settings.batch_wait_ms),
            max_partition_fetch_bytes=4 * 1024 * 1024,
            isolation_level="read_uncommitted",
        )

    async def run(self) -> None:
        await self.ready.wait()
        assert self.consumer is not None
        await self.consumer.start()
        log.info("consuming %s as group %s", self.topic, self.settings.group_id)
        while not self._stopping:
            batch = await self.consumer.getmany(
                timeout_ms=max(1, self.settings.batch_wait_ms), max_records=self.settings.batch_max_reads
            )
            if not batch:
                self._report_lag()
                continue
            self._idle.clear()
            try:
                await self._process(batch)
            finally:
                self._idle.set()

    async def _process(self, batch: dict[TopicPartition, list]) -> None:  # type: ignore[type-arg]
        assert self.consumer is not None and self.producer is not None
        started = time.monotonic()
        now = time.monotonic()
        if now - self._last_policy_check >= self.settings.policy_check_seconds:
            self._last_policy_check = now
            self.store.maybe_reload()
        records = [
            InboundRecord(r.value, r.key, tp.topic, tp.partition, r.offset, r.timestamp)
            for tp, rs in batch.items()
            for r in rs
        ]
        result = self.pipeline.process(records)
        pending = []
        for out in result.outbound():
            pending.append(
                await self.producer.send(out.topic, out.value, key=out.key, headers=list(out.headers) or None)
            )
        if pending:
            await asyncio.gather(*pending)  # the broker has every output: now the reads may be committed
        offsets = {tp: rs[-1].offset + 1 for tp, rs in batch.items()}
        await self.consumer.commit(offsets)
        self._positions.update(offsets)
        self.batches += 1
        self.metrics.observe_batch(result, time.monotonic() - started, int(time.time() * 1000))
        self._report_lag()

    def _report_lag(self) -> None:
        consumer = self.consumer
        if consumer is None:
            return
        for tp in consumer.assignment():
            high = consumer.highwater(tp)
            position = self._positions.get(tp)
            if high is not None and position is not None:
                self.metrics.lag.labels(str(tp.partition)).set(max(0, high - position))

    async def stop(self) -> None:
        """Let the batch in hand finish and commit, then close the clients."""
        self._stopping = True
        try:
            await asyncio.wait_for(self._idle.wait(), timeout=30)
        except TimeoutError:
            log.error("the batch in hand did not finish within 30s; it will be re-read on restart")
        if self.consumer is not None:
            await self.consumer.stop()
        if self.producer is not None:
            await self.producer.stop()
