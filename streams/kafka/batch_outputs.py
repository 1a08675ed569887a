"""Everything one batch sends, by topic: its alerts, audit records and dead letters, and one count
record per reading agency (reads, hits, dead letters) that travels with what it counts."""

from __future__ import annotations

from collections.abc import Sequence

import orjson

from streams.pipeline.counts import InputRange, batch_counts
from streams.pipeline.outputs import BatchResult, Outbound
from streams.pipeline.topics import TopicNames


def batch_outputs(
    result: BatchResult, inputs: Sequence[InputRange], names: TopicNames, now_ms: int
) -> dict[str, list[Outbound]]:
    """The batch's outbound records by topic, each topic's in the batch's order. The audit records,
    most of them (6.5 a hit), all go to the share-audit topic: handed on as one list when they do."""
    by_topic: dict[str, list[Outbound]] = {}
    audits = result.audits
    if len({out.topic for out in audits}) == 1:
        by_topic[audits[0].topic] = list(audits)
        audits = []
    for out in [*result.alerts, *audits, *result.dead_letters]:
        by_topic.setdefault(out.topic, []).append(out)
    by_topic[names.batch_counts] = [
        Outbound(names.batch_counts, c.reading_agency.encode(), orjson.dumps(c.to_json()))
        for c in batch_counts(result, inputs, names, now_ms)
    ]
    return by_topic
