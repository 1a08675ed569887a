"""How long reads and alerts may be kept, from the policy: the strictest applicable jurisdiction.

Plain code (no Kafka): the legal limit of each kind of data and the broker settings that keep within
it. `streams/pipeline/topic_retention.py` maps them onto topic names; `platewatch retention
check|apply` and the worker make the broker follow them; `platewatch policy publish` prints them.

The legal limit L
-----------------
- Reads taken in a state (`plate-reads.<ORI>`, for an agency of that state): the `retention_days` of
  the state's profile; `DEFAULT_READ_RETENTION_DAYS` (21, the strictest state rule known) when the
  state has no profile or its profile fixes none.
- Data that mixes jurisdictions (the dead-letter topic, the single development `plate-reads` topic, a
  topic of an agency no longer registered): the shortest limit of every state in the policy or the
  registry.
- Alerts to a recipient (`alerts.<ORI>`): `ALERT_RETENTION_DAYS` (7), and never longer than the read
  limit of any state whose reads can reach that recipient (its own state, and every state whose
  profile lets an agency there share with it).

From L to topic settings
------------------------
Kafka deletes whole segments, never single records: a segment goes once its *newest* record is older
than `retention.ms`, at the broker's next retention check (`log.retention.check.interval.ms`, 5
minutes by default), and a segment spans at most `segment.ms` (the broker rolls to a new segment on
the first record past it). So the oldest record still readable is at most
`retention.ms + segment.ms + check interval` old, and Platewatch sets

    segment.ms     = min(1 day, L / 10)
    retention.ms   = L - segment.ms - check interval
    cleanup.policy = delete          (a compacted topic is never deleted by time)

e.g. 21 days: segments of 1 day, retention 19 d 23 h 55 min; 7 days: 16 h 48 min and 6 d 7 h 7 min.
Records are stamped by the broker when they arrive (input topics: `LogAppendTime`) or by the worker
when it sends them (alerts, dead letters), so age counts from then.

Test-only: `limit_ms_override` maps a profile name to a limit in milliseconds that replaces its whole
`retention_days` (the policy schema allows only days), so a test can watch a broker enforce a limit of
seconds; and `check_interval_ms` is the interval of the broker under test.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from streams.policy.jurisdiction_filter import SharingPolicy

SECOND_MS = 1000
HOUR_MS = 3600 * SECOND_MS
DAY_MS = 24 * HOUR_MS
DEFAULT_READ_RETENTION_DAYS = 21  # when no profile fixes one: the strictest state rule known
ALERT_RETENTION_DAYS = 7  # alerts.<ORI>: long enough for a dispatch system to catch up after an outage
MAX_SEGMENT_MS = DAY_MS
KAFKA_RETENTION_CHECK_MS = 300_000  # Kafka's default log.retention.check.interval.ms
ALERT_PURPOSE = "hotlist_alert"


@dataclass(frozen=True, slots=True)
class Limit:
    """A legal limit and, in words, where it comes from."""

    ms: int
    basis: str


@dataclass(frozen=True, slots=True)
class TopicRetention:
    """The topic settings that keep every record readable for less than `limit.ms`."""

    limit: Limit
    segment_ms: int
    retention_ms: int
    check_interval_ms: int  # the broker's retention check, assumed

    def keeps_past_limit(self, retention_ms: int, segment_ms: int) -> bool:
        """True when a topic set to these values can keep a record longer than the limit."""
        return retention_ms < 0 or retention_ms + segment_ms + self.check_interval_ms > self.limit.ms

    @property
    def config(self) -> dict[str, str]:
        return {"cleanup.policy": "delete", "retention.ms": str(self.retention_ms), "segment.ms": str(self.segment_ms)}


def within(limit: Limit, check_interval_ms: int = KAFKA_RETENTION_CHECK_MS) -> TopicRetention:
    """The rule of the module docstring: one segment and one retention check under the limit."""
    segment = min(MAX_SEGMENT_MS, limit.ms // 10)
    retention = limit.ms - segment - check_interval_ms
    if segment < 1 or retention < 1:
        raise ValueError(
            f"a limit of {limit.ms} ms leaves no retention after a segment and a retention check of "
            f"{check_interval_ms} ms ({limit.basis})"
        )
    return TopicRetention(limit, segment, retention, check_interval_ms)


class RetentionRules:
    """The limits of one policy version (and, for tests, limits in milliseconds by profile name)."""

    def __init__(self, policy: SharingPolicy, limit_ms_override: Mapping[str, int] | None = None) -> None:
        self.policy = policy
        self.override = dict(limit_ms_override or {})

    def read_limit(self, state: str) -> Limit:
        """How long reads taken in `state` may be kept."""
        profile = self.policy.profile_for_state(state)
        where = f"reads taken in {state or '?'}"
        default = DEFAULT_READ_RETENTION_DAYS * DAY_MS
        if profile is None:
            return Limit(default, f"{where}: no profile, the default {DEFAULT_READ_RETENTION_DAYS} days")
        if profile.name in self.override:
            return Limit(self.override[profile.name], f"{where}: {profile.name} (test override)")
        if profile.retention_days:
            return Limit(profile.retention_days * DAY_MS, f"{where}: {profile.name}, {profile.retention_days} days")
        return Limit(default, f"{where}: {profile.name} fixes none, the default {DEFAULT_READ_RETENTION_DAYS} days")

    def states(self) -> list[str]:
        """Every state the policy maps or a registered agency is in."""
        return sorted(set(self.policy.jurisdictions) | {a.state for a in self.policy.registry if a.state})

    def shortest_read_limit(self) -> Limit:
        """For data that mixes jurisdictions: the strictest of them all."""
        limits = {s: self.read_limit(s).ms for s in self.states()}
        if not limits:
            return Limit(DEFAULT_READ_RETENTION_DAYS * DAY_MS, "no jurisdiction known: the default")
        shortest = min(limits.values())
        strictest = ", ".join(s for s, ms in limits.items() if ms == shortest)
        return Limit(shortest, f"reads of every jurisdiction: the strictest, {human_ms(shortest)} ({strictest})")

    def states_reaching(self, recipient_ori: str) -> list[str]:
        """States whose reads can produce an alert for `recipient_ori`: its own, and each state whose
        profile lets an agency there share with it (rules see the reading agency only through its state,
        so one reading agency per state decides for the state)."""
        recipient = self.policy.registry.get(recipient_ori)
        reached = {recipient.state} if recipient is not None and recipient.state else set()
        readers: dict[str, str] = {}
        for agency in self.policy.registry:
            if agency.ori != recipient_ori and agency.state:
                readers.setdefault(agency.state, agency.ori)
        for state, reader in readers.items():
            if self.policy.decide(reader, recipient_ori, ALERT_PURPOSE).allowed:
                reached.add(state)
        return sorted(reached)

    def alert_limit(self, recipient_ori: str) -> Limit:
        """How long alerts to `recipient_ori` may be kept."""
        limit = Limit(ALERT_RETENTION_DAYS * DAY_MS, f"alerts: {ALERT_RETENTION_DAYS} days")
        for state in self.states_reaching(recipient_ori):
            reads = self.read_limit(state)
            if reads.ms < limit.ms:
                limit = Limit(reads.ms, f"alerts from {reads.basis}")
        return limit


def human_ms(ms: int) -> str:
    """`5097300000` -> `58d 23h 55m`; -1 -> `unlimited`."""
    if ms < 0:
        return "unlimited"
    if ms < SECOND_MS:
        return f"{ms}ms"
    parts = []
    rest = ms
    for unit, size in (("d", DAY_MS), ("h", HOUR_MS), ("m", 60 * SECOND_MS), ("s", SECOND_MS)):
        if rest >= size:
            parts.append(f"{rest // size}{unit}")
            rest %= size
    if rest:
        parts.append(f"{rest}ms")
    return " ".join(parts)
