"""`platewatch topics create`: every topic with explicit partitions and configs, idempotently."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from aiokafka.admin import NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from streams.kafka.clients import KafkaClients
from streams.ops.settings import Settings
from streams.pipeline.topic_retention import RetentionTarget, plan_retention
from streams.pipeline.topics import TopicNames
from streams.policy.jurisdiction_filter import SharingPolicy
from streams.policy.retention import DAY_MS, RetentionRules

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    config: dict[str, str]


def read_retention_days(policy: SharingPolicy) -> int:
    """The strictest read limit of every jurisdiction, in days (the dead-letter and single topic's)."""
    return RetentionRules(policy).shortest_read_limit().ms // DAY_MS


# a record's timestamp type (a produce acknowledgement's, a consumed record's) where the topic keeps
# the broker's append time; 0 is CreateTime, the producer's clock
LOG_APPEND_TIME = 1


def read_topic_config(retention: dict[str, str]) -> dict[str, str]:
    return {
        **retention,
        # broker append time: the second clock of the read-to-alert latency, and what retention counts from
        "message.timestamp.type": "LogAppendTime",
    }


def _retention(
    settings: Settings, policy: SharingPolicy, names: TopicNames, plan: list[RetentionTarget] | None
) -> dict[str, dict[str, str]]:
    if plan is None:
        plan = plan_retention(policy, names, single_topic=settings.ingest == "single_topic")
    return {t.topic: t.config for t in plan}


def topic_specs(
    settings: Settings, names: TopicNames, policy: SharingPolicy, plan: list[RetentionTarget] | None = None
) -> list[TopicSpec]:
    """Every topic of a deployment: shared topics, then each agency's input and alert topics. Retention
    follows `plan` (default: the policy's, streams/pipeline/topic_retention.py)."""
    retention = _retention(settings, policy, names, plan)
    specs = [
        # dead letters hold raw reads of every jurisdiction: the strictest retention of them all
        TopicSpec(names.dlq, 1, retention[names.dlq]),
        TopicSpec(
            names.hotlist_updates,
            3,
            {"cleanup.policy": "compact", "min.cleanable.dirty.ratio": "0.1", "segment.ms": str(3600 * 1000)},
        ),
        # the record of access (1798.90.52): kept until the operator archives it
        TopicSpec(names.share_audit, 3, {"retention.ms": "-1"}),
        # what the audit report counts beside the decisions, and who queried retained data: kept as long
        TopicSpec(names.batch_counts, 3, {"retention.ms": "-1"}),
    ]
    specs.extend(agency_topic_specs(settings, names, policy, plan))
    return specs


def agency_topic_specs(
    settings: Settings, names: TopicNames, policy: SharingPolicy, plan: list[RetentionTarget] | None = None
) -> list[TopicSpec]:
    """Each registered agency's input topic (its reads, kept as long as its state's law allows) and
    alert topic, so broker ACLs can confine each agency to its own. In the single-topic development
    mode, one plate-reads topic with the strictest retention instead of the input topics."""
    retention = _retention(settings, policy, names, plan)
    if settings.ingest == "single_topic":
        reads = [names.plate_reads]
    else:
        reads = [names.reads_for(a.ori) for a in policy.registry]
    specs = [TopicSpec(t, settings.read_partitions, read_topic_config(retention[t])) for t in reads]
    # one alert topic per registered agency, so broker ACLs can confine each to its own alerts ...
    # ... stamped by the broker, not the producer: `audit verify` selects deliveries by that time, so an
    # alert written straight to the topic cannot hide from an audited period with a made-up timestamp
    specs += [
        TopicSpec(names.alerts(a.ori), 1, {**retention[names.alerts(a.ori)], "message.timestamp.type": "LogAppendTime"})
        for a in policy.registry
    ]
    # ... and one record of the accesses to its retained alerts, kept until archived like share-audit
    return specs + [TopicSpec(names.access_log_for(a.ori), 1, {"retention.ms": "-1"}) for a in policy.registry]


async def create_topics(
    clients: KafkaClients, settings: Settings, specs: list[TopicSpec]
) -> tuple[list[str], list[str]]:
    """Create what is missing; return (created, already present)."""
    admin = await clients.start(clients.admin())
    created: list[str] = []
    present: list[str] = []
    try:
        existing = set(await admin.list_topics())
        missing = [s for s in specs if s.name not in existing]
        present = [s.name for s in specs if s.name in existing]
        for spec in missing:
            try:
                await admin.create_topics(
                    [NewTopic(spec.name, spec.partitions, settings.replication_factor, topic_configs=spec.config)]
                )
                created.append(spec.name)
            except TopicAlreadyExistsError:
                present.append(spec.name)
    finally:
        await admin.close()
    return created, present
