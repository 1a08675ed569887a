"""Topics made to follow the retention plan: `platewatch retention check|apply` and the worker.

The plan (`streams/pipeline/topic_retention.py`) says which `cleanup.policy`, `retention.ms` and
`segment.ms` every topic holding reads or alerts must have. Here the broker's values are read with
`describe_configs` and only the settings that differ are changed, with *incremental* alter configs
(`SET` of each setting) through librdkafka's AdminClient. Never aiokafka's `alter_configs`: it sends
the old AlterConfigs request, which replaces a topic's whole configuration, so every setting it does
not name falls back to the broker default (`message.timestamp.type=LogAppendTime` silently becomes
`CreateTime`, and the latency clock and the retention's starting point with it).

Admin results are librdkafka futures, awaited without a thread (`asyncio.wrap_future`), so a worker
that stops while a call is out is not held up.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from streams.errors import AccessDeniedError
from streams.kafka.clients import KafkaClients
from streams.pipeline.topic_retention import MANAGED, Drift, RetentionTarget, drifts, plan_retention
from streams.pipeline.topics import TopicNames
from streams.policy.jurisdiction_filter import SharingPolicy
from streams.policy.retention import KAFKA_RETENTION_CHECK_MS

log = logging.getLogger(__name__)

TIMEOUT_S = 30.0


@dataclass
class RetentionReport:
    """The plan for one policy version against the broker's topics."""

    policy_version: str
    planned: list[RetentionTarget]  # every topic the policy governs
    present: list[RetentionTarget]  # those on the broker
    drifts: list[Drift]  # present topics whose settings differ from the plan
    unreadable: dict[str, str] = field(default_factory=dict)  # topic -> why its settings could not be read

    @property
    def out_of_policy(self) -> int:
        """Topics not known to follow the plan: those that differ, and those whose settings are unknown."""
        return len(self.drifts) + len(self.unreadable)

    @property
    def missing(self) -> list[str]:
        have = {t.topic for t in self.present}
        return [t.topic for t in self.planned if t.topic not in have]


@dataclass
class ApplyResult:
    changed: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # topic -> the broker's error


def _why(exc: BaseException) -> str:
    """librdkafka's error name and text (`TOPIC_AUTHORIZATION_FAILED: ...`), else the exception."""
    err = exc.args[0] if exc.args else None
    name = getattr(err, "name", None)
    if callable(name):
        return f"{name()}: {err.str()}"  # type: ignore[union-attr]
    return f"{type(exc).__name__}: {exc}"


async def _results(futures: Mapping[Any, Any]) -> dict[str, Any]:
    """Each resource's result (or the exception it failed with), by topic name."""
    out: dict[str, Any] = {}
    for resource, future in futures.items():
        try:
            out[resource.name] = await asyncio.wait_for(asyncio.wrap_future(future), TIMEOUT_S + 5)
        except Exception as exc:
            out[resource.name] = exc
    return out


async def live_topics(clients: KafkaClients, *, wait_s: float | None = None) -> set[str]:
    admin = await clients.start(clients.admin(), wait_s=wait_s)
    try:
        return set(await admin.list_topics())
    finally:
        await admin.close()


async def describe_topics(
    clients: KafkaClients, topics: Iterable[str]
) -> tuple[dict[str, dict[str, str | None]], dict[str, str]]:
    """The managed settings of each topic, and the topics whose settings could not be read (why)."""
    from confluent_kafka.admin import ConfigResource, ResourceType  # noqa: PLC0415 (only admin work needs it)

    resources = [ConfigResource(ResourceType.TOPIC, t) for t in topics]
    if not resources:
        return {}, {}
    admin = clients.rdkafka_admin()
    results = await _results(admin.describe_configs(resources, request_timeout=TIMEOUT_S))
    current: dict[str, dict[str, str | None]] = {}
    unreadable: dict[str, str] = {}
    for topic, result in results.items():
        if isinstance(result, BaseException):
            unreadable[topic] = _why(result)
        else:
            current[topic] = {k: result[k].value if k in result else None for k in MANAGED}
    return current, unreadable


