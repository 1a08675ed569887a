"""The retention plan: the `retention.ms`, `segment.ms` and `cleanup.policy` every topic that holds reads
or alerts must have, and how a broker's topics differ from it. Plain code, no Kafka.

The limits and the rule that turns a limit into topic settings (one segment and one retention check
under the legal limit) are in `streams/policy/retention.py`. Topics planned:

- `plate-reads.<ORI>` of every registered agency: reads taken in its state;
- `plate-reads` (single-topic development mode) and `plate-reads.dlq`: the strictest of all;
- `alerts.<ORI>` of every registered agency: alerts, capped by every state whose reads reach it;
- a `plate-reads.<ORI>` or `alerts.<ORI>` on the broker whose agency is no longer registered: the
  strictest of all (its state is no longer known).

`topics create` creates topics with these settings; `platewatch retention check|apply` and the worker
compare them with the broker's and set the ones that differ (incremental alter configs: every other
setting of the topic stays as it is).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from streams.pipeline.topics import TopicNames
from streams.policy.jurisdiction_filter import SharingPolicy
from streams.policy.retention import KAFKA_RETENTION_CHECK_MS, RetentionRules, TopicRetention, human_ms, within

MANAGED = ("cleanup.policy", "retention.ms", "segment.ms")  # the only settings the plan ever changes
_ORI = re.compile("[A-Z0-9]{9}")


@dataclass(frozen=True, slots=True)
class RetentionTarget:
    topic: str
    settings: TopicRetention

    @property
    def config(self) -> dict[str, str]:
        return self.settings.config


def plan_retention(
    policy: SharingPolicy,
    names: TopicNames,
    *,
    existing: Iterable[str] = (),
    single_topic: bool = False,
    check_interval_ms: int = KAFKA_RETENTION_CHECK_MS,
    limit_ms_override: Mapping[str, int] | None = None,
) -> list[RetentionTarget]:
    """Every topic the policy governs, in a stable order: the topics the deployment uses (the
    registered agencies' input topics, or with `single_topic` the one development topic; alert topics;
    the dead-letter topic) whether or not they exist yet, and those in `existing` that it does not use
    (input topics of the other ingest mode, topics of agencies no longer registered)."""
    rules = RetentionRules(policy, limit_ms_override)
    shortest = within(rules.shortest_read_limit(), check_interval_ms)
    on_broker = set(existing)
    targets: dict[str, TopicRetention] = {names.dlq: shortest}
    if single_topic or names.plate_reads in on_broker:
        targets[names.plate_reads] = shortest
    for agency in policy.registry:
        if not single_topic or names.reads_for(agency.ori) in on_broker:
            targets[names.reads_for(agency.ori)] = within(rules.read_limit(agency.state), check_interval_ms)
        targets[names.alerts(agency.ori)] = within(rules.alert_limit(agency.ori), check_interval_ms)
    for topic in on_broker:
        if topic not in targets and _is_agency_topic(topic, names):
            targets[topic] = shortest  # an agency no longer registered: its state is no longer known
    return [RetentionTarget(topic, targets[topic]) for topic in sorted(targets)]


def _is_agency_topic(topic: str, names: TopicNames) -> bool:
    if names.reading_agency_of(topic) is not None:
        return True
    return topic.startswith(names.alerts_prefix) and bool(_ORI.fullmatch(topic[len(names.alerts_prefix) :]))


@dataclass(frozen=True, slots=True)
class Drift:
    """A topic whose managed settings differ from the plan."""

    target: RetentionTarget
    current: Mapping[str, str | None]  # the broker's values of MANAGED (None: not reported)

    @property
    def topic(self) -> str:
        return self.target.topic

    @property
    def changes(self) -> dict[str, str]:
        """The settings to set, with their planned values."""
        return {k: v for k, v in self.target.config.items() if self.current.get(k) != v}

    @property
    def past_limit(self) -> bool:
        """True when the topic, as it is, can keep a record longer than the law allows."""
        if "delete" not in (self.current.get("cleanup.policy") or "").split(","):
            return True
        retention, segment = _ms(self.current.get("retention.ms")), _ms(self.current.get("segment.ms"))
        if retention is None or segment is None:
            return True
        return self.target.settings.keeps_past_limit(retention, segment)

    def describe(self) -> str:
        s = self.target.settings
        head = f"{self.topic}: limit {human_ms(s.limit.ms)} ({s.limit.basis})"
        if self.past_limit:
            head += "; KEEPS DATA PAST THE LIMIT"
        lines = [head]
        for key, want in self.changes.items():
            lines.append(f"    {key:<15} {_show(key, self.current.get(key))} -> {_show(key, want)}")
        return "\n".join(lines)


def drifts(targets: Iterable[RetentionTarget], current: Mapping[str, Mapping[str, str | None]]) -> list[Drift]:
    """Topics in `current` (topic -> its settings) whose managed settings differ from their target;
    targets whose topic is not in `current` (not on the broker) are skipped."""
    out = []
    for target in targets:
        if target.topic in current:
            drift = Drift(target, {k: current[target.topic].get(k) for k in MANAGED})
            if drift.changes:
                out.append(drift)
    return out


def _ms(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _show(key: str, value: str | None) -> str:
    if value is None:
        return "(unknown)"
    ms = _ms(value) if key.endswith(".ms") else None
    return f"{value} ({human_ms(ms)})" if ms is not None else value
