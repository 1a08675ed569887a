"""Retention that follows the policy: the plan, `platewatch retention check|apply`, the worker's
reconciliation, and the broker actually deleting reads past a limit of seconds."""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiokafka import TopicPartition

from streams.cli.main import main
from streams.kafka.clients import KafkaClients
from streams.kafka.retention import describe_topics
from streams.kafka.topic_setup import LOG_APPEND_TIME, create_topics, topic_specs
from streams.kafka.worker import PlatewatchWorker
from streams.ops.settings import Settings
from streams.pipeline.topic_retention import Drift, drifts, plan_retention
from streams.pipeline.topics import TopicNames
from streams.policy.jurisdiction_filter import SharingPolicy
from streams.policy.retention import DAY_MS, KAFKA_RETENTION_CHECK_MS, Limit, within
from streams.policy.store import DEFAULT_POLICY, DEFAULT_REGISTRY, load_policy
from tests.harness.secure_broker import spare_ports

ROOT = Path(__file__).resolve().parent.parent
KAFKA_SH = ROOT / "deploy" / "kafka" / "kafka.sh"
LAPD, FAIRFAX, MARICOPA, ICE = "CA0194200", "VA0290100", "AZ0070000", "DCICE0000"
MINUTE_MS = 60_000


def default_policy() -> SharingPolicy:
    return load_policy(DEFAULT_POLICY, DEFAULT_REGISTRY)


def by_topic(policy: SharingPolicy, names: TopicNames | None = None, **kw: Any) -> dict[str, Any]:
    return {t.topic: t.settings for t in plan_retention(policy, names or TopicNames(), **kw)}


# ---- the rule and the plan (no broker) -----------------------------------------------------------


