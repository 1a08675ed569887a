"""A consumed librdkafka batch as the pipeline's columns: every message accounted for once."""

from __future__ import annotations

from collections import defaultdict

from confluent_kafka import KafkaError, Message
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.kafka.rd_records import split_messages

TOPICS = ["lapd.plate-reads", "fairfax.plate-reads", "plate-reads"]


def _message(topic: str, partition: int, offset: int) -> Message:
    value = f"{topic}/{partition}@{offset}".encode()
    return Message(topic=topic, partition=partition, offset=offset, key=f"k{offset}".encode(), value=value,
                   timestamp=(1, 1_700_000_000_000 + offset))  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(TOPICS), st.integers(0, 3), st.sampled_from([None, "eof", "error"]))))
def test_columns_and_ranges_are_what_the_messages_say(picks: list[tuple[str, int, str | None]]) -> None:
    next_offset: dict[tuple[str, int], int] = defaultdict(int)
    messages, expected = [], []
    for topic, partition, error in picks:
        if error is None:
            offset = next_offset[(topic, partition)] = next_offset[(topic, partition)] + 1
            messages.append(_message(topic, partition, offset))
            expected.append((topic, partition, offset))
        else:
            code = KafkaError._PARTITION_EOF if error == "eof" else KafkaError._TRANSPORT
            messages.append(Message(topic=topic, partition=partition, error=KafkaError(code)))
    batch = split_messages(messages)

    assert len(batch.records) == len(expected)
    assert [(r.topic, r.partition, r.offset) for r in batch.records] == expected
    assert [r.key for r in batch.records] == [f"k{o}".encode() for _, _, o in expected]
    assert [r.timestamp for r in batch.records] == [1_700_000_000_000 + o for _, _, o in expected]
    assert batch.values == [f"{t}/{p}@{o}".encode() for t, p, o in expected]
    assert batch.topics == [t for t, _, _ in expected]
    assert [e.code() for e in batch.errors] == [KafkaError._TRANSPORT for _, _, e in picks if e == "error"]
    spans: dict[tuple[str, int], list[int]] = {}
    for topic, partition, offset in expected:
        spans.setdefault((topic, partition), []).append(offset)
    assert sorted((r.topic, r.partition, r.first_offset, r.last_offset, r.records) for r in batch.ranges) == sorted(
        (t, p, offsets[0], offsets[-1], len(offsets)) for (t, p), offsets in spans.items()
    )
    assert [(r.topic, r.offset) for r in batch.records[1:3]] == [(t, o) for t, _, o in expected[1:3]]
