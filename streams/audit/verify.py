"""Reconciliation: every alert delivered was allowed, and none went where the decision was deny.

`verify` checks the audit store against itself, independently of the worker that made the
decisions: the sink stores each record it finds on an `alerts.<ORI>` topic (`alert_deliveries`,
recipient = the topic's agency) and each decision from `share-audit` (`share_decisions`). For every
delivery in the period:

- there must be exactly one `allow` decision for its alert id and recipient (and, when the delivered
  alert carries a policy version, for that version);
- there must be no `deny` decision for that alert and recipient (in that version, when it is
  carried; in any version otherwise, since the delivery cannot say which one it was sent under);
- the alert document must name the topic's agency as its recipient;
- an alert id that no decision knows at all (an alert written to an agency's topic by something
  other than the worker, or one the sink could not read, stored with an empty id) is a mismatch;
- a decision, count or access record the sink could not read (`unreadable_records`) is a mismatch
  too: the evidence is incomplete until someone looks at it.

Duplicates are not mismatches. The worker delivers at least once: a batch whose outputs were not
acknowledged is sent again, so the same alert id can reach the same recipient twice (same decision,
another offset). Duplicates are counted and listed on their own, and alone they leave the exit
status 0. Decisions are looked up by alert id whatever their time, so a delivery just inside the
period whose decision fell just before it is still matched.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from sqlalchemy import ColumnElement, Connection, RowMapping, and_, case, func, select

from streams.audit import schema
from streams.audit.period import Period

# mismatch kinds, in the order they are checked
UNKNOWN_ALERT = "unknown_alert"  # no decision for this alert id at all
DENIED = "delivered_to_denied_recipient"  # a deny decision for this alert and recipient
NOT_DECIDED = "no_decision_for_recipient"  # decisions for the alert, none for this recipient
VERSION_MISMATCH = "no_decision_in_policy_version"  # decisions for the recipient, none in the alert's version
MANY_ALLOWS = "several_allow_decisions"  # more than one allow where exactly one must be
RECIPIENT_MISMATCH = "recipient_differs_from_topic"  # the alert names another recipient than its topic
UNREADABLE = "unreadable_record"  # a decision, count or access record the sink stored as unreadable
KINDS = (UNKNOWN_ALERT, DENIED, NOT_DECIDED, VERSION_MISMATCH, MANY_ALLOWS, RECIPIENT_MISMATCH, UNREADABLE)


@dataclass(frozen=True)
class Mismatch:
    topic: str
    partition: int
    offset: int
    alert_id: str
    recipient: str
    kind: str
    why: str


@dataclass(frozen=True)
class Duplicate:
    alert_id: str
    recipient: str
    copies: int
    where: list[str]  # topic/partition/offset of each copy


@dataclass
class VerifyResult:
    period_start: str
    period_end: str
    deliveries: int = 0
    decisions: int = 0  # decisions in the period (for scale; deliveries are matched whatever their time)
    allowed_not_delivered: int = 0  # allow decisions in the period with no delivery (information only)
    mismatches: list[Mismatch] = field(default_factory=list)
    duplicates: list[Duplicate] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when no delivery is a mismatch (duplicates alone are fine: delivery is at least once)."""
        return not self.mismatches

    def by_kind(self) -> dict[str, int]:
        counts = Counter(m.kind for m in self.mismatches)
        return {kind: counts.get(kind, 0) for kind in KINDS}

    def duplicate_copies(self) -> int:
        """Deliveries beyond the first of each (alert, recipient)."""
        return sum(d.copies - 1 for d in self.duplicates)

    def lines(self) -> list[str]:
        """The report `platewatch audit verify` prints."""
        out = [
            f"period {self.period_start} .. {self.period_end}",
            f"deliveries checked: {self.deliveries}",
            f"decisions in the period: {self.decisions}",
            f"allow decisions not (yet) delivered: {self.allowed_not_delivered} (information; not a mismatch)",
            f"duplicate deliveries: {self.duplicate_copies()} extra copies of {len(self.duplicates)} alerts "
            "(at-least-once re-sends of the same decision; not a mismatch)",
            f"mismatches: {len(self.mismatches)}",
        ]
        out += [f"  {kind}: {n}" for kind, n in self.by_kind().items()]
        for m in self.mismatches:
            out.append(
                f"MISMATCH {m.topic}/{m.partition}/{m.offset} alert {m.alert_id} recipient {m.recipient}: "
                f"{m.kind}: {m.why}"
            )
        for dup in self.duplicates:
            places = ", ".join(dup.where)
            out.append(f"duplicate alert {dup.alert_id} to {dup.recipient}: {dup.copies} copies at {places}")
        out.append("OK: every delivery matches one allow decision" if self.ok else "FAILED: see the mismatches above")
        return out


