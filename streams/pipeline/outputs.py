"""What a batch sends and what it counted: its outbound records (alerts, audit records, dead letters)
and the tallies the metrics and count records are made of. Plain data, built by `batch.Pipeline`."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import NamedTuple

from streams.hotlists.model import Hit
from streams.pipeline.read_decoder import PlateRead, ReadRejection
from streams.policy.share_audit import AuditTail


class Outbound(NamedTuple):  # a tuple: a batch builds thousands (a frozen dataclass costs 3x to make)
    topic: str
    key: bytes | None
    value: bytes
    headers: tuple[tuple[str, bytes], ...] = ()


class Share(NamedTuple):
    """One recipient of a hit, the policy's decision for it, and the parts its outputs are made of."""

    recipient: str
    allowed: bool
    rule: str
    audit: AuditTail
    alert_topic: str
    recipient_json: bytes


class Shares(NamedTuple):
    """Every share of a hit of one (reading agency, owner, list) key, split as its outputs and tallies
    need them: made once per key and policy, used by every such hit."""

    audits: tuple[AuditTail, ...]  # one per recipient, allowed or denied, in order
    allowed: tuple[Share, ...]
    denied: tuple[tuple[str, str], ...]  # (recipient, rule)
    rules: tuple[tuple[str, int], ...]  # (rule, how many of `denied` it decided)


class EmittedAlert(NamedTuple):
    """What the metrics need of one alert sent: its recipient and how old its read is."""

    recipient: str
    read_time_ms: int
    broker_time_ms: int


@dataclass
class BatchResult:
    reads: int = 0
    alerts: list[Outbound] = field(default_factory=list)
    audits: list[Outbound] = field(default_factory=list)
    dead_letters: list[Outbound] = field(default_factory=list)
    emitted: list[EmittedAlert] = field(default_factory=list)
    matches: Counter[tuple[str, str]] = field(default_factory=Counter)  # (list, kind)
    denied: Counter[str] = field(default_factory=Counter)  # deny reason
    decisions: Counter[str] = field(default_factory=Counter)  # allow / deny
    dlq_reasons: Counter[str] = field(default_factory=Counter)
    # every hit, with who it was shared with and who not (`hits`, `sent` and `denied_shares` list them)
    shared: list[tuple[PlateRead, Hit, Shares]] = field(default_factory=list)
    # reads that decoded on a topic that proves no agency (the single development topic), by the agency
    # they name: what `counts.batch_counts` attributes them to (per-agency topics need no count per read)
    claimed: Counter[str] = field(default_factory=Counter)

    @property
    def hits(self) -> list[tuple[PlateRead, Hit]]:
        return [(read, hit) for read, hit, _ in self.shared]

    @property
    def sent(self) -> list[tuple[PlateRead, Hit, str]]:
        """(read, hit, recipient) of every alert sent, in the order of `alerts`."""
        return [(read, hit, share.recipient) for read, hit, shares in self.shared for share in shares.allowed]

    @property
    def denied_shares(self) -> list[tuple[PlateRead, Hit, str, str]]:
        """(read, hit, recipient, rule) of every share denied."""
        return [(read, hit, *denied) for read, hit, shares in self.shared for denied in shares.denied]

    def outbound(self) -> list[Outbound]:
        return [*self.alerts, *self.audits, *self.dead_letters]

    @property
    def internal_errors(self) -> int:
        """Records dead-lettered because processing them raised (what a circuit breaker counts)."""
        return self.dlq_reasons[ReadRejection.INTERNAL_ERROR.value]

    @property
    def processed(self) -> int:
        """Records matched against the hotlists (every record is either that or a dead letter)."""
        return self.reads - len(self.dead_letters)

    def merge(self, other: BatchResult) -> None:
        """Add the result of another batch (a part of this one) to this one."""
        self.reads += other.reads
        self.alerts += other.alerts
        self.audits += other.audits
        self.dead_letters += other.dead_letters
        self.emitted += other.emitted
        self.matches.update(other.matches)
        self.denied.update(other.denied)
        self.decisions.update(other.decisions)
        self.dlq_reasons.update(other.dlq_reasons)
        self.shared += other.shared
        self.claimed.update(other.claimed)
