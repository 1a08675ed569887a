"""The project's broker is a real Apache Kafka 4 in KRaft mode, and the client set-up the worker relies on works.

Every check asks the broker itself: the API versions it offers, its cluster metadata and configs, the
timestamps it stamps, the transaction markers it writes. A ZooKeeper-era broker, a 3.x broker, or a
Kafka-compatible server such as Redpanda differs on at least one of them.
"""

from __future__ import annotations

import asyncio
import os
import re
import time
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.client import AIOKafkaClient
from aiokafka.protocol.admin import ApiVersionRequest
from aiokafka.structs import ConsumerRecord

from streams.kafka.topic_setup import LOG_APPEND_TIME

pytestmark = pytest.mark.kafka

# Kafka 4.0 removed the protocol versions older than Kafka 2.1 (KIP-896): a 3.x or ZooKeeper-era
# broker, and Redpanda, still offer each of these APIs from version 0. (Not Produce: 4.0 went on
# listing Produce from v0, only to refuse v0-v2, for old clients that check the list.)
KAFKA_4_MIN_VERSIONS = {
    1: ("Fetch", 4),
    2: ("ListOffsets", 1),
    8: ("OffsetCommit", 2),
    9: ("OffsetFetch", 1),
    19: ("CreateTopics", 2),
    20: ("DeleteTopics", 1),
    32: ("DescribeConfigs", 1),
}
DESCRIBE_QUORUM = 55  # offered by KRaft brokers only: a ZooKeeper-mode broker has no Raft quorum
CONSUMER_GROUP_HEARTBEAT = 68  # the KIP-848 consumer group protocol, on by default from Kafka 4.0
CLOCK_SLACK_MS = 5_000


async def test_create_topic_produce_and_consume(kafka_bootstrap: str, unique: str) -> None:
    topic = f"it-roundtrip-{unique}"
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=1)])
        described = await admin.describe_topics([topic])
        assert described[0]["error_code"] == 0
        assert len(described[0]["partitions"]) == 3
    finally:
        await admin.close()

    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()
    try:
        for i in range(30):
            await producer.send(topic, key=f"k{i % 5}".encode(), value=f"v{i}".encode())
        await producer.flush()
    finally:
        await producer.stop()

    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=kafka_bootstrap,
        group_id=f"it-group-{unique}",
        auto_offset_reset="earliest",
    )
    await consumer.start()
    seen: list[bytes] = []
    try:
        async with asyncio.timeout(30):
            while len(seen) < 30:
                batch = await consumer.getmany(timeout_ms=500)
                for records in batch.values():
                    seen.extend(r.value for r in records)
    finally:
        await consumer.stop()
    assert sorted(seen) == sorted(f"v{i}".encode() for i in range(30))


# ---- the broker is Apache Kafka 4 in KRaft mode --------------------------------------------------


async def offered_api_versions(bootstrap: str) -> dict[int, tuple[int, int]]:
    """{api key: (min, max)} as the broker answers an ApiVersions request."""
    client = AIOKafkaClient(bootstrap_servers=bootstrap)
    await client.bootstrap()
    try:
        response: Any = await client.send(client.get_random_node(), ApiVersionRequest())
    finally:
        await client.close()
    assert response.error_code == 0, response
    return {key: (low, high) for key, low, high in response.api_versions}


async def config_of(admin: AIOKafkaAdminClient, kind: ConfigResourceType, name: str) -> dict[str, str | None]:
    (response,) = await admin.describe_configs([ConfigResource(kind, name)])
    (resource,) = response.to_object()["resources"]
    assert resource["error_code"] == 0, resource
    return {entry["config_names"]: entry["config_value"] for entry in resource["config_entries"]}