def verify(conn: Connection, period: Period) -> VerifyResult:
    """Reconcile the deliveries of `period` with the decisions (see the module docstring)."""
    d, s = schema.deliveries, schema.decisions
    result = VerifyResult(period.start, period.end)
    delivered_in_period = and_(d.c.time_ms >= period.start_ms, d.c.time_ms < period.end_ms)
    decided_in_period = and_(s.c.time_ms >= period.start_ms, s.c.time_ms < period.end_ms)

    # one pass: each delivery joined to the decisions for its alert and recipient, counted by kind
    in_version = s.c.policy_version == d.c.policy_version

    def count(*when: ColumnElement[bool]) -> ColumnElement[int]:
        return func.coalesce(func.sum(case((and_(*when), 1), else_=0)), 0)

    pk = (d.c.topic, d.c.partition, d.c.offset)
    query = (
        select(
            *pk,
            d.c.alert_id,
            d.c.recipient,
            d.c.recipient_in_alert,
            d.c.policy_version,
            func.count(s.c.audit_id).label("for_recipient"),
            count(s.c.decision == "allow").label("allows"),
            count(s.c.decision == "deny").label("denies"),
            count(in_version, s.c.decision == "allow").label("allows_in_version"),
            count(in_version, s.c.decision == "deny").label("denies_in_version"),
        )
        .select_from(d.outerjoin(s, and_(s.c.alert_id == d.c.alert_id, s.c.recipient == d.c.recipient)))
        .where(delivered_in_period)
        .group_by(*pk)  # the other columns depend on the key (PostgreSQL knows, SQLite does not ask)
        .order_by(*pk)
    )
    copies: dict[tuple[str, str], list[str]] = {}
    undecided: list[RowMapping] = []  # no decision for the recipient: has the alert any decision at all?

    def check(row: RowMapping, any_decision: bool) -> None:
        for kind, why in _problems(row, any_decision):
            result.mismatches.append(
                Mismatch(row["topic"], row["partition"], row["offset"], row["alert_id"], row["recipient"], kind, why)
            )

    for row in conn.execute(query).mappings():
        result.deliveries += 1
        where = f"{row['topic']}/{row['partition']}/{row['offset']}"
        copies.setdefault((row["alert_id"], row["recipient"]), []).append(where)
        if row["for_recipient"]:
            check(row, True)
        else:
            undecided.append(row)
    alerts = sorted({row["alert_id"] for row in undecided})
    known: set[str] = set()
    for i in range(0, len(alerts), 500):  # a handful in a sound store: asked in chunks
        chunk = alerts[i : i + 500]
        known.update(conn.execute(select(s.c.alert_id).where(s.c.alert_id.in_(chunk)).distinct()).scalars())
    for row in undecided:
        check(row, row["alert_id"] in known)
    result.mismatches.sort(key=lambda m: (m.topic, m.partition, m.offset))
    u = schema.unreadable_records
    for topic, partition, offset, kind, error in conn.execute(
        select(u.c.topic, u.c.partition, u.c.offset, u.c.kind, u.c.error)
        .where(u.c.time_ms >= period.start_ms, u.c.time_ms < period.end_ms)
        .order_by(u.c.topic, u.c.partition, u.c.offset)
    ):
        why = f"a {kind} record the sink could not read ({' '.join(error.split())[:200]})"
        result.mismatches.append(Mismatch(topic, partition, offset, "", "", UNREADABLE, why))
    result.duplicates = [
        Duplicate(alert, recipient, len(places), places)
        for (alert, recipient), places in sorted(copies.items())
        if len(places) > 1
    ]
    result.decisions = conn.execute(select(func.count()).select_from(s).where(decided_in_period)).scalar_one()
    delivered = (
        select(d.c.offset).where(d.c.alert_id == s.c.alert_id, d.c.recipient == s.c.recipient).correlate(s).exists()
    )
    result.allowed_not_delivered = conn.execute(
        select(func.count()).select_from(s).where(decided_in_period, s.c.decision == "allow", ~delivered)
    ).scalar_one()
    return result


def _problems(row: RowMapping, any_decision: bool) -> list[tuple[str, str]]:
    """What is wrong with one delivery (nothing: an empty list)."""
    recipient, version, in_alert = row["recipient"], row["policy_version"], row["recipient_in_alert"]
    problems: list[tuple[str, str]] = []
    if in_alert and in_alert != recipient:
        problems.append((RECIPIENT_MISMATCH, f"the alert names {in_alert} but was delivered on {recipient}'s topic"))
    if not any_decision:
        problems.append((UNKNOWN_ALERT, "no share decision has this alert id: it was not sent by the worker's filter"))
        return problems
    if version:
        allows, denies = row["allows_in_version"], row["denies_in_version"]
        if denies:
            problems.append((DENIED, f"the decision for {recipient} in policy version {version} was deny"))
        elif allows == 0 and (row["allows"] or row["denies"]):
            problems.append(
                (VERSION_MISMATCH, f"{recipient} has decisions for this alert, none in policy version {version}")
            )
        elif allows == 0:
            problems.append((NOT_DECIDED, f"no decision shares this alert with {recipient}"))
        elif allows > 1:
            problems.append((MANY_ALLOWS, f"{allows} allow decisions for {recipient} in policy version {version}"))
        return problems
    allows, denies = row["allows"], row["denies"]
    if denies:
        problems.append(
            (DENIED, f"a decision for {recipient} was deny ({denies} deny, {allows} allow in any policy version)")
        )
    elif allows == 0:
        problems.append((NOT_DECIDED, f"no decision shares this alert with {recipient}"))
    elif allows > 1:
        problems.append((MANY_ALLOWS, f"{allows} allow decisions for {recipient} (policy versions differ)"))
    return problems
