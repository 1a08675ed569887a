"""One partition per batch for the topics where a record's partition means nothing.

A batch's audit records (keyed by audit id) and count records (keyed by reading agency) would reach
every partition of share-audit and batch-counts by their keys, and each partition written costs a
batch its own produce request, and under exactly once its own registration and verification in the
transaction, all waited for before the commit. No reader of those topics relies on a key's partition
(the audit sink stores each fact once by its natural key, whatever partition it came from; neither
topic is compacted), so each batch writes all of them to one partition, the next batch to the next
one: the keys are kept, the load still spreads evenly. Measured in docs/performance.md ("Fewer
partitions per transaction").
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

ANY_PARTITION = -1  # librdkafka's RD_KAFKA_PARTITION_UA: the key's partition, by the partitioner


class PartitionRotation:
    def __init__(self, topics: Sequence[str]) -> None:
        self.topics = tuple(topics)
        self._counts: dict[str, int] = {}
        self._batches = 0

    def learn(self, metadata: Any) -> list[str]:
        """Each topic's partition count, from the cluster's metadata (librdkafka's `ClusterMetadata`). A
        topic missing from it (not yet created, or not visible) keeps the partitioner's choice; the
        missing topics are returned."""
        counts: dict[str, int] = {}
        for name in self.topics:
            topic = metadata.topics.get(name)
            if topic is not None and topic.error is None and topic.partitions:
                counts[name] = len(topic.partitions)
        self._counts = counts
        return [name for name in self.topics if name not in counts]

    def forget(self, topic: str) -> None:
        """The topic's partitions are no longer what the metadata said (it was recreated with fewer):
        its records go by their keys until the counts are learnt again."""
        self._counts.pop(topic, None)

    def next_batch(self) -> dict[str, int]:
        """The partition of each rotated topic for the next batch."""
        self._batches += 1
        return {name: self._batches % count for name, count in self._counts.items()}
