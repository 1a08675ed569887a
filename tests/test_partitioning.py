"""The vectorised partitioner agrees with aiokafka's default partitioner on every key."""

from __future__ import annotations

from aiokafka.partitioner import DefaultPartitioner, murmur2
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.kafka.partitioning import murmur2 as murmur2_batch
from streams.kafka.partitioning import partitions_for


@settings(max_examples=200, deadline=None)
@given(keys=st.lists(st.binary(min_size=0, max_size=40), min_size=1, max_size=50), n=st.integers(1, 64))
def test_same_hash_and_partition_as_the_default_partitioner(keys: list[bytes], n: int) -> None:
    assert [int(h) for h in murmur2_batch(keys)] == [murmur2(k) & 0xFFFFFFFF for k in keys]
    parts = list(range(n))
    assert partitions_for(keys, n).tolist() == [DefaultPartitioner()(k, parts, parts) for k in keys]
