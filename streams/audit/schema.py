"""The audit store's tables (SQLAlchemy Core): what was decided, what was delivered, who looked.

One schema for SQLite (the zero-set-up default) and PostgreSQL (production); Alembic migrations in
`streams/audit/migrations` create and evolve it. Rows are only ever inserted: keys make a replayed
or duplicated stream store each fact once (`INSERT ... ON CONFLICT DO NOTHING`), and the sink's
database role may insert and select but not update or delete. Times are UTC, stored as
timezone-aware timestamps (`time_ms` beside them keeps exact integers for range scans).
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, DateTime, Index, Integer, MetaData, String, Table, Text

metadata = MetaData()

# one row per share decision, from the share-audit topic (schemas/share-audit.schema.json)
decisions = Table(
    "share_decisions",
    metadata,
    Column("audit_id", String(200), primary_key=True),  # alert_id/recipient/policy_version
    Column("time", DateTime(timezone=True), nullable=False),
    Column("time_ms", BigInteger, nullable=False),
    Column("read_id", String(128), nullable=False),
    Column("alert_id", String(64), nullable=False),
    Column("plate", String(10), nullable=False),
    Column("reading_agency", String(9), nullable=False),
    Column("recipient", String(9), nullable=False),
    Column("user", String(128), nullable=False),
    Column("organization", String(128), nullable=False),
    Column("decision", String(5), nullable=False),  # allow | deny
    Column("rule", String(128), nullable=False),
    Column("reason", Text, nullable=False),
    Column("purpose", String(64), nullable=False),
    Column("profile", String(64), nullable=False),
    Column("policy_version", String(64), nullable=False),
    Index("ix_decisions_time", "time_ms"),
    Index("ix_decisions_recipient_time", "recipient", "time_ms"),
    Index("ix_decisions_reader_time", "reading_agency", "time_ms"),
    Index("ix_decisions_alert", "alert_id", "recipient"),
)

# one row per alert record actually delivered on an alerts.<ORI> topic (read_committed)
deliveries = Table(
    "alert_deliveries",
    metadata,
    Column("topic", String(249), primary_key=True),
    Column("partition", Integer, primary_key=True),
    Column("offset", BigInteger, primary_key=True),
    Column("alert_id", String(64), nullable=False),
    Column("recipient", String(9), nullable=False),  # the topic's agency
    Column("recipient_in_alert", String(9), nullable=False),  # what the alert says ("" if unreadable)
    Column("policy_version", String(64), nullable=False),  # from the alert document ("" if absent)
    Column("time_ms", BigInteger, nullable=False),  # broker append time of the record
    Index("ix_deliveries_time", "time_ms"),
    Index("ix_deliveries_alert", "alert_id", "recipient"),
)

# one row per access to retained ALPR data through Platewatch (Civ. Code 1798.90.52)
access_log = Table(
    "access_log",
    metadata,
    Column("access_id", String(64), primary_key=True),
    Column("time_ms", BigInteger, nullable=False),
    Column("user", String(128), nullable=False),
    Column("organization", String(128), nullable=False),
    Column("purpose", Text, nullable=False),
    Column("command", String(64), nullable=False),  # e.g. "tail-alerts --from-beginning", "audit report"
    Column("accessed", Text, nullable=False),  # what: topics, period, agency filter
    Column("records", BigInteger, nullable=False),
    Index("ix_access_time", "time_ms"),
)

# one row per policy version seen in force (from decisions and worker start-ups), for the report
policy_versions = Table(
    "policy_versions",
    metadata,
    Column("policy_version", String(64), primary_key=True),
    Column("first_seen_ms", BigInteger, nullable=False),
)

# counters the worker cannot put in decisions: reads processed, hits and dead letters per interval,
# from the share-audit topic's companion records (see streams/audit/README in the sink docstring)
batch_counts = Table(
    "batch_counts",
    metadata,
    Column("source", String(200), primary_key=True),  # topic/partition/offset of the counting record
    Column("time_ms", BigInteger, nullable=False),
    Column("reading_agency", String(9), nullable=False),
    Column("reads", BigInteger, nullable=False),
    Column("hits", BigInteger, nullable=False),
    Column("dead_letters", BigInteger, nullable=False),
    Index("ix_counts_time", "time_ms"),
)
