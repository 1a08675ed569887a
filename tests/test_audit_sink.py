"""The audit sink on the broker, into SQLite and PostgreSQL: killed with SIGKILL in the middle of a stream
and restarted, it stores every distinct decision once; `tail-alerts --from-beginning` needs a user and a
purpose, and its access record reaches `access_log`."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import jsonschema
import orjson
import psycopg
import pytest
from sqlalchemy import make_url, select

from streams.audit import schema
from streams.audit.store import SINK_ROLE, AuditStore, migrate
from streams.kafka.clients import KafkaClients
from streams.kafka.topic_setup import TopicSpec, create_topics
from streams.ops.settings import Settings
from streams.pipeline.topics import TopicNames
from tests.harness.audit_records import LAPD, Outputs, pipeline_outputs, with_duplicates
from tests.harness.sink_process import SinkProcess
from tests.harness.worker_process import WorkerProcess, produce, read_topic
from tests.test_worker_end_to_end import SDPD, read, setup_topics

pytestmark = [pytest.mark.kafka, pytest.mark.slow]
ROOT = Path(__file__).resolve().parent.parent


async def create_audited_topics(bootstrap: str, names: TopicNames, outputs: Outputs | None = None) -> None:
    settings = Settings(bootstrap_servers=bootstrap)
    recipients = {o.topic for o in outputs.alerts} if outputs else set()
    specs = [
        TopicSpec(names.share_audit, 3, {}),
        TopicSpec(names.batch_counts, 3, {}),
        TopicSpec(names.access_log_for("CA0194200"), 1, {}),
        *(TopicSpec(t, 1, {}) for t in sorted(recipients | {names.alerts(LAPD)})),
    ]
    await create_topics(KafkaClients(settings), settings, specs)


def sink_url(owner_url: str) -> str:
    """The store as the sink reaches it: migrated by the owner; on PostgreSQL, as a login member of the
    insert-only role (what the README tells operators to do)."""
    store = AuditStore.open(owner_url)
    migrate(store.engine)
    store.close()
    if not owner_url.startswith("postgresql"):
        return owner_url
    url = make_url(owner_url)
    login = f"sink_{url.database}"
    with psycopg.connect(url.set(drivername="postgresql").render_as_string(hide_password=False), autocommit=True) as c:
        c.execute(f"CREATE ROLE {login} LOGIN IN ROLE {SINK_ROLE}")
    return url.set(username=login).render_as_string(hide_password=False)


def drop_login(owner_url: str) -> None:
    if owner_url.startswith("postgresql"):
        url = make_url(owner_url)
        with psycopg.connect(url.set(drivername="postgresql").render_as_string(hide_password=False),
                             autocommit=True) as c:  # fmt: skip
            c.execute(f"DROP OWNED BY sink_{url.database}")
            c.execute(f"DROP ROLE sink_{url.database}")


def stop_all(sinks: list[WorkerProcess]) -> None:
    """Whatever happened, no sink outlives its test."""
    for sink in sinks:
        if sink.proc is not None and sink.proc.poll() is None:
            sink.kill()


def stored(store: AuditStore) -> dict[str, int]:
    return {t.name: store.count(t) for t in (schema.decisions, schema.deliveries, schema.batch_counts,
                                             schema.access_log, schema.unreadable_records)}  # fmt: skip


async def until(check: Callable[[], bool], timeout: float, what: str, sink: WorkerProcess) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert sink.proc is not None and sink.proc.poll() is None, f"the sink exited:\n{sink.log()}"
        assert time.monotonic() < deadline, f"{what} within {timeout}s:\n{sink.log()}"
        await asyncio.sleep(0.02)


async def settled(store: AuditStore, sink: WorkerProcess, timeout: float = 120) -> dict[str, int]:
    """The store's row counts once the sink has consumed and committed everything and they stopped moving."""
    deadline = time.monotonic() + timeout
    last: dict[str, int] = {}
    quiet = 0
    while quiet < 4:
        assert sink.proc is not None and sink.proc.poll() is None, f"the sink exited:\n{sink.log()}"
        assert time.monotonic() < deadline, f"the sink did not settle within {timeout}s:\n{sink.log()}"
        await asyncio.sleep(0.5)
        now = stored(store)
        caught_up = sink.metric("platewatch_audit_sink_records_consumed_total") > 0 and not sink.metric(
            "platewatch_audit_sink_consumer_lag_messages"
        )
        quiet = quiet + 1 if now == last and caught_up else 0
        last = now
    return last


