"""The audit store on SQLite and PostgreSQL: migrations, idempotent batched inserts of what the pipeline
writes, tolerant deliveries and kept unreadable records, the access log, prune's retention floor, and on
PostgreSQL the sink's insert-only role."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator

import orjson
import psycopg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, insert, make_url, select, text
from sqlalchemy.exc import DBAPIError

from streams.audit import schema
from streams.audit.records import access_record, rows_of
from streams.audit.store import (
    SINK_ROLE,
    AuditStore,
    current_revision,
    ensure_current,
    head_revision,
    migrate,
    prune_limit,
    record_access,
)
from streams.errors import AccessDeniedError, ConfigurationError
from streams.pipeline.batch import SimulatedRecord
from streams.pipeline.topics import TopicNames
from tests.harness.audit_records import LAPD, SDPD, consumed, pipeline_outputs, with_duplicates

NAMES = TopicNames()
NOW = dt.datetime(2027, 1, 15, 8, 0, tzinfo=dt.UTC)
DAY_MS = 24 * 3600 * 1000


@pytest.fixture
def store(audit_db_url: str) -> Iterator[AuditStore]:
    s = AuditStore.open(audit_db_url)
    migrate(s.engine)
    try:
        yield s
    finally:
        s.close()


def counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            t.name: conn.execute(select(text("count(*)")).select_from(t)).scalar_one()
            for t in schema.metadata.sorted_tables
        }


def test_migrations_create_the_schema_the_code_writes(audit_db_url: str) -> None:
    s = AuditStore.open(audit_db_url)
    try:
        assert current_revision(s.engine) is None
        assert migrate(s.engine) == (None, head_revision())
        assert migrate(s.engine) == (head_revision(), head_revision())  # again: nothing to do
        with s.engine.connect() as conn:
            differences = compare_metadata(MigrationContext.configure(conn), schema.metadata)
        assert differences == [], "schema.py and the migrations differ: add a revision"
        ensure_current(s.engine)
    finally:
        s.close()


def test_an_empty_store_is_migrated_by_the_sink_on_sqlite_and_refused_on_postgresql(audit_db_url: str) -> None:
    s = AuditStore.open(audit_db_url)
    try:
        if s.engine.dialect.name == "sqlite":
            ensure_current(s.engine)
            assert current_revision(s.engine) == head_revision()
        else:
            with pytest.raises(ConfigurationError, match="at schema revision none") as refused:
                ensure_current(s.engine)
            assert "run `platewatch audit migrate` as the store's owner" in refused.value.one_line()
    finally:
        s.close()


def test_the_same_records_twice_store_once(store: AuditStore) -> None:
    """Replays, restarts and duplicates: every fact once, whatever the order and the batching."""
    outputs = pipeline_outputs(1500)
    records = consumed(outputs.all())
    first = store.write(rows_of(records, NAMES))
    assert first.stored == {
        "share_decisions": len(outputs.audits),
        "alert_deliveries": len(outputs.alerts),
        "batch_counts": len(outputs.counts),
        "policy_versions": 1,
    }
    again = store.write(rows_of(records, NAMES))  # the whole stream replayed
    assert again.total_stored == 0 and again.duplicates["share_decisions"] == len(outputs.audits)
    shuffled = list(records)
    random.Random(5).shuffle(shuffled)
    for start in range(0, len(shuffled), 333):  # again, in other batches and another order
        store.write(rows_of(shuffled[start : start + 333], NAMES))
    # the same decisions re-sent by a worker that re-read its batch: other offsets, same audit ids
    resent = consumed(with_duplicates(outputs.audits, 0.3))
    store.write(rows_of(resent, NAMES))
    stored = counts(store.engine)
    assert stored["share_decisions"] == len(outputs.audit_ids)
    assert stored["alert_deliveries"] == len(outputs.alerts)
    assert stored["batch_counts"] == len(outputs.counts)
    assert stored["unreadable_records"] == 0


def test_rows_read_back_as_the_pipeline_wrote_them(store: AuditStore) -> None:
    outputs = pipeline_outputs(300)
    store.write(rows_of(consumed(outputs.all()), NAMES))
    doc = orjson.loads(outputs.audits[0].value)
    with store.engine.connect() as conn:
        row = conn.execute(select(schema.decisions).where(schema.decisions.c.audit_id == doc["audit_id"])).one()
        count = orjson.loads(outputs.counts[0].value)
        stored_count = conn.execute(
            select(schema.batch_counts).where(schema.batch_counts.c.reading_agency == count["reading_agency"])
        ).first()
    for name in ("read_id", "alert_id", "plate", "reading_agency", "recipient", "user", "organization", "decision",
                 "rule", "reason", "purpose", "profile", "policy_version"):  # fmt: skip
        assert getattr(row, name) == doc[name], name
    assert row.data_elements.split(",") == doc["data_elements"]
    when = row.time if row.time.tzinfo else row.time.replace(tzinfo=dt.UTC)  # SQLite keeps no offset
    assert when == dt.datetime.fromisoformat(doc["time"]) and row.time_ms == int(when.timestamp() * 1000)
    assert stored_count is not None
    assert (stored_count.reads, stored_count.hits, stored_count.inputs) == (
        count["reads"], count["hits"], " ".join(count["inputs"]),
    )  # fmt: skip


def test_a_plain_core_insert_and_the_sink_store_the_same_values(store: AuditStore) -> None:
    """The sink runs Core's compiled statement on the DBAPI cursor: what it stores must read back exactly
    as what Core's own insert stores (the types' bind processors applied, defaults filled)."""
    row = rows_of(consumed(pipeline_outputs(30).audits[:1]), NAMES).decisions[0]
    store.insert(schema.decisions, [row])
    with store.engine.begin() as conn:
        conn.execute(insert(schema.decisions), [{**row, "audit_id": "by-core"}])
        conn.execute(insert(schema.decisions), [{k: v for k, v in row.items() if k != "data_elements"} | {
            "audit_id": "by-core-without-elements"}])  # fmt: skip
    store.insert(schema.decisions, [{k: v for k, v in row.items() if k != "data_elements"} | {"audit_id": "mine"}])
    with store.engine.connect() as conn:
        found = {r.audit_id: r._asdict() for r in conn.execute(select(schema.decisions))}
    ours, core = found.pop(row["audit_id"]), found.pop("by-core")
    assert {**ours, "audit_id": ""} == {**core, "audit_id": ""}
    assert found["mine"]["data_elements"] == found["by-core-without-elements"]["data_elements"] == ""


def test_an_alert_no_worker_wrote_is_still_a_delivery_and_a_bad_decision_is_kept(store: AuditStore) -> None:
    forged = [
        SimulatedRecord(b"not json at all", b"k1", NAMES.alerts(SDPD), 0, 7, 1),
        SimulatedRecord(orjson.dumps({"alert_id": "x" * 500, "recipient_ori": LAPD}), None, NAMES.alerts(SDPD), 0, 8,
                        2),
        SimulatedRecord(b'{"audit_id": "a/b/c"}', b"k", NAMES.share_audit, 1, 3, 3),  # fields missing
        SimulatedRecord(b"\x00\xff{", None, NAMES.batch_counts, 0, 4, 4),
        SimulatedRecord(orjson.dumps({**access_record(user="u" * 300, organization="o", purpose="p", command="c",
                                                      accessed="a", records=1)}),
                        None, NAMES.access_log_for(LAPD), 0, 0, 5),
    ]  # fmt: skip
    rows = rows_of(forged, NAMES)
    assert len(rows.deliveries) == 2 and len(rows.unreadable) == 3
    store.write(rows)
    store.write(rows)
    with store.engine.connect() as conn:
        deliveries = conn.execute(select(schema.deliveries).order_by(schema.deliveries.c.offset)).all()
        unreadable = conn.execute(select(schema.unreadable_records).order_by(schema.unreadable_records.c.time_ms)).all()
    assert [(d.recipient, d.recipient_in_alert, d.alert_id) for d in deliveries] == [
        (SDPD, "", "k1"),  # unreadable alert: its topic's agency, its key
        (SDPD, LAPD, "x" * 64),  # what it claims, cut to the column
    ]
    assert [(u.kind, u.topic) for u in unreadable] == [
        ("decision", NAMES.share_audit),
        ("count", NAMES.batch_counts),
        ("access", NAMES.access_log_for(LAPD)),
    ]
    assert "time is missing" in unreadable[0].error and unreadable[0].value == '{"audit_id": "a/b/c"}'
    assert unreadable[1].value.startswith("\\x00\\xff")  # bytes kept, NUL and invalid UTF-8 escaped
    assert "user is 300 characters" in unreadable[2].error


def test_access_records_need_a_user_and_a_purpose_and_are_stored_once(store: AuditStore) -> None:
    access_id = store.record_access(
        user="jdoe", organization=LAPD, purpose="case 26-1234", command="audit report", accessed="2026-11", records=3
    )
    with store.engine.begin() as conn:  # inside the caller's transaction, as `audit report` does
        record_access(conn, user="jdoe", organization=LAPD, purpose="case 26-1234", command="audit report",
                      accessed="2026-12", records=5, access_id=access_id)  # fmt: skip
    doc = access_record(user="ann", organization="", purpose="p", command="c", accessed="a", records=0)
    rows = rows_of([SimulatedRecord(orjson.dumps(doc), None, NAMES.access_log_for(LAPD), 0, 0, 0)] * 2, NAMES)
    store.write(rows)
    with store.engine.connect() as conn:
        stored = conn.execute(select(schema.access_log).order_by(schema.access_log.c.user)).all()
    assert [(r.user, r.accessed, r.records) for r in stored] == [("ann", "a", 0), ("jdoe", "2026-11", 3)]
    for missing in ({"user": " "}, {"purpose": ""}):
        fields = {"user": "jdoe", "organization": "", "purpose": "p", "command": "c", "accessed": "a", "records": 0}
        with pytest.raises(ConfigurationError, match=r"needs (user|purpose)"):
            store.record_access(**{**fields, **missing})


def test_prune_refuses_to_keep_less_than_the_retention(store: AuditStore) -> None:
    old = pipeline_outputs(150, start_ms=int((NOW - dt.timedelta(days=800)).timestamp() * 1000))
    new = pipeline_outputs(150, seed=2, start_ms=int((NOW - dt.timedelta(days=10)).timestamp() * 1000))
    store.write(rows_of(consumed(old.audits), NAMES))
    store.write(rows_of(consumed(new.audits), NAMES))
    for before, retention in ((NOW - dt.timedelta(days=364), 365), (NOW - dt.timedelta(days=500), 730)):
        with pytest.raises(ConfigurationError, match=r"would keep \d+ days of audit records"):
            store.prune(before, retention_days=retention, now=NOW)
    with pytest.raises(ConfigurationError, match="under 365"):
        prune_limit(NOW - dt.timedelta(days=400), retention_days=200, now=NOW)
    before = NOW - dt.timedelta(days=366)
    dry = store.prune(before, retention_days=365, now=NOW, dry_run=True)
    assert dry.removed["share_decisions"] == len(old.audits)
    assert counts(store.engine)["share_decisions"] == len(old.audits) + len(new.audits)
    done = store.prune(before, retention_days=365, now=NOW)
    assert done.removed == dry.removed
    assert counts(store.engine)["share_decisions"] == len(new.audits)


@pytest.mark.postgres
def test_the_sink_role_may_insert_and_select_but_never_update_or_delete(postgres_db_url: str) -> None:
    audit_db_url = postgres_db_url
    owner = AuditStore.open(audit_db_url)
    migrate(owner.engine)
    owner.close()
    url = make_url(audit_db_url)
    login = f"sink_{url.database}"
    admin = url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {login} LOGIN IN ROLE {SINK_ROLE}")
    sink = AuditStore.open(url.set(username=login).render_as_string(hide_password=False))
    try:
        ensure_current(sink.engine)  # it may read the schema revision
        outputs = pipeline_outputs(150)
        assert sink.write(rows_of(consumed(outputs.all()), NAMES)).total_stored > 0
        assert sink.write(rows_of(consumed(outputs.all()), NAMES)).total_stored == 0  # ON CONFLICT: no UPDATE
        sink.record_access(user="u", organization="", purpose="p", command="c", accessed="a", records=0)
        for statement in (
            "UPDATE share_decisions SET decision = 'allow'",
            "DELETE FROM share_decisions",
            "DELETE FROM access_log",
            "TRUNCATE alert_deliveries",
            "DROP TABLE batch_counts",
            "CREATE TABLE mine (x int)",
            "ALTER TABLE share_decisions ADD COLUMN note text",
        ):
            with pytest.raises(DBAPIError, match=r"permission denied|must be owner"), sink.engine.begin() as conn:
                conn.execute(text(statement))
        with pytest.raises(AccessDeniedError, match="permission denied") as denied:
            sink.prune(NOW - dt.timedelta(days=400), retention_days=365, now=NOW)
        assert "run it as the store's owner" in denied.value.one_line()
        assert counts(sink.engine)["share_decisions"] == len(outputs.audit_ids)
    finally:
        sink.close()
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f"DROP OWNED BY {login}")
            conn.execute(f"DROP ROLE {login}")


def test_an_access_record_without_an_organization_gets_the_agency_of_its_topic(store: AuditStore) -> None:
    """Only that agency may write its access-log topic, so a record found there is its own."""
    docs = [
        access_record(user="ann", organization="", purpose="p", command="c", accessed="a", records=1),
        access_record(user="bob", organization="CA-DOJ", purpose="p", command="c", accessed="a", records=1),
    ]
    topic = NAMES.access_log_for(LAPD)
    store.write(rows_of([SimulatedRecord(orjson.dumps(d), None, topic, 0, i, 0) for i, d in enumerate(docs)], NAMES))
    with store.engine.connect() as conn:
        rows = conn.execute(select(schema.access_log).order_by(schema.access_log.c.user)).all()
    assert [(r.user, r.organization) for r in rows] == [("ann", LAPD), ("bob", "CA-DOJ")]