async def test_broker_is_apache_kafka_4_in_kraft_mode(kafka_bootstrap: str) -> None:
    offered = await offered_api_versions(kafka_bootstrap)
    for key, (name, lowest) in KAFKA_4_MIN_VERSIONS.items():
        assert key in offered, f"the broker does not offer {name}"
        assert offered[key][0] >= lowest, f"{name} from v{offered[key][0]}: a pre-4.0 broker (4.0 starts at v{lowest})"
    assert DESCRIBE_QUORUM in offered, "no DescribeQuorum: not a KRaft broker"
    assert CONSUMER_GROUP_HEARTBEAT in offered, "no ConsumerGroupHeartbeat: not a Kafka 4 broker"

    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        cluster = await admin.describe_cluster()
        node_ids = {b["node_id"] for b in cluster["brokers"]}
        assert node_ids, cluster
        # a KRaft cluster id is a base64url UUID, set when the storage was formatted
        assert re.fullmatch(r"[A-Za-z0-9_-]{22}", cluster["cluster_id"] or ""), cluster
        assert cluster["controller_id"] in node_ids, cluster
        node = min(node_ids)
        config = await config_of(admin, ConfigResourceType.BROKER, str(node))
    finally:
        await admin.close()
    assert "broker" in (config.get("process.roles") or "").split(","), config.get("process.roles")
    assert config.get("node.id") == str(node)
    assert config.get("controller.quorum.voters") or config.get("controller.quorum.bootstrap.servers")
    assert "zookeeper.connect" not in config, "the broker still knows zookeeper.connect: Kafka 3.x or older"
    assert "log.message.format.version" not in config, "a pre-4.0 broker config (removed by KIP-724)"