async def test_a_sink_killed_mid_stream_and_restarted_stores_every_distinct_decision_once(
    kafka_bootstrap: str, unique: str, audit_db_url: str, tmp_path: Path
) -> None:
    prefix = f"sink-{unique}."
    names = TopicNames.with_prefix(prefix)
    outputs = pipeline_outputs(3000, names=names)  # ~5,000 decisions, their alerts and counts
    audits = with_duplicates(outputs.audits, 0.2)  # and a fifth of them again, as a re-reading worker sends
    distinct = outputs.audit_ids
    assert len(distinct) >= 4500 and len(audits) > len(distinct)
    await create_audited_topics(kafka_bootstrap, names, outputs)
    by_topic: dict[str, list[tuple[bytes | None, bytes]]] = {}
    for o in [*audits, *outputs.alerts, *outputs.counts]:
        by_topic.setdefault(o.topic, []).append((o.key, o.value))
    for topic, messages in by_topic.items():
        await produce(kafka_bootstrap, topic, messages)

    url = sink_url(audit_db_url)
    store = AuditStore.open(audit_db_url)  # the test reads as the owner
    small_batches = ("--audit-batch-rows", "150")  # many transactions: the kills land between them
    sinks: list[WorkerProcess] = []
    try:
        at_kill = []
        for n, share in enumerate((0.2, 0.55)):
            sink = SinkProcess(kafka_bootstrap, prefix, url, tmp_path / f"sink-{n}.log", *small_batches).start()
            sinks.append(sink)
            await sink.wait_ready()
            await until(lambda share=share: store.count(schema.decisions) >= share * len(distinct), 120,  # type: ignore[misc]
                        f"{share:.0%} of the decisions stored", sink)  # fmt: skip
            sink.kill()  # SIGKILL: no clean shutdown, no last commit
            at_kill.append(store.count(schema.decisions))
        assert any(0 < k < len(distinct) for k in at_kill), f"no kill landed mid-stream: {at_kill}"

        sink = SinkProcess(kafka_bootstrap, prefix, url, tmp_path / "sink-final.log").start()
        sinks.append(sink)
        await sink.wait_ready()
        want = {"share_decisions": len(distinct), "alert_deliveries": len(outputs.alerts),
                "batch_counts": len(outputs.counts)}  # fmt: skip
        counted = await settled(store, sink)
        missing = {k: want[k] - counted[k] for k in want if counted[k] != want[k]}
        assert not missing, f"rows missing (negative: extra) once everything was consumed: {missing}"
        assert counted["unreadable_records"] == 0
        with store.engine.connect() as conn:
            ids = set(conn.execute(select(schema.decisions.c.audit_id)).scalars())
        assert ids == distinct  # every distinct decision, no other
        # what the restarted sink re-read was counted as duplicates, not stored again
        assert sink.metric("platewatch_audit_sink_rows_duplicate_total", table="share_decisions") > 0
        assert sink.terminate() == 0
        assert "Traceback" not in sink.log()
    finally:
        stop_all(sinks)
        store.close()
        drop_login(audit_db_url)


def platewatch(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "streams", *args],
        capture_output=True, text=True, timeout=120, check=False, env={**os.environ, **(env or {})}, cwd=ROOT,
    )  # fmt: skip


