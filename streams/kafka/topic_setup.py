"""`platewatch topics create`: every topic with explicit partitions and configs, idempotently."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from aiokafka.admin import NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from streams.kafka.clients import KafkaClients
from streams.ops.settings import Settings
from streams.pipeline.topics import TopicNames
from streams.policy.jurisdiction_filter import SharingPolicy

log = logging.getLogger(__name__)

DAY_MS = 24 * 3600 * 1000
DEFAULT_READ_RETENTION_DAYS = 21  # when no profile in force fixes one: the strictest state rule known


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    config: dict[str, str]


def read_retention_days(policy: SharingPolicy) -> int:
    """One plate-reads topic serves every jurisdiction, so it keeps reads for the shortest retention."""
    days = [p.retention_days for p in (policy.profile_for_state(s) for s in policy.jurisdictions) if p]
    fixed = [d for d in days if d]
    return min(fixed) if fixed else DEFAULT_READ_RETENTION_DAYS


def read_topic_config(retention_days: int) -> dict[str, str]:
    return {
        "retention.ms": str(retention_days * DAY_MS),
        # broker append time: the second clock of the read-to-alert latency
        "message.timestamp.type": "LogAppendTime",
    }


def topic_specs(settings: Settings, names: TopicNames, policy: SharingPolicy) -> list[TopicSpec]:
    """Every topic of a deployment: shared topics, then each agency's input and alert topics."""
    retention = str(read_retention_days(policy) * DAY_MS)
    specs = [
        # dead letters hold raw reads of every jurisdiction: the shortest retention of them all
        TopicSpec(names.dlq, 1, {"retention.ms": retention}),
        TopicSpec(
            names.hotlist_updates,
            3,
            {"cleanup.policy": "compact", "min.cleanable.dirty.ratio": "0.1", "segment.ms": str(3600 * 1000)},
        ),
        # the record of access (1798.90.52): kept until the operator archives it
        TopicSpec(names.share_audit, 3, {"retention.ms": "-1"}),
        # what the audit report counts beside the decisions, and who queried retained data: kept as long
        TopicSpec(names.batch_counts, 3, {"retention.ms": "-1"}),
        TopicSpec(names.access_log, 1, {"retention.ms": "-1"}),
    ]
    specs.extend(agency_topic_specs(settings, names, policy))
    return specs


def agency_topic_specs(settings: Settings, names: TopicNames, policy: SharingPolicy) -> list[TopicSpec]:
    """Each registered agency's input topic (its reads, kept as long as its state's law allows) and
    alert topic, so broker ACLs can confine each agency to its own. In the single-topic development
    mode, one plate-reads topic with the shortest retention instead of the input topics."""
    if settings.ingest == "single_topic":
        specs = [TopicSpec(names.plate_reads, settings.read_partitions, read_topic_config(read_retention_days(policy)))]
    else:
        specs = [
            TopicSpec(
                names.reads_for(a.ori),
                settings.read_partitions,
                read_topic_config(agency_retention_days(policy, a.state)),
            )
            for a in policy.registry
        ]
    return specs + alert_topic_specs(names, policy)


def agency_retention_days(policy: SharingPolicy, state: str) -> int:
    """How long reads taken in `state` are kept: its profile's rule, else the strictest known."""
    profile = policy.profile_for_state(state)
    return (profile.retention_days if profile else None) or DEFAULT_READ_RETENTION_DAYS


def alert_topic_specs(names: TopicNames, policy: SharingPolicy) -> list[TopicSpec]:
    """One topic per registered agency, so broker ACLs can confine each to its own alerts."""
    return [TopicSpec(names.alerts(a.ori), 1, {"retention.ms": str(7 * DAY_MS)}) for a in policy.registry]


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
