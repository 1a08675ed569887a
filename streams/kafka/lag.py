"""Consumer lag as a gauge: per partition, the high watermark minus the last committed position."""

from __future__ import annotations

from collections.abc import Mapping

from aiokafka import AIOKafkaConsumer, TopicPartition
from prometheus_client import Gauge


def report_lag(consumer: AIOKafkaConsumer | None, committed: Mapping[TopicPartition, int], gauge: Gauge) -> None:
    """Set `gauge{partition="<topic>/<partition>"}` for every assigned partition whose figures are known."""
    if consumer is None:
        return
    for tp in consumer.assignment():
        high = consumer.highwater(tp)
        position = committed.get(tp)
        if high is not None and position is not None:
            gauge.labels(f"{tp.topic}/{tp.partition}").set(max(0, high - position))
