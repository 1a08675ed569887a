"""What every hot path shares: its inputs, the circuit breaker, the broker probe and the stop flag
(`rd_processor` adds the librdkafka loop both guarantees run)."""

from __future__ import annotations

import asyncio
import gc

from streams.kafka.broker_probe import BrokerProbe
from streams.kafka.clients import KafkaClients
from streams.kafka.hotlist_replica import HotlistReplica
from streams.ops.metrics import PipelineMetrics
from streams.ops.settings import Settings
from streams.pipeline.batch import Pipeline
from streams.pipeline.breaker import BreakerSettings, CircuitBreaker
from streams.pipeline.topics import TopicNames


class ProcessorBase:
    def __init__(
        self,
        settings: Settings,
        clients: KafkaClients,
        names: TopicNames,
        pipeline: Pipeline,
        metrics: PipelineMetrics,
        replica: HotlistReplica,
    ) -> None:
        self.settings = settings
        self.clients = clients
        self.names = names
        # what the workers consume: every agency's input topic, or the single development topic
        self.topic = names.reads_pattern if settings.ingest == "per_agency" else names.plate_reads
        self.pipeline = pipeline
        self.metrics = metrics
        self.replica = replica  # reads wait until it has caught up
        self.consuming = False
        self.probe = BrokerProbe(clients)  # whether Kafka answers, once consuming has begun
        self.breaker = CircuitBreaker(
            BreakerSettings(max_errors=settings.breaker_max_errors, max_error_ratio=settings.breaker_max_error_ratio)
        )
        self._stopping = False
        self._loop_done = asyncio.Event()

    @property
    def broker_lost(self) -> str | None:
        return self.probe.lost


def freeze_long_lived() -> None:
    """Everything alive now (the index, the frameworks) lives as long as the process: keep the cyclic
    collector from re-scanning it on every collection, and collect young objects less often, since a
    batch allocates thousands of short-lived, acyclic objects."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)
