"""The compliance report over a period: what was read, what was shared with whom, what was refused.

Every number comes from the audit store (`streams.audit.schema`) in a handful of grouped queries on
the time indexes; the agency registry adds each agency's state, level and kind (the registry in force
when the report is made: an agency's entry at the time of the share is not stored). The result is a
plain `AuditReport` dataclass; `streams.audit.render` turns it into HTML, markdown, CSV or JSON, all
carrying the same numbers.

Sections and where their numbers come from:

- reads processed, hits and dead letters per reading agency: `batch_counts` rows in the period;
- alerts sent per recipient agency and per recipient state: `allow` decisions in the period;
- denials by rule and by would-be recipient: `deny` decisions in the period;
- shared outside the read's state: `allow` decisions whose recipient's state is not the reading
  agency's (an agency missing from the registry has no known state, so its shares are listed too);
- shared with federal or private recipients: `allow` decisions whose recipient's level is federal or
  kind is private;
- policy versions in force: the distinct `policy_version` of decisions in the period, first and last
  decision time;
- decisions per hour (periods up to three days) or per day, for the chart.

`--agency` keeps the reads taken by that agency: decisions and counts whose `reading_agency` is it.
Reading the report is an access to retained data (Cal. Civ. Code 1798.90.52): `run_report` writes an
`access_log` row (`streams.audit.store.record_access`) in the same transaction as the reads, so there
is no report without its record.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, and_, func, select, tuple_

from streams.audit import schema
from streams.audit.period import Period
from streams.audit.store import reaching, record_access
from streams.errors import ConfigurationError
from streams.pipeline.alert_builder import iso_ms
from streams.policy.agencies import Agency, AgencyRegistry, Kind, Level

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
UNKNOWN = "unknown"  # state, level or kind of an agency the registry does not list
REPORT_COMMAND = "audit report"


# -- the report ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReaderCounts:
    agency: str
    name: str
    state: str
    reads: int
    hits: int
    dead_letters: int


@dataclass(frozen=True)
class AgencyCount:
    agency: str
    name: str
    state: str
    level: str
    kind: str
    count: int


@dataclass(frozen=True)
class KeyCount:
    key: str
    count: int


@dataclass(frozen=True)
class Share:
    """One allowed share the report lists by name (outside the read's state, federal or private)."""

    time: str
    alert_id: str
    read_id: str
    reading_agency: str
    reading_state: str
    recipient: str
    recipient_name: str
    recipient_state: str
    recipient_level: str
    recipient_kind: str
    rule: str
    profile: str
    policy_version: str


@dataclass(frozen=True)
class PolicyVersionSpan:
    version: str
    first: str
    last: str
    decisions: int
    first_seen: str  # first time the store saw this version anywhere ("" if not recorded)


@dataclass(frozen=True)
class TimeBucket:
    start: str
    allowed: int
    denied: int


@dataclass(frozen=True)
class AuditReport:
    period_start: str
    period_end: str
    agency: str  # "" = every reading agency
    generated_at: str
    bucket: str  # "hour" or "day"
    readers: list[ReaderCounts] = field(default_factory=list)
    alerts_by_recipient: list[AgencyCount] = field(default_factory=list)
    alerts_by_state: list[KeyCount] = field(default_factory=list)
    denials_by_rule: list[KeyCount] = field(default_factory=list)
    denials_by_recipient: list[AgencyCount] = field(default_factory=list)
    shared_outside_state: list[Share] = field(default_factory=list)
    shared_federal_or_private: list[Share] = field(default_factory=list)
    policy_versions: list[PolicyVersionSpan] = field(default_factory=list)
    decisions_over_time: list[TimeBucket] = field(default_factory=list)

    def totals(self) -> dict[str, int]:
        """The headline numbers (the HTML marks each with `data-total`, the tests compare them)."""
        allowed = sum(r.count for r in self.alerts_by_recipient)
        denied = sum(r.count for r in self.denials_by_rule)
        return {
            "reads": sum(r.reads for r in self.readers),
            "hits": sum(r.hits for r in self.readers),
            "dead_letters": sum(r.dead_letters for r in self.readers),
            "decisions": allowed + denied,
            "alerts_sent": allowed,
            "denials": denied,
            "recipients": len(self.alerts_by_recipient),
            "shared_outside_state": len(self.shared_outside_state),
            "shared_federal_or_private": len(self.shared_federal_or_private),
            "policy_versions": len(self.policy_versions),
        }

    def to_json(self) -> dict[str, Any]:
        doc = asdict(self)
        doc["totals"] = self.totals()
        return doc


@dataclass(frozen=True)
class Accessor:
    """Who reads the report and why (Cal. Civ. Code 1798.90.52): required, never defaulted."""

    user: str
    purpose: str
    organization: str = ""

    def __post_init__(self) -> None:
        missing = " and ".join("--" + name for name in ("user", "purpose") if not getattr(self, name).strip())
        if missing:
            raise ConfigurationError(
                f"reading the audit store is an access to ALPR data and needs {missing}",
                hint="say who you are and why (the access is recorded in access_log)",
            )


def _agency_facts(registry: AgencyRegistry, ori: str) -> tuple[str, str, str, str]:
    """(name, state, level, kind), `unknown` for an agency the registry does not list."""
    if not ori:  # batch counts of reads that proved no agency (development topic, undecodable)
        return ("(no agency: reads that named none or could not be decoded)", UNKNOWN, UNKNOWN, UNKNOWN)
    agency: Agency | None = registry.get(ori)
    if agency is None:
        return ("(not in the registry)", UNKNOWN, UNKNOWN, UNKNOWN)
    return (agency.name, agency.state or UNKNOWN, str(agency.level), str(agency.kind))


def is_outside_state(reader_state: str, recipient_state: str) -> bool:
    """A share leaves the read's state when the states differ or either is not known."""
    return UNKNOWN in (reader_state, recipient_state) or reader_state != recipient_state


def is_federal_or_private(level: str, kind: str) -> bool:
    return level in (Level.FEDERAL, UNKNOWN) or kind in (Kind.PRIVATE, UNKNOWN)


def build_report(
    conn: Connection,
    period: Period,
    registry: AgencyRegistry,
    *,
    agency: str = "",
    now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
) -> AuditReport:
    """Every section of the report for `period` (and reads of `agency` only, when given)."""
    d, c = schema.decisions, schema.batch_counts
    in_period = and_(d.c.time_ms >= period.start_ms, d.c.time_ms < period.end_ms)
    if agency:
        in_period = and_(in_period, d.c.reading_agency == agency)
    counts_in_period = and_(c.c.time_ms >= period.start_ms, c.c.time_ms < period.end_ms)
    if agency:
        counts_in_period = and_(counts_in_period, c.c.reading_agency == agency)

    readers = []
    for reader, reads, hits, dead in conn.execute(
        select(c.c.reading_agency, func.sum(c.c.reads), func.sum(c.c.hits), func.sum(c.c.dead_letters))
        .where(counts_in_period)
        .group_by(c.c.reading_agency)
    ):
        name, state, _, _ = _agency_facts(registry, reader)
        readers.append(ReaderCounts(reader, name, state, int(reads or 0), int(hits or 0), int(dead or 0)))
    readers.sort(key=lambda r: (-r.reads, r.agency))

    # one grouped scan of the period gives every section but the listed shares (a scan of a million
    # decisions costs about a second in SQLite; three scans for three sections cost 1.7 s)
    size = HOUR_MS if period.end_ms - period.start_ms <= 3 * DAY_MS else DAY_MS
    origin = period.start_ms - period.start_ms % size  # buckets on whole hours or days (UTC)
    bucket = ((d.c.time_ms - origin) // size).label("bucket")
    keys = (d.c.reading_agency, d.c.recipient, d.c.decision, d.c.rule, d.c.policy_version, bucket)
    allowed: Counter[str] = Counter()
    denied_by_recipient: Counter[str] = Counter()
    denied_by_rule: Counter[str] = Counter()
    listed_pairs: set[tuple[str, str]] = set()
    versions: dict[str, list[int]] = {}  # version → [first ms, last ms, decisions]
    cells: dict[int, Counter[str]] = defaultdict(Counter)  # bucket → allow / deny counts
    for reader, recipient, decision, rule, version, b, n, first, last in conn.execute(
        select(*keys, func.count(), func.min(d.c.time_ms), func.max(d.c.time_ms)).where(in_period).group_by(*keys)
    ):
        cells[int(b)][decision] += n
        span = versions.setdefault(version, [first, last, 0])
        span[0], span[1], span[2] = min(span[0], first), max(span[1], last), span[2] + n
        if decision == "allow":
            allowed[recipient] += n
            reader_state = _agency_facts(registry, reader)[1]
            _, state, level, kind = _agency_facts(registry, recipient)
            if is_outside_state(reader_state, state) or is_federal_or_private(level, kind):
                listed_pairs.add((reader, recipient))
        else:
            denied_by_recipient[recipient] += n
            denied_by_rule[rule] += n

    by_state: Counter[str] = Counter()
    for recipient, n in allowed.items():
        by_state[_agency_facts(registry, recipient)[1]] += n

    outside, federal_private = _listed_shares(conn, in_period, registry, listed_pairs)
    return AuditReport(
        period_start=period.start,
        period_end=period.end,
        agency=agency,
        generated_at=now().isoformat(timespec="seconds").replace("+00:00", "Z"),
        bucket="hour" if size == HOUR_MS else "day",
        readers=readers,
        alerts_by_recipient=_agency_counts(registry, allowed),
        alerts_by_state=_key_counts(by_state),
        denials_by_rule=_key_counts(denied_by_rule),
        denials_by_recipient=_agency_counts(registry, denied_by_recipient),
        shared_outside_state=outside,
        shared_federal_or_private=federal_private,
        policy_versions=_policy_versions(conn, versions),
        decisions_over_time=_over_time(cells, period, origin, size),
    )


def _agency_counts(registry: AgencyRegistry, counts: Counter[str]) -> list[AgencyCount]:
    rows = [AgencyCount(ori, *_agency_facts(registry, ori), n) for ori, n in counts.items()]
    return sorted(rows, key=lambda r: (-r.count, r.agency))


def _key_counts(counts: Counter[str]) -> list[KeyCount]:
    return sorted((KeyCount(k, n) for k, n in counts.items()), key=lambda r: (-r.count, r.key))


def _listed_shares(
    conn: Connection, in_period: Any, registry: AgencyRegistry, pairs: Iterable[tuple[str, str]]
) -> tuple[list[Share], list[Share]]:
    """Each allowed share of the (reader, recipient) pairs that the report must name, by section."""
    pairs = sorted(pairs)
    if not pairs:
        return [], []
    d = schema.decisions
    outside: list[Share] = []
    federal_private: list[Share] = []
    query = (
        select(
            d.c.time_ms,
            d.c.alert_id,
            d.c.read_id,
            d.c.reading_agency,
            d.c.recipient,
            d.c.rule,
            d.c.profile,
            d.c.policy_version,
        )
        .where(in_period, d.c.decision == "allow", tuple_(d.c.reading_agency, d.c.recipient).in_(pairs))
        .order_by(d.c.time_ms, d.c.alert_id, d.c.recipient)
    )
    for time_ms, alert_id, read_id, reader, recipient, rule, profile, version in conn.execute(query):
        reader_state = _agency_facts(registry, reader)[1]
        name, state, level, kind = _agency_facts(registry, recipient)
        share = Share(
            iso_ms(time_ms), alert_id, read_id, reader, reader_state, recipient, name, state, level, kind, rule,
            profile, version,
        )  # fmt: skip
        if is_outside_state(reader_state, state):
            outside.append(share)
        if is_federal_or_private(level, kind):
            federal_private.append(share)
    return outside, federal_private


def _policy_versions(conn: Connection, versions: dict[str, list[int]]) -> list[PolicyVersionSpan]:
    pv = schema.policy_versions
    seen = (
        dict(
            conn.execute(select(pv.c.policy_version, pv.c.first_seen_ms).where(pv.c.policy_version.in_(versions))).all()
        )
        if versions
        else {}
    )
    rows = [
        PolicyVersionSpan(v, iso_ms(first), iso_ms(last), n, iso_ms(seen[v]) if v in seen else "")
        for v, (first, last, n) in versions.items()
    ]
    return sorted(rows, key=lambda r: (r.first, r.version))


def _over_time(cells: dict[int, Counter[str]], period: Period, origin: int, size: int) -> list[TimeBucket]:
    """Every bucket of the period (only those with decisions when there would be more than 2,000)."""
    last = (period.end_ms - 1 - origin) // size
    keys: Iterable[int] = sorted(cells) if last > 2000 else range(last + 1)
    return [TimeBucket(iso_ms(origin + k * size), cells[k]["allow"], cells[k]["deny"]) for k in keys]


# -- the run: reads and its access record in one transaction ---------------------------------------


def run_report(
    engine: Engine,
    period: Period,
    registry: AgencyRegistry,
    accessor: Accessor,
    *,
    agency: str = "",
    now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
) -> AuditReport:
    """The report, with its access record written in the same transaction (no report without it)."""
    with reaching(engine, "read the report's rows"), engine.begin() as conn:
        report = build_report(conn, period, registry, agency=agency, now=now)
        scope = f", reads of {agency}" if agency else ""
        record_access(
            conn,
            user=accessor.user,
            organization=accessor.organization,
            purpose=accessor.purpose,
            command=REPORT_COMMAND,
            accessed=f"share_decisions, batch_counts {period.start} .. {period.end}{scope}",
            records=report.totals()["decisions"],
            time_ms=int(now().timestamp() * 1000),
        )
    return report
