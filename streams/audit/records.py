"""Records of the audited topics as rows of the audit store: plain code, no Kafka, no database.

The audit sink consumes four kinds of topic and hands each batch here:

- `share-audit` → `share_decisions` (keyed by audit_id) and `policy_versions` (first time seen);
- `alerts.<ORI>` → `alert_deliveries` (keyed by topic/partition/offset), read *tolerantly*: an alert
  that is not JSON, or lacks fields, is still a delivery, stored with what can be read (the recipient
  from its topic, "" for the rest), so `audit verify` can catch an alert no worker decided;
- `batch-counts` → `batch_counts` (keyed by topic/partition/offset of the count record);
- `access-log` → `access_log` (keyed by access_id).

A decision, count or access record that cannot be stored as what it claims to be (not JSON, a field
missing, of the wrong type or longer than its column) becomes an `unreadable_records` row holding its
bytes: evidence is never dropped, and never silently truncated. Every string is fitted to what both
databases accept (PostgreSQL refuses NUL characters and strings longer than a VARCHAR).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy import String, Table

from streams.audit import schema
from streams.pipeline.alert_builder import iso_ms
from streams.pipeline.batch import ConsumedRecord
from streams.pipeline.topics import TopicNames

# the share-audit fields stored as text, beside audit_id and time (schemas/share-audit.schema.json)
DECISION_TEXT = (
    "read_id", "alert_id", "plate", "reading_agency", "recipient", "user", "organization", "decision", "rule",
    "reason", "purpose", "profile", "policy_version",
)  # fmt: skip
COUNT_FIELDS = ("reads", "hits", "dead_letters")
ACCESS_TEXT = ("user", "organization", "purpose", "command", "accessed")
MAX_VALUE_CHARS = 1_100_000  # a Kafka record is at most ~1 MB: kept whole


class UnreadableError(Exception):
    """A record that cannot be stored as what its topic says it is; the message says why."""


@dataclass
class Rows:
    """The rows of one batch of consumed records, by table."""

    decisions: list[dict[str, Any]] = field(default_factory=list)
    deliveries: list[dict[str, Any]] = field(default_factory=list)
    batch_counts: list[dict[str, Any]] = field(default_factory=list)
    access_log: list[dict[str, Any]] = field(default_factory=list)
    unreadable: list[dict[str, Any]] = field(default_factory=list)
    policy_versions: dict[str, int] = field(default_factory=dict)  # version → earliest decision time (ms)
    ignored: int = 0  # records of a topic the sink does not store (none, with its subscription)

    def by_table(self) -> list[tuple[Table, list[dict[str, Any]]]]:
        """Every table's rows, in a fixed order (so concurrent sinks take row locks in the same order)."""
        versions = [{"policy_version": v, "first_seen_ms": t} for v, t in sorted(self.policy_versions.items())]
        return [
            (schema.decisions, self.decisions),
            (schema.deliveries, self.deliveries),
            (schema.batch_counts, self.batch_counts),
            (schema.access_log, self.access_log),
            (schema.unreadable_records, self.unreadable),
            (schema.policy_versions, versions),
        ]

    def __len__(self) -> int:
        return sum(len(rows) for _, rows in self.by_table())


def string_lengths(table: Table) -> dict[str, int]:
    """The length limit of each VARCHAR column of `table` (TEXT columns have none)."""
    return {c.name: c.type.length for c in table.columns if isinstance(c.type, String) and c.type.length}


DECISION_LENGTHS = string_lengths(schema.decisions)
DELIVERY_LENGTHS = string_lengths(schema.deliveries)
COUNT_LENGTHS = string_lengths(schema.batch_counts)
ACCESS_LENGTHS = string_lengths(schema.access_log)
BIGINT_MAX = 2**63 - 1


def clean(text: str) -> str:
    """A string both databases store as it is: NUL (refused by PostgreSQL) written as \\x00."""
    return text.replace("\x00", "\\x00") if "\x00" in text else text


def fit(text: str, limit: int | None) -> str:
    """`text` cleaned and cut to `limit` characters (for claims read tolerantly, never for evidence)."""
    text = clean(text)
    return text[:limit] if limit is not None and len(text) > limit else text


def _text(doc: Mapping[str, Any], name: str, lengths: Mapping[str, int], *, required: bool = True) -> str:
    value = doc.get(name)
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise UnreadableError(f"{name} is {'missing' if value is None else type(value).__name__}, not a string")
    value = clean(value)
    limit = lengths.get(name)
    if limit is not None and len(value) > limit:
        raise UnreadableError(f"{name} is {len(value)} characters, more than {limit}")
    return value


def _count(doc: Mapping[str, Any], name: str) -> int:
    value = doc.get(name)
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= BIGINT_MAX:
        raise UnreadableError(f"{name} is {value!r}, not a count")
    return value


