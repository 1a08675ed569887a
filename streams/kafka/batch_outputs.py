"""Everything one batch sends, by topic: its alerts, audit records and dead letters, and one count
record per reading agency (reads, hits, dead letters) that travels with what it counts."""

from __future__ import annotations

from collections.abc import Sequence

import orjson

from streams.kafka.batch_send import OutRecord
from streams.pipeline.counts import InputRange, batch_counts
from streams.pipeline.outputs import BatchResult
from streams.pipeline.topics import TopicNames


def batch_outputs(
    result: BatchResult, inputs: Sequence[InputRange], names: TopicNames, now_ms: int
) -> dict[str, list[OutRecord]]:
    by_topic: dict[str, list[OutRecord]] = {}
    for out in result.outbound():
        by_topic.setdefault(out.topic, []).append((out.key, out.value, out.headers))
    by_topic[names.batch_counts] = [
        (c.reading_agency.encode(), orjson.dumps(c.to_json()), ()) for c in batch_counts(result, inputs, names, now_ms)
    ]
    return by_topic
