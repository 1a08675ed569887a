"""The sink's store step without a broker: a failing store is retried with the batch held (not ready
meanwhile), a refused grant stops the sink, a stop while failing commits nothing."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError, ProgrammingError

from streams.audit.records import rows_of
from streams.audit.store import migrate
from streams.errors import AccessDeniedError
from streams.kafka import audit_sink
from streams.kafka.audit_sink import AuditSink, audited_pattern
from streams.ops.settings import Settings
from streams.pipeline.topics import TopicNames
from tests.harness.audit_records import consumed, pipeline_outputs


class RefusalError(Exception):
    sqlstate = "42501"


def sink(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AuditSink:
    monkeypatch.setattr(audit_sink, "MAX_BACKOFF_S", 0.05)
    s = AuditSink(Settings(audit_db_url=f"sqlite:///{tmp_path / 'audit.db'}"))
    migrate(s.store.engine)
    s.consuming = True
    return s


def failing(times: int, error: Exception, real: Any) -> Any:
    calls = {"n": 0}

    def write(rows: Any) -> Any:
        calls["n"] += 1
        if calls["n"] <= times:
            raise error
        return real(rows)

    return write


async def test_a_failing_store_is_retried_and_the_sink_is_not_ready_meanwhile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = sink(tmp_path, monkeypatch)
    rows = rows_of(consumed(pipeline_outputs(60).all()), TopicNames())
    down = OperationalError("INSERT", {}, Exception("database is locked"))
    monkeypatch.setattr(s.store, "write", failing(3, down, s.store.write))
    seen: list[str | None] = []

    async def watch() -> None:
        while True:
            seen.append(s.not_ready_because)
            await asyncio.sleep(0.005)

    watcher = asyncio.create_task(watch())
    written = await s._store(rows, asyncio.Event())
    watcher.cancel()
    assert written is not None and written.stored["share_decisions"] == len(rows.decisions)
    assert s.metrics.store_failures._value.get() == 3
    assert any(reason and "database is locked" in reason for reason in seen)
    assert s.not_ready_because is None and s.metrics.ready._value.get() == 1
    s.store.close()


async def test_a_stop_while_the_store_fails_stores_and_commits_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = sink(tmp_path, monkeypatch)
    rows = rows_of(consumed(pipeline_outputs(30).audits), TopicNames())
    monkeypatch.setattr(s.store, "write", failing(10**6, OperationalError("x", {}, Exception("down")), s.store.write))
    stop = asyncio.Event()
    asyncio.get_running_loop().call_later(0.2, stop.set)
    assert await s._store(rows, stop) is None
    s.store.close()


async def test_a_refused_grant_stops_the_sink(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    s = sink(tmp_path, monkeypatch)
    rows = rows_of(consumed(pipeline_outputs(30).audits), TopicNames())
    refused = ProgrammingError("INSERT", {}, RefusalError("permission denied for table share_decisions"))
    monkeypatch.setattr(s.store, "write", failing(1, refused, s.store.write))
    with pytest.raises(AccessDeniedError, match="permission denied"):
        await s._store(rows, asyncio.Event())
    s.store.close()


def test_the_subscription_is_the_audited_topics_only() -> None:
    names = TopicNames.with_prefix("site.")
    pattern = re.compile(audited_pattern(names))
    for topic in (names.share_audit, names.batch_counts, names.access_log_for("CA0194200"), names.alerts("CA0194200")):
        assert pattern.match(topic), topic
    for topic in ("share-audit", names.dlq, names.reads_for("CA0194200"), names.hotlist_updates,
                  names.alerts("CA0194200") + "x", "site.alerts.ca0194200"):  # fmt: skip
        assert not pattern.match(topic), topic
