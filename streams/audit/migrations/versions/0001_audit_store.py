"""The audit store: share decisions, deliveries, counts, the access log, policy versions, unreadable records;
on PostgreSQL, the insert-only role of the audit sink.

Revision ID: 0001
Revises:
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

SINK_ROLE = "platewatch_audit_sink"  # streams.audit.store.SINK_ROLE
TABLES = (
    "share_decisions", "alert_deliveries", "access_log", "policy_versions", "batch_counts", "unreadable_records",
)  # fmt: skip


def upgrade() -> None:
    op.create_table(
        "share_decisions",
        sa.Column("audit_id", sa.String(200), primary_key=True),
        sa.Column("time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("time_ms", sa.BigInteger, nullable=False),
        sa.Column("read_id", sa.String(128), nullable=False),
        sa.Column("alert_id", sa.String(64), nullable=False),
        sa.Column("plate", sa.String(10), nullable=False),
        sa.Column("reading_agency", sa.String(9), nullable=False),
        sa.Column("recipient", sa.String(9), nullable=False),
        sa.Column("user", sa.String(128), nullable=False),
        sa.Column("organization", sa.String(128), nullable=False),
        sa.Column("decision", sa.String(5), nullable=False),
        sa.Column("rule", sa.String(128), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("purpose", sa.String(64), nullable=False),
        sa.Column("profile", sa.String(64), nullable=False),
        sa.Column("policy_version", sa.String(64), nullable=False),
        sa.Column("data_elements", sa.Text, nullable=False, server_default=""),
    )
    op.create_index("ix_decisions_time", "share_decisions", ["time_ms"])
    op.create_index("ix_decisions_recipient_time", "share_decisions", ["recipient", "time_ms"])
    op.create_index("ix_decisions_reader_time", "share_decisions", ["reading_agency", "time_ms"])
    op.create_index("ix_decisions_alert", "share_decisions", ["alert_id", "recipient"])

    op.create_table(
        "alert_deliveries",
        sa.Column("topic", sa.String(249), primary_key=True),
        sa.Column("partition", sa.Integer, primary_key=True),
        sa.Column("offset", sa.BigInteger, primary_key=True),
        sa.Column("alert_id", sa.String(64), nullable=False),
        sa.Column("recipient", sa.String(9), nullable=False),
        sa.Column("recipient_in_alert", sa.String(9), nullable=False),
        sa.Column("policy_version", sa.String(64), nullable=False),
        sa.Column("time_ms", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_deliveries_time", "alert_deliveries", ["time_ms"])
    op.create_index("ix_deliveries_alert", "alert_deliveries", ["alert_id", "recipient"])

    op.create_table(
        "access_log",
        sa.Column("access_id", sa.String(64), primary_key=True),
        sa.Column("time_ms", sa.BigInteger, nullable=False),
        sa.Column("user", sa.String(128), nullable=False),
        sa.Column("organization", sa.String(128), nullable=False),
        sa.Column("purpose", sa.Text, nullable=False),
        sa.Column("command", sa.String(64), nullable=False),
        sa.Column("accessed", sa.Text, nullable=False),
        sa.Column("records", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_access_time", "access_log", ["time_ms"])

    op.create_table(
        "policy_versions",
        sa.Column("policy_version", sa.String(64), primary_key=True),
        sa.Column("first_seen_ms", sa.BigInteger, nullable=False),
    )

    op.create_table(
        "batch_counts",
        sa.Column("source", sa.String(200), primary_key=True),
        sa.Column("time_ms", sa.BigInteger, nullable=False),
        sa.Column("reading_agency", sa.String(9), nullable=False),
        sa.Column("reads", sa.BigInteger, nullable=False),
        sa.Column("hits", sa.BigInteger, nullable=False),
        sa.Column("dead_letters", sa.BigInteger, nullable=False),
        sa.Column("inputs", sa.Text, nullable=False, server_default=""),
    )
    op.create_index("ix_counts_time", "batch_counts", ["time_ms"])

    op.create_table(
        "unreadable_records",
        sa.Column("topic", sa.String(249), primary_key=True),
        sa.Column("partition", sa.Integer, primary_key=True),
        sa.Column("offset", sa.BigInteger, primary_key=True),
        sa.Column("time_ms", sa.BigInteger, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("error", sa.Text, nullable=False),
        sa.Column("key", sa.Text, nullable=False),
        sa.Column("value", sa.Text, nullable=False),
    )
    op.create_index("ix_unreadable_time", "unreadable_records", ["time_ms"])

    if op.get_bind().dialect.name == "postgresql":
        grant_insert_only(TABLES)


def grant_insert_only(tables: tuple[str, ...]) -> None:
    """The sink's role (created once per cluster, NOLOGIN) may read and insert, never update or delete:
    a login role that is a member of it (GRANT platewatch_audit_sink TO sink_user) can add facts only."""
    op.execute(
        f"""
        DO $$
        BEGIN
            IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = '{SINK_ROLE}') THEN
                CREATE ROLE {SINK_ROLE} NOLOGIN;
            END IF;
        END
        $$
        """
    )
    op.execute(f"GRANT USAGE ON SCHEMA {_schema()} TO {SINK_ROLE}")
    names = ", ".join(tables)
    op.execute(f"REVOKE ALL ON {names} FROM {SINK_ROLE}")
    op.execute(f"GRANT SELECT, INSERT ON {names} TO {SINK_ROLE}")
    op.execute(f"GRANT SELECT ON alembic_version TO {SINK_ROLE}")  # the sink checks the schema is current


def _schema() -> str:
    name = op.get_bind().exec_driver_sql("SELECT current_schema()").scalar()
    return f'"{name}"'


def downgrade() -> None:
    for table in reversed(TABLES):
        op.drop_table(table)