@pytest.mark.parametrize("days", [1, 7, 21, 60, 365])
def test_a_record_is_gone_before_the_limit_one_segment_and_one_check_later(days: int) -> None:
    s = within(Limit(days * DAY_MS, "test"))
    assert s.segment_ms == min(DAY_MS, days * DAY_MS // 10)
    assert s.retention_ms + s.segment_ms + KAFKA_RETENTION_CHECK_MS == days * DAY_MS
    assert not s.keeps_past_limit(s.retention_ms, s.segment_ms)
    assert s.keeps_past_limit(days * DAY_MS, s.segment_ms)  # retention = the limit: past it by a segment
    assert s.keeps_past_limit(-1, s.segment_ms)


def test_each_topic_gets_the_strictest_applicable_jurisdiction() -> None:
    plan = by_topic(default_policy())
    assert plan[f"plate-reads.{LAPD}"].limit.ms == 60 * DAY_MS  # us-ca-sb34
    assert plan[f"plate-reads.{FAIRFAX}"].limit.ms == 21 * DAY_MS  # us-va-2025
    assert plan[f"plate-reads.{MARICOPA}"].limit.ms == 21 * DAY_MS  # no profile: the default
    assert plan["plate-reads.dlq"].limit.ms == 21 * DAY_MS  # every jurisdiction's raw reads: the shortest
    assert plan[f"alerts.{LAPD}"].limit.ms == 7 * DAY_MS
    assert "plate-reads" not in plan  # per-agency ingest: the development topic is not used
    cfg = plan[f"plate-reads.{LAPD}"].config
    assert cfg == {
        "cleanup.policy": "delete",
        "retention.ms": str(59 * DAY_MS - 5 * MINUTE_MS),
        "segment.ms": str(DAY_MS),
    }


def test_alerts_are_kept_no_longer_than_any_state_whose_reads_reach_the_recipient() -> None:
    policy_doc = yaml.safe_load(DEFAULT_POLICY.read_text())
    policy_doc["jurisdictions"]["AZ"] = "az-3-days"
    policy_doc["profiles"] = {
        "az-3-days": {
            "retention_days": 3,
            "rules": [{"id": "az.ca-only", "effect": "allow", "when": {"recipient_state": ["CA"]}, "reason": "t"}],
        }
    }
    policy = SharingPolicy(policy_doc, yaml.safe_load(DEFAULT_REGISTRY.read_text()))
    plan = by_topic(policy)
    assert plan[f"alerts.{LAPD}"].limit.ms == 3 * DAY_MS  # Arizona reads may reach Los Angeles
    assert "AZ" in plan[f"alerts.{LAPD}"].limit.basis
    assert plan[f"alerts.{MARICOPA}"].limit.ms == 3 * DAY_MS  # its own reads
    assert plan[f"alerts.{FAIRFAX}"].limit.ms == 7 * DAY_MS  # Arizona shares nothing with Virginia
    assert plan[f"plate-reads.{MARICOPA}"].limit.ms == 3 * DAY_MS
    assert plan["plate-reads.dlq"].limit.ms == 3 * DAY_MS


def test_topics_of_agencies_no_longer_registered_and_of_the_other_ingest_mode_get_the_strictest() -> None:
    gone = ["plate-reads.ZZ0000001", "alerts.ZZ0000001", "plate-reads", "hotlist-updates", "other.topic"]
    plan = by_topic(default_policy(), existing=gone)
    for topic in gone[:3]:
        assert plan[topic].limit.ms == 21 * DAY_MS
    assert "hotlist-updates" not in plan and "other.topic" not in plan
    single = by_topic(default_policy(), single_topic=True)
    assert "plate-reads" in single and f"plate-reads.{LAPD}" not in single


def test_a_drift_says_what_differs_and_whether_data_is_kept_past_the_limit() -> None:
    (target,) = [t for t in plan_retention(default_policy(), TopicNames()) if t.topic == f"plate-reads.{LAPD}"]
    ok = dict(target.config)
    assert drifts([target], {target.topic: ok}) == []
    assert drifts([target], {}) == []  # not on the broker: nothing to compare
    forever = Drift(target, {**ok, "retention.ms": "-1"})
    assert forever.past_limit and forever.changes == {"retention.ms": target.config["retention.ms"]}
    assert "PAST THE LIMIT" in forever.describe() and "-1 (unlimited) -> " in forever.describe()
    assert Drift(target, {**ok, "cleanup.policy": "compact"}).past_limit
    shorter = Drift(target, {**ok, "retention.ms": str(DAY_MS)})
    assert not shorter.past_limit and shorter.changes  # within the law, but not the policy's
    assert Drift(target, {**ok, "segment.ms": str(7 * DAY_MS)}).past_limit  # Kafka's default segments


def test_topics_are_created_with_the_planned_retention() -> None:
    policy, names = default_policy(), TopicNames()
    plan = {t.topic: t.config for t in plan_retention(policy, names)}
    specs = {s.name: s.config for s in topic_specs(Settings(), names, policy)}
    for topic, config in plan.items():
        assert config.items() <= specs[topic].items(), topic
    assert specs[f"plate-reads.{LAPD}"]["message.timestamp.type"] == "LogAppendTime"


# ---- on the broker -------------------------------------------------------------------------------

REGISTRY = {
    "agencies": [
        {
            "ori": LAPD,
            "name": "Los Angeles Police Department",
            "state": "CA",
            "level": "local",
            "kind": "law_enforcement",
        },
        {"ori": FAIRFAX, "name": "Fairfax County Police", "state": "VA", "level": "county", "kind": "law_enforcement"},
    ]
}


def write_files(tmp_path: Path, policy: dict[str, Any] | None = None) -> tuple[Path, Path]:
    policy_file, registry_file = tmp_path / "policy.yaml", tmp_path / "agencies.yaml"
    policy_file.write_text(yaml.safe_dump(policy or yaml.safe_load(DEFAULT_POLICY.read_text())))
    registry_file.write_text(yaml.safe_dump(REGISTRY))
    return policy_file, registry_file


def topic_config(bootstrap: str, topic: str) -> dict[str, str]:
    """Every setting of a topic, as the broker reports it."""
    from confluent_kafka.admin import ConfigResource, ResourceType  # noqa: PLC0415

    admin = KafkaClients(Settings(bootstrap_servers=bootstrap)).rdkafka_admin()
    resource = ConfigResource(ResourceType.TOPIC, topic)
    return {k: e.value for k, e in admin.describe_configs([resource])[resource].result(timeout=30).items()}


def set_by_hand(bootstrap: str, topic: str, **settings: str) -> None:
    from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource, ResourceType  # noqa: PLC0415

    admin = KafkaClients(Settings(bootstrap_servers=bootstrap)).rdkafka_admin()
    entries = [
        ConfigEntry(k.replace("_", "."), v, incremental_operation=AlterConfigOpType.SET) for k, v in settings.items()
    ]
    for future in admin.incremental_alter_configs(
        [ConfigResource(ResourceType.TOPIC, topic, incremental_configs=entries)]
    ).values():
        future.result(timeout=30)


def cli(*args: str) -> int:
    return main(list(args))


def out_of_policy(worker: PlatewatchWorker) -> float | None:
    return worker.registry.get_sample_value("platewatch_topics_out_of_retention_policy")


@pytest.mark.kafka
def test_check_reports_a_hand_changed_topic_and_apply_fixes_only_its_retention(
    kafka_bootstrap: str, unique: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    prefix = f"ret-{unique}."
    policy_file, registry_file = write_files(tmp_path)
    common = ["--bootstrap-servers", kafka_bootstrap, "--topic-prefix", prefix, "--read-partitions", "1",
              "--policy-file", str(policy_file), "--registry-file", str(registry_file)]  # fmt: skip
    names = TopicNames.with_prefix(prefix)
    reads, alerts = names.reads_for(LAPD), names.alerts(FAIRFAX)
    assert cli("topics", "create", *common) == 0
    assert cli("retention", "check", *common) == 0  # topics are created as the policy says
    assert "0 of 5 topics out of the retention policy" in capsys.readouterr().out

    planned = topic_config(kafka_bootstrap, reads)
    set_by_hand(kafka_bootstrap, reads, retention_ms="-1", max_message_bytes="500000")
    set_by_hand(kafka_bootstrap, alerts, cleanup_policy="compact")
    assert cli("retention", "check", *common) == 1
    out = capsys.readouterr().out
    assert f"{reads}: limit 60d (reads taken in CA: us-ca-sb34, 60 days); KEEPS DATA PAST THE LIMIT" in out
    assert f"retention.ms    -1 (unlimited) -> {planned['retention.ms']} (58d 23h 55m)" in out
    assert f"{alerts}: limit 7d" in out and "cleanup.policy  compact -> delete" in out
    assert "2 of 5 topics out of the retention policy" in out

    assert cli("retention", "apply", *common) == 0
    assert "after: 0 of 5 topics out of the retention policy" in capsys.readouterr().out
    fixed = topic_config(kafka_bootstrap, reads)
    assert fixed["retention.ms"] == planned["retention.ms"] and fixed["segment.ms"] == planned["segment.ms"]
    # every other setting as it was: the planned ones and the one changed by hand
    assert fixed["message.timestamp.type"] == "LogAppendTime"
    assert fixed["max.message.bytes"] == "500000"
    others = {k: v for k, v in planned.items() if k not in {"retention.ms", "segment.ms", "max.message.bytes"}}
    assert others.items() <= fixed.items()
    assert topic_config(kafka_bootstrap, alerts)["cleanup.policy"] == "delete"
    assert cli("retention", "check", *common) == 0


@pytest.mark.kafka
async def test_the_worker_reconciles_at_start_and_after_a_reload_and_survives_a_failure(
    kafka_bootstrap: str, unique: str, tmp_path: Path
) -> None:
    prefix = f"retw-{unique}."
    policy_file, registry_file = write_files(tmp_path)
    settings = Settings(
        bootstrap_servers=kafka_bootstrap, topic_prefix=prefix, read_partitions=1,
        policy_file=policy_file, registry_file=registry_file,
    )  # fmt: skip
    names = TopicNames.with_prefix(prefix)
    reads = names.reads_for(LAPD)
    await create_topics(
        KafkaClients(settings), settings, topic_specs(settings, names, load_policy(policy_file, registry_file))
    )
    set_by_hand(kafka_bootstrap, reads, retention_ms="-1")

    worker = PlatewatchWorker(settings)
    worker.metrics.topics_out_of_retention.set(-1)
    await worker.reconcile_retention()  # what connect() starts in the background
    assert out_of_policy(worker) == 0
    assert topic_config(kafka_bootstrap, reads)["retention.ms"] == str(59 * DAY_MS - 5 * MINUTE_MS)

    # a new policy: California's reads kept 30 days; the worker applies it after the reload
    doc = yaml.safe_load(policy_file.read_text())
    doc["jurisdictions"]["CA"] = "ca-30"
    doc["profiles"] = {"ca-30": {"retention_days": 30, "rules": [{"id": "ca.none", "effect": "deny", "reason": "t"}]}}
    policy_file.write_text(yaml.safe_dump(doc))
    worker.connected = True
    assert worker.store.reload()
    await worker.background_idle()
    assert topic_config(kafka_bootstrap, reads)["retention.ms"] == str(29 * DAY_MS - 5 * MINUTE_MS)
    assert out_of_policy(worker) == 0

    # a broker that cannot be reached: logged, counted, never raised
    down = PlatewatchWorker(
        settings.model_copy(update={"bootstrap_servers": "127.0.0.1:9", "broker_wait_seconds": 0.3})
    )
    await down.reconcile_retention()
    assert out_of_policy(down) == 5  # none checked: reads and alerts of 2 agencies, dead letters


# ---- the broker deletes what is past the limit ---------------------------------------------------

FAST_CHECK_MS = 5_000  # a broker that checks retention at most this far apart is quick enough to test on


def retention_check_ms(bootstrap: str) -> int:
    from confluent_kafka.admin import ConfigResource, ResourceType  # noqa: PLC0415

    admin = KafkaClients(Settings(bootstrap_servers=bootstrap)).rdkafka_admin()
    broker = str(next(iter(admin.list_topics(timeout=30).brokers)))
    resource = ConfigResource(ResourceType.BROKER, broker)
    return int(admin.describe_configs([resource])[resource].result(timeout=30)["log.retention.check.interval.ms"].value)


@pytest.fixture(scope="module")
def fast_retention_broker(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    """(bootstrap, retention check interval) of a broker that checks retention every few seconds: the
    session's, when deploy/kafka/kafka.sh started it with its current config; else one of our own
    (a broker started before the config said so checks every 5 minutes, and it is read-only)."""
    interval = retention_check_ms(kafka_bootstrap)
    if interval <= FAST_CHECK_MS:
        yield kafka_bootstrap, interval
        return
    port, controller = spare_ports(2)
    env = dict(os.environ, KAFKA_PORT=str(port), KAFKA_CONTROLLER_PORT=str(controller),
               PLATEWATCH_KAFKA_DIR=str(tmp_path_factory.mktemp("kafka-retention")))  # fmt: skip
    started = subprocess.run([str(KAFKA_SH), "up"], env=env, capture_output=True, text=True, check=False)
    try:
        assert started.returncode == 0, started.stderr
        bootstrap = f"127.0.0.1:{port}"
        yield bootstrap, retention_check_ms(bootstrap)
    finally:
        subprocess.run([str(KAFKA_SH), "down"], env=env, capture_output=True, check=False)


LIMIT_MS = 8_000


@pytest.mark.kafka
@pytest.mark.slow
async def test_no_read_older_than_the_limit_can_be_read(
    fast_retention_broker: tuple[str, int], unique: str, tmp_path: Path
) -> None:
    """A profile of 1 day whose limit a test override makes 8 s: reads are produced for longer than
    the limit and two retention checks; the oldest readable read is watched all along."""
    bootstrap, check_ms = fast_retention_broker
    texas = "TX0000001"
    policy_file, registry_file = tmp_path / "policy.yaml", tmp_path / "agencies.yaml"
    deny_all = [{"id": "t.none", "effect": "deny", "reason": "t"}]
    policy_file.write_text(yaml.safe_dump({
        "jurisdictions": {"TX": "test-seconds"},
        "profiles": {"test-seconds": {"retention_days": 1, "rules": deny_all}},
    }))  # fmt: skip
    registry_file.write_text(yaml.safe_dump({"agencies": [
        {"ori": texas, "name": "Test PD", "state": "TX", "level": "local", "kind": "law_enforcement"}]}))  # fmt: skip
    policy = load_policy(policy_file, registry_file)
    settings = Settings(bootstrap_servers=bootstrap, topic_prefix=f"retx-{unique}.", read_partitions=1)
    names = TopicNames.with_prefix(settings.topic_prefix)
    plan = plan_retention(policy, names, check_interval_ms=check_ms, limit_ms_override={"test-seconds": LIMIT_MS})
    topic = names.reads_for(texas)
    (target,) = [t.settings for t in plan if t.topic == topic]
    assert target.segment_ms == LIMIT_MS // 10 and target.retention_ms == LIMIT_MS - target.segment_ms - check_ms
    clients = KafkaClients(settings)
    await create_topics(clients, settings, [s for s in topic_specs(settings, names, policy, plan) if s.name == topic])
    current, _ = await describe_topics(clients, [topic])
    assert drifts([t for t in plan if t.topic == topic], current) == []

    tp = TopicPartition(topic, 0)
    producer = await clients.start(clients.producer(acks="all", linger_ms=0))
    consumer = await clients.start(clients.consumer(enable_auto_commit=False, auto_offset_reset="earliest"))
    consumer.assign([tp])
    ages: list[int] = []
    try:
        began = time.monotonic()
        n = 0
        while time.monotonic() - began < (LIMIT_MS + 2 * check_ms) / 1000 + 2:
            await producer.send_and_wait(topic, f"read {n}".encode())
            n += 1
            start = (await consumer.beginning_offsets([tp]))[tp]
            consumer.seek(tp, start)
            oldest = await asyncio.wait_for(consumer.getone(tp), 10)
            assert oldest.timestamp_type == LOG_APPEND_TIME  # the broker's clock, as retention counts
            ages.append(int(time.time() * 1000) - oldest.timestamp)
            await asyncio.sleep(0.1)
        first_offset = (await consumer.beginning_offsets([tp]))[tp]
    finally:
        await consumer.stop()
        await producer.stop()
    assert first_offset > 0, "the broker deleted nothing"
    assert max(ages) >= target.retention_ms  # reads are kept as long as the policy lets them
    assert max(ages) <= LIMIT_MS + target.segment_ms, f"a read {max(ages)} ms old was readable (limit {LIMIT_MS})"
