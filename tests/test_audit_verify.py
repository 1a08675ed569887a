"""audit verify: a clean store reconciles; a forged or denied delivery is named and fails the check.

The store holds what the real pipeline decided and delivered (tests/harness/audit_rows.py). Each test
adds the one row a fault would leave (a delivery no decision knows, a delivery to a recipient whose
decision was deny, a re-sent batch, ...) and checks what verify says about it. SQLite always;
PostgreSQL too when PLATEWATCH_TEST_POSTGRES_URL names one.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, insert

from streams.audit import schema
from streams.audit.report import parse_period, parse_time
from streams.audit.verify import (
    DENIED,
    MANY_ALLOWS,
    NOT_DECIDED,
    RECIPIENT_MISMATCH,
    UNKNOWN_ALERT,
    VERSION_MISMATCH,
    VerifyResult,
    verify,
)
from tests.harness.audit_rows import AuditRows, empty_store, load, policy_file, postgres_url, simulate

HOUR = 3_600_000
START = parse_time("2026-11-01")
PERIOD = parse_period("2026-11-01", "2026-11-01")
ICE = "DCICE0000"


@pytest.fixture(scope="module")
def rows(tmp_path_factory: pytest.TempPathFactory) -> AuditRows:
    policy = load(policy_file(tmp_path_factory.mktemp("policy")))
    return simulate([(0, policy)], batches=24, reads_per_batch=120, start_ms=START + HOUR // 2, step_ms=HOUR)


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, rows: AuditRows, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "postgresql" and not postgres_url():
        pytest.skip("no PostgreSQL: set PLATEWATCH_TEST_POSTGRES_URL")
    engine, drop = empty_store(request.param, tmp_path)
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