async def test_tail_alerts_from_the_beginning_needs_who_and_why_and_its_access_is_stored(
    kafka_bootstrap: str, unique: str, audit_db_url: str, tmp_path: Path
) -> None:
    prefix = f"access-{unique}."
    names = TopicNames.with_prefix(prefix)
    await create_audited_topics(kafka_bootstrap, names)
    alerts = [orjson.loads(o.value) for o in pipeline_outputs(60, names=names).alerts if o.topic == names.alerts(LAPD)]
    assert len(alerts) >= 2
    shown = alerts[:2]
    redelivered = [*shown, shown[0]]
    await produce(kafka_bootstrap, names.alerts(LAPD), [(a["alert_id"].encode(), orjson.dumps(a)) for a in redelivered])
    common = ["tail-alerts", "--recipient", LAPD, "--from-beginning", "--seconds", "3",
              "--bootstrap-servers", kafka_bootstrap, "--topic-prefix", prefix]  # fmt: skip
    env = {k: "" for k in ("PLATEWATCH_ACCESS_USER", "PLATEWATCH_ACCESS_PURPOSE", "PLATEWATCH_ACCESS_ORGANIZATION")}

    refused = platewatch(*common, env=env)
    assert refused.returncode == 2, refused.stderr
    assert "give --user and --purpose" in refused.stderr and refused.stdout == ""
    refused = platewatch(*common, "--user", "jdoe", env=env)
    assert refused.returncode == 2 and "give --purpose" in refused.stderr

    done = platewatch(*common, "--user", "jdoe", "--purpose", "case 26-001234", env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("alert ") == 2  # the redelivery shown once
    by_env = platewatch(*common, "--purpose", "audit of LAPD", "--organization", "CA-DOJ",
                        env={**env, "PLATEWATCH_ACCESS_USER": "auditor-7"})  # fmt: skip
    assert by_env.returncode == 0, by_env.stderr

    sink = SinkProcess(kafka_bootstrap, prefix, sink_url(audit_db_url), tmp_path / "sink.log").start()
    store = AuditStore.open(audit_db_url)
    try:
        await sink.wait_ready()
        await until(lambda: store.count(schema.access_log) >= 2 and store.count(schema.deliveries) >= 3, 60,
                    "the access records stored", sink)  # fmt: skip
        with store.engine.connect() as conn:
            rows = conn.execute(select(schema.access_log).order_by(schema.access_log.c.user)).all()
        assert [(r.user, r.organization, r.purpose, r.command, r.records) for r in rows] == [
            ("auditor-7", "CA-DOJ", "audit of LAPD", "tail-alerts --from-beginning", 2),
            ("jdoe", LAPD, "case 26-001234", "tail-alerts --from-beginning", 2),
        ]
        assert all(r.accessed.startswith(f"{names.alerts(LAPD)} from the beginning") for r in rows)
        assert sink.terminate() == 0
    finally:
        stop_all([sink])
        store.close()
        drop_login(audit_db_url)


async def test_a_worker_counts_reads_hits_and_dead_letters_per_agency_and_the_sink_stores_them(
    kafka_bootstrap: str, unique: str, tmp_path: Path
) -> None:
    prefix = f"counts-{unique}."
    names = await setup_topics(kafka_bootstrap, prefix)
    worker = WorkerProcess(kafka_bootstrap, prefix, tmp_path / "worker.log").start()
    try:
        await worker.wait_ready()
        await produce(
            kafka_bootstrap,
            names.reads_for(LAPD),
            [(b"cam", read("l-hit", "7SDQ551")), (b"cam", read("l-miss", "1ABC234")), (b"cam", b"{bad")],
        )
        await produce(
            kafka_bootstrap,
            names.reads_for(SDPD),
            [(b"cam", read("s-hit", "5GZB821", agency=SDPD)), (b"cam", read("s-miss", "2XYZ987", agency=SDPD))],
        )
        deadline = time.monotonic() + 60
        while True:
            records = await read_topic(kafka_bootstrap, names.batch_counts, settle=0.3)
            docs = [orjson.loads(r.value) for r in records]
            if sum(d["reads"] for d in docs) >= 5 or time.monotonic() > deadline:
                break
    finally:
        assert worker.terminate() == 0
    count_schema = json.loads((ROOT / "schemas" / "batch-counts.schema.json").read_text())
    totals: dict[str, list[int]] = {}
    for record, doc in zip(records, docs, strict=True):
        jsonschema.validate(doc, count_schema)
        assert record.key == doc["reading_agency"].encode()
        total = totals.setdefault(doc["reading_agency"], [0, 0, 0])
        for i, name in enumerate(("reads", "hits", "dead_letters")):
            total[i] += doc[name]
    assert totals == {LAPD: [3, 1, 1], SDPD: [2, 1, 0]}

    url = f"sqlite:///{tmp_path / 'audit.db'}"
    sink = SinkProcess(kafka_bootstrap, prefix, url, tmp_path / "sink.log").start()
    store = AuditStore.open(url)
    try:
        await sink.wait_ready()
        await until(lambda: store.count(schema.batch_counts) == len(records), 60, "the counts stored", sink)
        with store.engine.connect() as conn:
            rows = conn.execute(select(schema.batch_counts)).all()
        stored = {a: [sum(getattr(r, n) for r in rows if r.reading_agency == a) for n in ("reads", "hits",
                  "dead_letters")] for a in totals}  # fmt: skip
        assert stored == totals
        assert store.count(schema.decisions) > 0  # the hits' decisions came along
        assert sink.terminate() == 0
    finally:
        stop_all([sink])
        store.close()
