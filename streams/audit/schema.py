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
    # the record's data_elements (1798.90.52: the data used), comma-separated; "" in rows from before
    Column("data_elements", Text, nullable=False, default="", server_default=""),
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

# counters the worker cannot put in decisions: reads processed, hits and dead letters per reading agency
# and batch, from the batch-counts topic (streams/pipeline/counts.py)
batch_counts = Table(
    "batch_counts",
    metadata,
    Column("source", String(200), primary_key=True),  # topic/partition/offset of the counting record
    Column("time_ms", BigInteger, nullable=False),
    Column("reading_agency", String(9), nullable=False),
    Column("reads", BigInteger, nullable=False),
    Column("hits", BigInteger, nullable=False),
    Column("dead_letters", BigInteger, nullable=False),
    # input offsets counted, "topic/partition/first-last" space-separated: a batch re-read after a worker
    # crash is counted again (counts are at least once), and its overlapping range shows it
    Column("inputs", Text, nullable=False, default="", server_default=""),
    Index("ix_counts_time", "time_ms"),
)

# a record on an audited topic that could not be stored as what it claims to be (not JSON, a field
# missing or too long): kept whole, so the evidence is not lost and `audit verify` can flag it
unreadable_records = Table(
    "unreadable_records",
    metadata,
    Column("topic", String(249), primary_key=True),
    Column("partition", Integer, primary_key=True),
    Column("offset", BigInteger, primary_key=True),
    Column("time_ms", BigInteger, nullable=False),  # broker time of the record
    Column("kind", String(32), nullable=False),  # what it should have been: decision, count, access
    Column("error", Text, nullable=False),
    Column("key", Text, nullable=False),
    Column("value", Text, nullable=False),  # the bytes as UTF-8, undecodable bytes and NUL as \\xNN
    Index("ix_unreadable_time", "time_ms"),
)
