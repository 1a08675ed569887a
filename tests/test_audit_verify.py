"""audit verify: a clean store reconciles; a forged or denied delivery is named and fails the check.

The store holds what the real pipeline decided and delivered (tests/harness/audit_rows.py). Each test
adds the one row a fault would leave (a delivery no decision knows, a delivery to a recipient whose
decision was deny, a re-sent batch, ...) and checks what verify says about it. SQLite always;
PostgreSQL too (the `postgres_url` fixture: CI starts
it, elsewhere a server is started for the session).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, insert

from streams.audit import schema
from streams.audit.period import parse_period, parse_time
from streams.audit.store import engine_for
from streams.audit.verify import (
    DENIED,
    MANY_ALLOWS,
    NOT_DECIDED,
    RECIPIENT_MISMATCH,
    UNKNOWN_ALERT,
    UNREADABLE,
    VERSION_MISMATCH,
    VerifyResult,
    verify,
)
from streams.cli.main import main
from streams.kafka.topic_setup import topic_specs
from streams.ops.settings import Settings
from streams.pipeline.topics import TopicNames
from streams.policy.store import DEFAULT_POLICY, DEFAULT_REGISTRY, load_policy
from tests.harness.audit_rows import AuditRows, empty_store, load, policy_file, simulate

HOUR = 3_600_000
START = parse_time("2026-11-01")
PERIOD = parse_period("2026-11-01", "2026-11-01")
ICE = "DCICE0000"


@pytest.fixture(scope="module")
def rows(tmp_path_factory: pytest.TempPathFactory) -> AuditRows:
    policy = load(policy_file(tmp_path_factory.mktemp("policy")))
    return simulate([(0, policy)], batches=24, reads_per_batch=120, start_ms=START + HOUR // 2, step_ms=HOUR)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, rows: AuditRows, tmp_path: Path) -> Iterator[Engine]:
    server = request.getfixturevalue("postgres_url") if request.param == "postgresql" else ""
    engine, drop = empty_store(request.param, tmp_path, server)
    rows.insert_into(engine)
    try:
        yield engine
    finally:
        drop()


def check(store: Engine) -> VerifyResult:
    with store.connect() as conn:
        return verify(conn, PERIOD)


def deliver(store: Engine, **row: Any) -> dict[str, Any]:
    """One more row in alert_deliveries (what the sink would store for one record on alerts.<ORI>)."""
    recipient = row.get("recipient", ICE)
    full = {
        "topic": f"alerts.{recipient}", "partition": 0, "offset": 10_000 + uuid.uuid4().int % 10_000,
        "alert_id": str(uuid.uuid4()), "recipient": recipient, "recipient_in_alert": recipient,
        "policy_version": "", "time_ms": START + 3 * HOUR, **row,
    }  # fmt: skip
    with store.begin() as conn:
        conn.execute(insert(schema.deliveries), [full])
    return full


def test_a_clean_store_reconciles(store: Engine, rows: AuditRows) -> None:
    result = check(store)
    assert result.ok and result.mismatches == [] and result.duplicates == []
    assert result.deliveries == len(rows.deliveries) > 100
    assert result.decisions == len(rows.decisions)
    assert result.allowed_not_delivered == 0
    assert rows.deliveries and any(d["decision"] == "deny" for d in rows.decisions)
    assert result.lines()[-1] == "OK: every delivery matches one allow decision"


def test_a_delivery_no_decision_knows_is_named(store: Engine) -> None:
    forged = deliver(store, recipient="CA0373700")
    result = check(store)
    assert not result.ok
    [m] = result.mismatches
    assert (m.topic, m.partition, m.offset, m.alert_id, m.recipient, m.kind) == (
        forged["topic"], 0, forged["offset"], forged["alert_id"], "CA0373700", UNKNOWN_ALERT,
    )  # fmt: skip
    assert result.by_kind()[UNKNOWN_ALERT] == 1
    text = "\n".join(result.lines())
    assert f"MISMATCH alerts.CA0373700/0/{forged['offset']} alert {forged['alert_id']} recipient CA0373700" in text


def test_a_delivery_to_a_denied_recipient_is_named(store: Engine, rows: AuditRows) -> None:
    denied = next(d for d in rows.decisions if d["decision"] == "deny" and d["recipient"] == ICE)
    forged = deliver(store, alert_id=denied["alert_id"], recipient=ICE)
    [m] = check(store).mismatches
    assert (m.offset, m.alert_id, m.recipient, m.kind) == (forged["offset"], denied["alert_id"], ICE, DENIED)
    assert "deny" in m.why


def test_a_delivery_to_a_recipient_never_decided_is_named(store: Engine, rows: AuditRows) -> None:
    decided = {(d["alert_id"], d["recipient"]) for d in rows.decisions}
    alert = next(d["alert_id"] for d in rows.decisions if (d["alert_id"], "MD0160000") not in decided)
    deliver(store, alert_id=alert, recipient="MD0160000")
    [m] = check(store).mismatches
    assert (m.alert_id, m.recipient, m.kind) == (alert, "MD0160000", NOT_DECIDED)


def test_a_delivery_under_another_policy_version_is_named(store: Engine, rows: AuditRows) -> None:
    allowed = next(d for d in rows.decisions if d["decision"] == "allow")
    deliver(store, alert_id=allowed["alert_id"], recipient=allowed["recipient"], policy_version="0123456789abcdef")
    result = check(store)
    [m] = result.mismatches
    assert (m.alert_id, m.kind) == (allowed["alert_id"], VERSION_MISMATCH)
    # the same delivery carrying the version of its allow decision is only a duplicate
    with store.begin() as conn:
        conn.execute(schema.deliveries.delete().where(schema.deliveries.c.alert_id == m.alert_id,
                                                      schema.deliveries.c.offset == m.offset))  # fmt: skip
    deliver(
        store, alert_id=allowed["alert_id"], recipient=allowed["recipient"], policy_version=allowed["policy_version"]
    )
    again = check(store)
    assert again.ok and len(again.duplicates) == 1


def test_an_alert_naming_another_recipient_than_its_topic_is_named(store: Engine, rows: AuditRows) -> None:
    allowed = next(d for d in rows.decisions if d["decision"] == "allow" and d["recipient"] != d["reading_agency"])
    deliver(store, alert_id=allowed["alert_id"], recipient=allowed["recipient"], recipient_in_alert="CA0380100")
    [m] = check(store).mismatches
    assert (m.kind, m.recipient) == (RECIPIENT_MISMATCH, allowed["recipient"]) and "CA0380100" in m.why


def test_two_allow_decisions_for_one_delivery_are_named(store: Engine, rows: AuditRows) -> None:
    allowed = next(d for d in rows.decisions if d["decision"] == "allow")
    second = {**allowed, "audit_id": allowed["audit_id"] + "-again", "policy_version": "fedcba9876543210"}
    with store.begin() as conn:
        conn.execute(insert(schema.decisions), [second])
    result = check(store)
    assert [(m.alert_id, m.kind) for m in result.mismatches] == [(allowed["alert_id"], MANY_ALLOWS)]


def test_a_re_sent_batch_is_a_duplicate_not_a_mismatch(store: Engine, rows: AuditRows) -> None:
    """At least once: the same alert to the same recipient again, at a later offset, is not a fault."""
    resent = rows.deliveries[:3]
    for d in resent:
        deliver(store, **{**d, "offset": d["offset"] + 100_000})
    result = check(store)
    assert result.ok and result.mismatches == []
    assert sorted((d.alert_id, d.recipient, d.copies) for d in result.duplicates) == sorted(
        (d["alert_id"], d["recipient"], 2) for d in resent
    )
    assert result.duplicate_copies() == 3
    assert "duplicate deliveries: 3 extra copies of 3 alerts" in "\n".join(result.lines())


def test_only_deliveries_in_the_period_are_checked(store: Engine, rows: AuditRows) -> None:
    deliver(store, time_ms=START - 1)  # the evening before: outside the period
    deliver(store, time_ms=PERIOD.end_ms)  # the end is excluded
    result = check(store)
    assert result.ok and result.deliveries == len(rows.deliveries)


def test_an_unreadable_record_is_named(store: Engine) -> None:
    with store.begin() as conn:
        conn.execute(
            insert(schema.unreadable_records),
            [{"topic": "share-audit", "partition": 1, "offset": 77, "time_ms": START + HOUR, "kind": "decision",
              "error": "not JSON", "key": "", "value": "{oops"}],
        )  # fmt: skip
    [m] = check(store).mismatches
    assert (m.topic, m.partition, m.offset, m.kind) == ("share-audit", 1, 77, UNREADABLE) and "not JSON" in m.why


# -- the command: exit 0 when clean (duplicates too), 1 on any mismatch, each named ----------------


@pytest.fixture
def store_url(rows: AuditRows, tmp_path: Path) -> Iterator[str]:
    engine, drop = empty_store("sqlite", tmp_path)
    rows.insert_into(engine)
    yield engine.url.render_as_string(hide_password=False)
    drop()


def verify_cli(url: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(["audit", "verify", "--from", "2026-11-01", "--to", "2026-11-01", "--audit-db-url", url])
    return code, capsys.readouterr().out


def test_verify_command_exits_0_on_a_clean_store_and_with_duplicates_alone(
    store_url: str, rows: AuditRows, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = verify_cli(store_url, capsys)
    assert code == 0 and f"deliveries checked: {len(rows.deliveries)}" in out and "mismatches: 0" in out
    engine = engine_for(store_url)
    deliver(engine, **{**rows.deliveries[0], "offset": rows.deliveries[0]["offset"] + 100_000})
    engine.dispose()
    code, out = verify_cli(store_url, capsys)
    assert code == 0 and "duplicate deliveries: 1 extra copies of 1 alerts" in out and "mismatches: 0" in out


def test_verify_command_exits_1_and_names_a_forged_and_a_denied_delivery(
    store_url: str, rows: AuditRows, capsys: pytest.CaptureFixture[str]
) -> None:
    engine = engine_for(store_url)
    forged = deliver(engine, recipient="CA0194200")
    denied = next(d for d in rows.decisions if d["decision"] == "deny" and d["recipient"] == ICE)
    to_ice = deliver(engine, alert_id=denied["alert_id"], recipient=ICE)
    engine.dispose()
    code, out = verify_cli(store_url, capsys)
    assert code == 1
    assert f"MISMATCH alerts.CA0194200/0/{forged['offset']} alert {forged['alert_id']} recipient CA0194200: " \
           f"{UNKNOWN_ALERT}" in out  # fmt: skip
    assert f"MISMATCH alerts.{ICE}/0/{to_ice['offset']} alert {denied['alert_id']} recipient {ICE}: {DENIED}" in out
    assert "mismatches: 2" in out and f"  {UNKNOWN_ALERT}: 1" in out and f"  {DENIED}: 1" in out
    assert out.rstrip().endswith("FAILED: see the mismatches above")


def test_alert_topics_are_stamped_by_the_broker() -> None:
    """verify selects deliveries by the alert record's time: the broker must set it, not the producer."""
    names = TopicNames()
    specs = topic_specs(Settings(), names, load_policy(DEFAULT_POLICY, DEFAULT_REGISTRY))
    alerts = [s for s in specs if s.name.startswith(names.alerts_prefix)]
    assert alerts and all(s.config["message.timestamp.type"] == "LogAppendTime" for s in alerts)