def _document(value: bytes | None) -> dict[str, Any]:
    if value is None:
        raise UnreadableError("no value (a tombstone)")
    try:
        doc = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        raise UnreadableError(f"not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise UnreadableError(f"a JSON {type(doc).__name__}, not an object")
    return doc


def parse_time(text: str) -> dt.datetime:
    """An ISO 8601 time with an offset (or Z), as an aware UTC datetime."""
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        raise UnreadableError(f"time {text[:64]!r} is not ISO 8601") from None
    if when.tzinfo is None:
        raise UnreadableError(f"time {text[:64]!r} has no UTC offset")
    return when.astimezone(dt.UTC)


def decision_row(value: bytes | None) -> dict[str, Any]:
    """A share-audit record as a `share_decisions` row; `UnreadableError` when it is not one."""
    doc = _document(value)
    row: dict[str, Any] = {"audit_id": _text(doc, "audit_id", DECISION_LENGTHS)}
    if not row["audit_id"]:
        raise UnreadableError("audit_id is empty")
    when = parse_time(_text(doc, "time", {}))
    row["time"] = when
    row["time_ms"] = int(when.timestamp() * 1000)
    for name in DECISION_TEXT:
        row[name] = _text(doc, name, DECISION_LENGTHS)
    if row["decision"] not in ("allow", "deny"):
        raise UnreadableError(f"decision is {row['decision']!r}, not allow or deny")
    elements = doc.get("data_elements", [])
    if not isinstance(elements, list) or not all(isinstance(e, str) for e in elements):
        raise UnreadableError("data_elements is not a list of strings")
    row["data_elements"] = clean(",".join(elements))
    return row


def delivery_row(record: ConsumedRecord, recipient: str) -> dict[str, Any]:
    """An alert record as an `alert_deliveries` row, whatever it holds (see the module's docstring)."""
    try:
        doc = orjson.loads(record.value) if record.value is not None else None
    except orjson.JSONDecodeError:
        doc = None
    if not isinstance(doc, dict):
        doc = {}

    def claim(name: str, fallback: str = "") -> str:
        value = doc.get(name)
        return fit(value if isinstance(value, str) else fallback, DELIVERY_LENGTHS.get(name))

    key = record.key.decode(errors="replace") if record.key else ""
    return {
        "topic": record.topic,
        "partition": record.partition,
        "offset": record.offset,
        "alert_id": claim("alert_id", key),  # the worker keys an alert by its id
        "recipient": recipient,
        "recipient_in_alert": fit(doc["recipient_ori"], 9) if isinstance(doc.get("recipient_ori"), str) else "",
        "policy_version": claim("policy_version"),
        "time_ms": record.timestamp,
    }


def source_of(record: ConsumedRecord) -> str:
    return f"{record.topic}/{record.partition}/{record.offset}"


def count_row(record: ConsumedRecord) -> dict[str, Any]:
    """A batch-counts record (streams/pipeline/counts.py) as a `batch_counts` row."""
    doc = _document(record.value)
    source = source_of(record)
    if len(source) > COUNT_LENGTHS["source"]:
        raise UnreadableError(f"source {source[:40]}... is longer than {COUNT_LENGTHS['source']}")
    inputs = doc.get("inputs", [])
    if not isinstance(inputs, list) or not all(isinstance(i, str) for i in inputs):
        raise UnreadableError("inputs is not a list of strings")
    return {
        "source": source,
        "time_ms": _count(doc, "time_ms"),
        "reading_agency": _text(doc, "reading_agency", COUNT_LENGTHS),
        **{name: _count(doc, name) for name in COUNT_FIELDS},
        "inputs": clean(" ".join(inputs)),
    }


def access_row(value: bytes | None) -> dict[str, Any]:
    """An access-log record (see `access_record`) as an `access_log` row."""
    doc = _document(value)
    row: dict[str, Any] = {"access_id": _text(doc, "access_id", ACCESS_LENGTHS)}
    if not row["access_id"]:
        raise UnreadableError("access_id is empty")
    row["time_ms"] = _count(doc, "time_ms")
    for name in ACCESS_TEXT:
        row[name] = _text(doc, name, ACCESS_LENGTHS)
    row["records"] = _count(doc, "records")
    return row


def unreadable_row(record: ConsumedRecord, kind: str, error: str) -> dict[str, Any]:
    value = record.value or b""
    return {
        "topic": record.topic,
        "partition": record.partition,
        "offset": record.offset,
        "time_ms": record.timestamp,
        "kind": kind,
        "error": clean(error)[:2000],
        "key": clean((record.key or b"").decode(errors="backslashreplace"))[:2000],
        "value": clean(value.decode(errors="backslashreplace"))[:MAX_VALUE_CHARS],
    }


def rows_of(records: Iterable[ConsumedRecord], names: TopicNames) -> Rows:
    """The rows of a batch of consumed records, by table (the sink stores them in one transaction)."""
    rows = Rows()
    for record in records:
        topic = record.topic
        kind = "decision"
        try:
            if topic == names.share_audit:
                row = decision_row(record.value)
                rows.decisions.append(row)
                version, when = row["policy_version"], row["time_ms"]
                if when < rows.policy_versions.get(version, BIGINT_MAX):
                    rows.policy_versions[version] = when
            elif topic == names.batch_counts:
                kind = "count"
                rows.batch_counts.append(count_row(record))
            elif (agency := names.access_log_agency(topic)) is not None:
                kind = "access"
                row = access_row(record.value)
                # only that agency may write this topic: a record can only ever land in its own log
                row["organization"] = row["organization"] or agency
                rows.access_log.append(row)
            elif (recipient := names.recipient_of(topic)) is not None:
                rows.deliveries.append(delivery_row(record, recipient))
            else:
                rows.ignored += 1
        except UnreadableError as exc:
            rows.unreadable.append(unreadable_row(record, kind, str(exc)))
    return rows


# -- the access log's record --------------------------------------------------------------------------


def access_record(
    *,
    user: str,
    organization: str,
    purpose: str,
    command: str,
    accessed: str,
    records: int,
    time_ms: int | None = None,
    access_id: str | None = None,
) -> dict[str, Any]:
    """One access to retained ALPR data (Cal. Civ. Code 1798.90.52: time, user, organization, purpose, what
    was accessed and how much), as written to the access-log topic and stored in `access_log`."""
    when = int(dt.datetime.now(dt.UTC).timestamp() * 1000) if time_ms is None else time_ms
    return {
        "access_id": access_id or str(uuid.uuid4()),
        "time_ms": when,
        "time": iso_ms(when),
        "user": user,
        "organization": organization,
        "purpose": purpose,
        "command": command,
        "accessed": accessed,
        "records": records,
    }
