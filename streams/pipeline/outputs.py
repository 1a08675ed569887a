"""What a batch sends and what it counted: its outbound records (alerts, audit records, dead letters)
and the tallies the metrics and count records are made of. Plain data, built by `batch.Pipeline`."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import NamedTuple

from streams.hotlists.model import Hit
from streams.pipeline.read_decoder import PlateRead, ReadRejection


class Outbound(NamedTuple):  # a tuple: a batch builds thousands (a frozen dataclass costs 3x to make)
    topic: str
    key: bytes | None
    value: bytes
    headers: tuple[tuple[str, bytes], ...] = ()


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
    hits: list[tuple[PlateRead, Hit]] = field(default_factory=list)
    # (read, hit, recipient, rule) of every share denied, and (read, hit, recipient) of every alert sent
    denied_shares: list[tuple[PlateRead, Hit, str, str]] = field(default_factory=list)
    sent: list[tuple[PlateRead, Hit, str]] = field(default_factory=list)
    # reads that decoded on a topic that proves no agency (the single development topic), by the agency
    # they name: what `counts.batch_counts` attributes them to (per-agency topics need no count per read)
    claimed: Counter[str] = field(default_factory=Counter)

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
        self.hits += other.hits
        self.denied_shares += other.denied_shares
        self.sent += other.sent
        self.claimed.update(other.claimed)