def project_broker_dirs(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Node folders that deploy/kafka/kafka.sh may have started: the session's own, or a shared one."""
    bases = [Path(os.environ.get("TMPDIR", "/tmp")) / "platewatch-kafka"]
    if os.environ.get("PLATEWATCH_KAFKA_DIR"):
        bases.insert(0, Path(os.environ["PLATEWATCH_KAFKA_DIR"]))
    bases += sorted(tmp_path_factory.getbasetemp().glob("kafka*"))  # conftest's own broker
    return [d for base in bases for d in [base / "single", *sorted(base.glob("cluster/node*"))] if d.is_dir()]


def meta_cluster_id(node_dir: Path) -> str | None:
    meta = node_dir / "data" / "meta.properties"
    if not meta.is_file():
        return None
    fields = dict(line.split("=", 1) for line in meta.read_text().splitlines() if "=" in line)
    return fields.get("cluster.id")


async def test_the_project_broker_logs_kafka_4_and_kraft(
    kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """When the broker is one kafka.sh started, its own log names the release and the KRaft server."""
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        cluster_id = (await admin.describe_cluster())["cluster_id"]
    finally:
        await admin.close()
    mine = [d for d in project_broker_dirs(tmp_path_factory) if meta_cluster_id(d) == cluster_id]
    if not mine:
        message = f"{kafka_bootstrap} (cluster {cluster_id}) is not a broker deploy/kafka/kafka.sh started here"
        if os.environ.get("CI"):  # CI starts the project's own broker: its log must be found
            pytest.fail(message)
        pytest.skip(message)
    log = (mine[0] / "server.log").read_text(errors="replace")
    versions = set(re.findall(r"Kafka version: (\S+)", log))
    assert versions and all(v.startswith("4.") for v in versions), versions
    assert "[KafkaRaftServer nodeId=" in log and "Kafka Server started" in log


# ---- what the worker relies on: keys, headers, broker append time, transactions ------------------


async def test_keys_headers_and_log_append_time_round_trip(kafka_bootstrap: str, unique: str) -> None:
    topic = f"it-appendtime-{unique}"
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        await admin.create_topics(
            [NewTopic(topic, 2, 1, topic_configs={"message.timestamp.type": "LogAppendTime"})],
        )
        config = await config_of(admin, ConfigResourceType.TOPIC, topic)
    finally:
        await admin.close()
    assert config["message.timestamp.type"] == "LogAppendTime"

    sent = [
        (f"cam-{i % 3}".encode(), f"read-{i}".encode(), [("platewatch.gateway", b"gw-1"), ("seq", str(i).encode())])
        for i in range(12)
    ]
    stale = int(time.time() * 1000) - 3_600_000  # a producer clock an hour behind: the broker overrides it
    before = time.time() * 1000
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()
    try:
        acked = [await producer.send_and_wait(topic, v, key=k, headers=h, timestamp_ms=stale) for k, v, h in sent]
    finally:
        await producer.stop()
    for meta in acked:
        assert meta.timestamp_type == LOG_APPEND_TIME, meta
        assert before - CLOCK_SLACK_MS <= meta.timestamp <= time.time() * 1000 + CLOCK_SLACK_MS, meta

    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=kafka_bootstrap, group_id=f"it-appendtime-{unique}", auto_offset_reset="earliest"
    )
    await consumer.start()
    got: list[ConsumerRecord[bytes, bytes]] = []
    try:
        async with asyncio.timeout(30):
            while len(got) < len(sent):
                for records in (await consumer.getmany(timeout_ms=500)).values():
                    got.extend(records)
    finally:
        await consumer.stop()
    after = time.time() * 1000
    assert sorted((r.key, r.value, [tuple(h) for h in r.headers]) for r in got) == sorted(sent)
    stamped = {(m.partition, m.offset): m.timestamp for m in acked}
    for r in got:
        assert r.timestamp_type == LOG_APPEND_TIME, r
        assert before - CLOCK_SLACK_MS <= r.timestamp <= after + CLOCK_SLACK_MS, (r.timestamp, before, after)
        assert r.timestamp == stamped[(r.partition, r.offset)]  # what the produce response said
    for key in {k for k, _, _ in sent}:
        mine = [r for r in got if r.key == key]
        assert len({r.partition for r in mine}) == 1, key  # a key stays on one partition...
        in_order = [v for k, v, _ in sent if k == key]
        assert [r.value for r in sorted(mine, key=lambda r: r.offset)] == in_order  # ...in the order sent


async def read_all(bootstrap: str, tp: TopicPartition, isolation_level: str) -> tuple[list[bytes], int]:
    """Every value of one partition visible at that isolation level, and the end offset it read up to."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, isolation_level=isolation_level, enable_auto_commit=False)
    await consumer.start()
    values: list[bytes] = []
    try:
        consumer.assign([tp])
        await consumer.seek_to_beginning(tp)
        end = (await consumer.end_offsets([tp]))[tp]
        async with asyncio.timeout(30):
            while await consumer.position(tp) < end:
                for records in (await consumer.getmany(tp, timeout_ms=500)).values():
                    values.extend(r.value for r in records)
    finally:
        await consumer.stop()
    return values, end


async def test_an_aborted_transaction_is_invisible_to_read_committed(kafka_bootstrap: str, unique: str) -> None:
    topic = f"it-txn-{unique}"
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, 1, 1)])
    finally:
        await admin.close()

    aborted = [f"aborted-{i}".encode() for i in range(5)]
    committed = [f"committed-{i}".encode() for i in range(5)]
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, transactional_id=f"it-txn-{unique}")
    await producer.start()
    try:
        await producer.begin_transaction()
        offsets = [(await producer.send_and_wait(topic, v, key=b"k")).offset for v in aborted]
        await producer.abort_transaction()
        await producer.begin_transaction()
        offsets += [(await producer.send_and_wait(topic, v, key=b"k")).offset for v in committed]
        await producer.commit_transaction()
    finally:
        await producer.stop()
    assert offsets == [0, 1, 2, 3, 4, 6, 7, 8, 9, 10]  # offset 5: the abort marker

    tp = TopicPartition(topic, 0)
    seen_committed, last_stable = await read_all(kafka_bootstrap, tp, "read_committed")
    seen_everything, high_watermark = await read_all(kafka_bootstrap, tp, "read_uncommitted")
    assert seen_everything == aborted + committed  # the aborted records were written...
    assert seen_committed == committed  # ...and a read_committed consumer skips them
    assert last_stable == high_watermark == 12  # 10 records and 2 transaction markers, none open
