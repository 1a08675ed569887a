"""The load benchmark's check of the worker's outputs: the alerts it must write, computed in this process
with the core pipeline, against the alerts a read_committed reader finds on the alert topics.

A throughput figure counts only when the output behind it is right: after the at-least-once worker has
drained the backlog, its alert topics must hold exactly the alerts the pipeline computes for those reads
(by topic and alert id, each once); the exactly-once worker, which then reads every read the first
worker read, must add exactly what the first one wrote.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import orjson

from chaos.checker import read_all
from streams.hotlists.index import HotlistIndex
from streams.kafka.clients import KafkaClients
from streams.pipeline.batch import Pipeline, SimulatedRecord
from streams.pipeline.topics import TopicNames
from streams.policy.jurisdiction_filter import SharingPolicy

Alerts = Counter[str]  # "topic|alert id" → how many times


def expected_alerts(
    index: HotlistIndex, policy: SharingPolicy, names: TopicNames, reads: Sequence[tuple[bytes, bytes]]
) -> Alerts:
    """What the worker must write for `reads` (key, value): the core pipeline, in this process."""
    result = Pipeline(index, lambda: policy, names).process_isolating([SimulatedRecord(v, k) for k, v in reads])
    return Counter(f"{o.topic}|{orjson.loads(o.value)['alert_id']}" for o in result.alerts)


async def alerts_on(clients: KafkaClients, topics: Sequence[str]) -> Alerts:
    """Every committed alert on `topics`, up to their ends as of now."""
    records = await read_all(clients, topics, timeout=120)
    return Counter(f"{r.topic}|{orjson.loads(r.value)['alert_id']}" for r in records)


def difference(found: Alerts, expected: Alerts) -> str | None:
    """None when `found` is `expected`; else what is lost, duplicated and unexpected."""
    if found == expected:
        return None
    lost = sum((expected - found).values())
    extra = found - expected
    duplicated = sum(n for key, n in extra.items() if key in expected)
    unexpected = sum(n for key, n in extra.items() if key not in expected)
    return f"{lost:,} alerts lost, {duplicated:,} duplicated, {unexpected:,} unexpected of {sum(expected.values()):,}"
