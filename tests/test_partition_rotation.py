"""A batch's audit and count records go to one partition, the next batch's to the next one."""

from __future__ import annotations

from confluent_kafka.admin import ClusterMetadata, PartitionMetadata, TopicMetadata

from streams.kafka.partition_rotation import PartitionRotation


def metadata(partitions: dict[str, int]) -> ClusterMetadata:
    cluster = ClusterMetadata()
    for name, count in partitions.items():
        topic = TopicMetadata()
        topic.topic = name
        topic.partitions = {p: PartitionMetadata() for p in range(count)}
        cluster.topics[name] = topic
    return cluster


def test_each_batch_takes_the_next_partition_of_each_rotated_topic() -> None:
    rotation = PartitionRotation(("share-audit", "batch-counts"))
    rotation.learn(metadata({"share-audit": 3, "batch-counts": 2, "alerts.CA0194200": 1}))
    batches = [rotation.next_batch() for _ in range(6)]
    assert [b["share-audit"] for b in batches] == [1, 2, 0, 1, 2, 0]
    assert [b["batch-counts"] for b in batches] == [1, 0, 1, 0, 1, 0]
    assert all(set(b) == {"share-audit", "batch-counts"} for b in batches)  # other topics: by key


def test_a_topic_missing_from_the_metadata_keeps_the_partitioner() -> None:
    rotation = PartitionRotation(("share-audit", "batch-counts"))
    assert rotation.learn(metadata({"share-audit": 3})) == ["batch-counts"]
    assert set(rotation.next_batch()) == {"share-audit"}
    assert rotation.learn(metadata({})) == ["share-audit", "batch-counts"]
    assert rotation.next_batch() == {}


def test_a_topic_forgotten_goes_by_its_keys_until_learnt_again() -> None:
    rotation = PartitionRotation(("share-audit", "batch-counts"))
    rotation.learn(metadata({"share-audit": 3, "batch-counts": 3}))
    rotation.forget("share-audit")
    assert set(rotation.next_batch()) == {"batch-counts"}
    rotation.learn(metadata({"share-audit": 1, "batch-counts": 3}))
    assert {b["share-audit"] for b in (rotation.next_batch() for _ in range(4))} == {0}
