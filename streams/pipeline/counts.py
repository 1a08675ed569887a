"""What the audit report counts beside the decisions: reads, hits and dead letters per reading agency.

The decisions on `share-audit` exist only for hits; how many reads an agency's cameras took, how many
hit and how many were dead-lettered are not in them. The worker sends one count record per reading
agency per batch to `batch-counts`, with the batch's other outputs (so a count is acknowledged, and
its reads committed, together with the alerts it counts). The hot path pays per agency and per
input partition, never per read: reads are counted from the batch's partitions (an input topic
proves its agency), hits from the batch's hits, dead letters from their source-topic header.

The single development topic proves no agency: its reads count under the agency they name (the
pipeline counts those in `BatchResult.claimed`), and what did not decode under "". Dead letters whose
agency is unknown count under "" too.

Counts are at least once, like every output of the worker: a batch re-read after a crash is counted
again. Each record names the input offsets it counts (`inputs`), so a re-read range can be found.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from streams.pipeline.outputs import BatchResult
from streams.pipeline.topics import TopicNames

UNKNOWN_AGENCY = ""
SOURCE_TOPIC_HEADER = "platewatch.source.topic"


@dataclass(frozen=True, slots=True)
class InputRange:
    """The records of one input partition in a batch."""

    topic: str
    partition: int
    first_offset: int
    last_offset: int
    records: int

    def describe(self) -> str:
        return f"{self.topic}/{self.partition}/{self.first_offset}-{self.last_offset}"


@dataclass(frozen=True, slots=True)
class AgencyCount:
    """One reading agency's share of one batch: the record on the batch-counts topic."""

    time_ms: int
    reading_agency: str
    reads: int
    hits: int
    dead_letters: int
    inputs: tuple[str, ...] = ()  # "topic/partition/first-last" of the input records counted

    def to_json(self) -> dict[str, Any]:
        return {
            "time_ms": self.time_ms,
            "reading_agency": self.reading_agency,
            "reads": self.reads,
            "hits": self.hits,
            "dead_letters": self.dead_letters,
            "inputs": list(self.inputs),
        }


def batch_counts(
    result: BatchResult, inputs: Iterable[InputRange], topics: TopicNames, time_ms: int
) -> list[AgencyCount]:
    """One count per reading agency of the batch (sorted by agency; "" for the unknown)."""
    reads: Counter[str] = Counter()
    ranges: dict[str, list[str]] = {}
    unproven: list[InputRange] = []
    for r in inputs:
        agency = topics.reading_agency_of(r.topic)
        if agency is None:
            unproven.append(r)
            continue
        reads[agency] += r.records
        ranges.setdefault(agency, []).append(r.describe())
    if unproven:  # the single development topic: what the reads claim, the rest unknown
        total = sum(r.records for r in unproven)
        reads.update(result.claimed)
        rest = total - sum(result.claimed.values())
        if rest > 0:
            reads[UNKNOWN_AGENCY] += rest
        described = [r.describe() for r in unproven]
        for agency in [*result.claimed, *([UNKNOWN_AGENCY] if rest > 0 else [])]:
            ranges.setdefault(agency, []).extend(described)
    hits: Counter[str] = Counter(read.agency_ori for read, _ in result.hits)
    dead: Counter[str] = Counter()
    for letter in result.dead_letters:
        source = next((v for k, v in letter.headers if k == SOURCE_TOPIC_HEADER), b"")
        dead[topics.reading_agency_of(source.decode(errors="replace")) or UNKNOWN_AGENCY] += 1
    agencies = sorted(set(reads) | set(hits) | set(dead))
    return [AgencyCount(time_ms, a, reads[a], hits[a], dead[a], tuple(ranges.get(a, ()))) for a in agencies]