async def check_retention(
    clients: KafkaClients,
    names: TopicNames,
    policy: SharingPolicy,
    *,
    single_topic: bool = False,
    check_interval_ms: int = KAFKA_RETENTION_CHECK_MS,
    limit_ms_override: Mapping[str, int] | None = None,
    wait_s: float | None = None,
) -> RetentionReport:
    """Every topic the policy governs that is on the broker, compared with the plan."""
    existing = await live_topics(clients, wait_s=wait_s)
    planned = plan_retention(
        policy,
        names,
        existing=existing,
        single_topic=single_topic,
        check_interval_ms=check_interval_ms,
        limit_ms_override=limit_ms_override,
    )
    present = [t for t in planned if t.topic in existing]
    current, unreadable = await describe_topics(clients, [t.topic for t in present])
    return RetentionReport(policy.version, planned, present, drifts(present, current), unreadable)


async def apply_retention(clients: KafkaClients, to_fix: Iterable[Drift]) -> ApplyResult:
    """SET the settings that differ, topic by topic; every other setting of the topic stays."""
    from confluent_kafka.admin import (  # noqa: PLC0415 (only admin work needs it)
        AlterConfigOpType,
        ConfigEntry,
        ConfigResource,
        ResourceType,
    )

    resources = [
        ConfigResource(
            ResourceType.TOPIC,
            d.topic,
            incremental_configs=[
                ConfigEntry(key, value, incremental_operation=AlterConfigOpType.SET) for key, value in d.changes.items()
            ],
        )
        for d in to_fix
        if d.changes
    ]
    result = ApplyResult()
    if not resources:
        return result
    admin = clients.rdkafka_admin()
    outcomes = await _results(admin.incremental_alter_configs(resources, request_timeout=TIMEOUT_S))
    for topic, outcome in outcomes.items():
        if isinstance(outcome, BaseException):
            result.failed[topic] = _why(outcome)
        else:
            result.changed.append(topic)
    return result


async def reconcile_retention(
    clients: KafkaClients,
    names: TopicNames,
    policy: SharingPolicy,
    *,
    single_topic: bool = False,
    check_interval_ms: int = KAFKA_RETENTION_CHECK_MS,
    limit_ms_override: Mapping[str, int] | None = None,
    wait_s: float | None = None,
) -> int:
    """Check, fix what differs, and check again; returns the topics still not known to follow the plan."""
    how: dict[str, Any] = {
        "single_topic": single_topic,
        "check_interval_ms": check_interval_ms,
        "limit_ms_override": limit_ms_override,
        "wait_s": wait_s,
    }
    report = await check_retention(clients, names, policy, **how)
    for topic, why in report.unreadable.items():
        log.warning("retention: cannot read the settings of %s: %s", topic, why)
    if not report.drifts:
        log.info(
            "retention: %d of %d topics follow the policy (version %s)",
            len(report.present) - len(report.unreadable),
            len(report.present),
            policy.version,
        )
        return report.out_of_policy
    for drift in report.drifts:
        log.warning("retention out of policy, setting it: %s", drift.describe().replace("\n", ";"))
    applied = await apply_retention(clients, report.drifts)
    for topic, why in applied.failed.items():
        log.error("retention: the broker refused to change %s: %s", topic, why)
    after = await check_retention(clients, names, policy, **how)
    log.info(
        "retention: %d topics set to the policy (version %s); %d still out of it",
        len(applied.changed),
        policy.version,
        after.out_of_policy,
    )
    return after.out_of_policy


def raise_if_denied(report: RetentionReport | ApplyResult) -> None:
    """An authorization failure is this identity's, not the topic's: the CLI exits 5 for it."""
    errors = report.unreadable if isinstance(report, RetentionReport) else report.failed
    denied = sorted(t for t, why in errors.items() if "AUTHORIZATION" in why)
    if denied:
        raise AccessDeniedError(
            f"the broker denied access to the settings of {len(denied)} topics ({', '.join(denied[:3])})",
            hint="run as the admin, or as an identity with DESCRIBE_CONFIGS and ALTER_CONFIGS on the topics",
        )
