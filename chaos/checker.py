"""The independent checker: what must appear, computed from the inputs with the core library, against
what `read_committed` readers find in the topics.

Inputs are read back from the read topics (not taken from the producer's acknowledgements: a send that
timed out may still have landed), run through `Pipeline.process_isolating` with the policy in force
for each read's phase, and compared with the alert topics, the share-audit topic and the dead-letter
topic by identity (alert id, audit id, the dead letter's source offset). Nothing is read from the workers.
"""

from __future__ import annotations

import itertools
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiokafka import TopicPartition

from streams.hotlists.index import HotlistIndex
from streams.kafka.clients import KafkaClients
from streams.pipeline.batch import Pipeline, SimulatedRecord
from streams.pipeline.topics import TopicNames
from streams.policy.jurisdiction_filter import SharingPolicy

Kind = str  # "alerts", "audits", "dead_letters"


@dataclass
class Expected:
    ids: dict[Kind, set[str]] = field(default_factory=dict)
    read_time_ms: dict[str, int] = field(default_factory=dict)  # read id: its record's timestamp
    reads: int = 0


@dataclass
class Found:
    ids: dict[Kind, list[str]] = field(default_factory=dict)
    alert_times: list[tuple[int, str]] = field(default_factory=list)  # (broker append ms, read id)


async def read_all(clients: KafkaClients, topics: Sequence[str], *, timeout: float = 60) -> list[Any]:
    """Every committed record of `topics`, up to their ends as of now."""
    consumer = await clients.start(clients.consumer(group_id=None, enable_auto_commit=False))
    out: list[Any] = []
    try:
        tps: list[TopicPartition] = []
        for t in topics:
            tps += [
                TopicPartition(t, p) for p in sorted(consumer.partitions_for_topic(t) or await _partitions(consumer, t))
            ]
        if not tps:
            return out
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        deadline = time.monotonic() + timeout
        while [tp for tp in tps if await consumer.position(tp) < ends[tp]]:
            if time.monotonic() > deadline:
                raise TimeoutError(f"reading {len(tps)} partitions did not reach their end in {timeout:g}s")
            batch = await consumer.getmany(timeout_ms=200, max_records=20_000)
            for records in batch.values():
                out.extend(records)
    finally:
        await consumer.stop()
    return out


async def _partitions(consumer: Any, topic: str) -> set[int]:
    await consumer._client.force_metadata_update()  # a topic created after the consumer started
    return consumer.partitions_for_topic(topic) or set()


def expected_outputs(
    index: HotlistIndex,
    names: TopicNames,
    reads: Sequence[Any],
    policy_at: Callable[[int], SharingPolicy],
) -> Expected:
    """What the deployment must emit for `reads` (consumed records): the core pipeline, in this process,
    one phase at a time (`policy_at(timestamp)` gives the policy in force for a read)."""
    out = Expected(ids={"alerts": set(), "audits": set(), "dead_letters": set()}, reads=len(reads))
    phases: dict[str, tuple[SharingPolicy, list[SimulatedRecord]]] = {}
    for r in reads:
        policy = policy_at(r.timestamp)
        phases.setdefault(policy.version, (policy, []))[1].append(
            SimulatedRecord(r.value, r.key, r.topic, r.partition, r.offset, r.timestamp)
        )
    for policy, records in phases.values():
        result = Pipeline(index, lambda p=policy: p, names).process_isolating(records)  # type: ignore[misc]
        for o in result.alerts:
            doc = orjson.loads(o.value)
            out.ids["alerts"].add(f"{o.topic}|{doc['alert_id']}")
            out.read_time_ms[doc["read"]["read_id"]] = 0
        out.ids["audits"] |= {orjson.loads(o.value)["audit_id"] for o in result.audits}
        out.ids["dead_letters"] |= {_source(o.headers) for o in result.dead_letters}
    for r in reads:
        if r.value and b'"read_id"' in r.value:
            try:
                read_id = orjson.loads(r.value).get("read_id")
            except (orjson.JSONDecodeError, AttributeError):
                continue
            if isinstance(read_id, str) and read_id in out.read_time_ms:
                out.read_time_ms[read_id] = r.timestamp
    return out


def found_outputs(alert_records: Sequence[Any], audit_records: Sequence[Any], dlq_records: Sequence[Any]) -> Found:
    found = Found(ids={"alerts": [], "audits": [], "dead_letters": []})
    for r in alert_records:
        doc = orjson.loads(r.value)
        found.ids["alerts"].append(f"{r.topic}|{doc['alert_id']}")
        found.alert_times.append((r.timestamp, doc["read"]["read_id"]))
    found.ids["audits"] = [orjson.loads(r.value)["audit_id"] for r in audit_records]
    found.ids["dead_letters"] = [_source(r.headers) for r in dlq_records]
    return found


def _source(headers: Sequence[tuple[str, bytes]]) -> str:
    """A dead letter's identity: the topic, partition and offset of the read it sets aside."""
    h = dict(headers)
    return "/".join(h.get(f"platewatch.source.{k}", b"?").decode() for k in ("topic", "partition", "offset"))


def compare(expected: Expected, found: Found) -> dict[Kind, dict[str, int]]:
    """Per kind: expected, found, lost, duplicated (extra copies), unexpected."""
    out: dict[Kind, dict[str, int]] = {}
    for kind, want in expected.ids.items():
        got = Counter(found.ids.get(kind, []))
        out[kind] = {
            "expected": len(want),
            "found": sum(got.values()),
            "lost": len(want - got.keys()),
            "duplicated": sum(n - 1 for n in got.values() if n > 1),
            "unexpected": len(got.keys() - want),
        }
    return out


def complete(expected: Expected, found: Found) -> bool:
    return all(expected.ids[k] <= set(found.ids.get(k, [])) for k in expected.ids)


def timing(expected: Expected, found: Found, fault_ms: int, end_ms: int) -> dict[str, Any]:
    """After the fault: the longest time without any alert (until the last read was produced), and the
    longest a read waited for its alert (what a dispatcher feels: alerts resumed within this)."""
    times = sorted(t for t, _ in found.alert_times if fault_ms <= t)
    marks = [fault_ms, *[t for t in times if t <= end_ms], end_ms]  # a stall that never recovers counts whole
    gaps = [b - a for a, b in itertools.pairwise(marks)]
    delays = [
        t - expected.read_time_ms[read_id]
        for t, read_id in found.alert_times
        if expected.read_time_ms.get(read_id, 0) >= fault_ms - 1000
    ]
    per_second: Counter[int] = Counter((t - fault_ms) // 1000 for t, _ in found.alert_times)
    return {
        "longest_gap_s": max(gaps, default=end_ms - fault_ms) / 1000,
        "max_read_to_alert_s": max(delays, default=0) / 1000,
        "alerts_per_second": sorted(per_second.items()),
    }
