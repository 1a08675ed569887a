"""The compliance evidence end to end on the broker: a real worker and a real audit sink, then the
report reproduces the worker's own counters and `audit verify` catches an alert that the worker did not
send (one written straight to an agency's topic)."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.harness.sink_process import SinkProcess
from tests.harness.worker_process import WorkerProcess, produce
from tests.test_worker_end_to_end import FAIRFAX, LAPD, SDPD, read, setup_topics

pytestmark = [pytest.mark.kafka, pytest.mark.slow]
ROOT = Path(__file__).resolve().parent.parent


async def wait_for(predicate: Callable[[], bool], timeout: float = 60) -> None:
    for _ in range(int(timeout / 0.25)):
        if predicate():
            return
        await asyncio.sleep(0.25)
    raise AssertionError("condition not met in time")


def platewatch(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "streams", *args],
        cwd=ROOT, env=os.environ.copy(), capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def by_label(worker: WorkerProcess, name: str, label: str) -> dict[str, int]:
    _, body = worker.get("/metrics")
    out: dict[str, int] = {}
    for family in text_string_to_metric_families(body.decode()):
        for s in family.samples:
            if s.name == name and s.value:
                out[s.labels[label]] = int(s.value)
    return out


async def test_the_report_reproduces_the_workers_counters_and_verify_catches_a_forged_alert(
    kafka_bootstrap: str, unique: str, tmp_path: Path
) -> None:
    prefix = f"evid-{unique}."
    names = await setup_topics(kafka_bootstrap, prefix)
    db = f"sqlite:///{tmp_path / 'audit.db'}"
    assert platewatch("audit", "migrate", "--audit-db-url", db).returncode == 0
    worker = WorkerProcess(kafka_bootstrap, prefix, tmp_path / "worker.log").start()
    sink = SinkProcess(kafka_bootstrap, prefix, db, tmp_path / "sink.log").start()
    try:
        await worker.wait_ready()
        await sink.wait_ready()
        lapd = [(b"c", read(f"l-{i}", "7SDQ551" if i % 3 else "5GZB821")) for i in range(30)]
        lapd += [(b"c", read(f"m-{i}", f"1ZZ{i:04d}")) for i in range(20)]  # misses
        fairfax = [(b"c", read(f"v-{i}", "5GZB821", agency=FAIRFAX, state="VA")) for i in range(10)]
        await produce(kafka_bootstrap, names.reads_for(LAPD), lapd)
        await produce(kafka_bootstrap, names.reads_for(FAIRFAX), fairfax)
        await wait_for(lambda: worker.metric("platewatch_reads_consumed_total") >= 60)
        decisions = worker.metric("platewatch_share_decisions_total")
        assert decisions > 0
        stored = "platewatch_audit_sink_rows_stored_total"
        await wait_for(lambda: sink.metric(stored, table="share_decisions") >= decisions)
        alerts_sent = by_label(worker, "platewatch_alerts_emitted_total", "recipient")
        denied = by_label(worker, "platewatch_shares_denied_total", "reason")
        await wait_for(lambda: sink.metric(stored, table="alert_deliveries")
                       >= sum(alerts_sent.values()))  # fmt: skip
        await asyncio.sleep(1)  # the batch-counts of the last batches

        today = dt.datetime.now(dt.UTC).date().isoformat()
        period = ("--from", today, "--to", today, "--audit-db-url", db)
        report = platewatch("audit", "report", *period, "--format", "json", "--user", "auditor-1",
                            "--purpose", "test of the evidence", "--topic-prefix", prefix)  # fmt: skip
        assert report.returncode == 0, report.stderr
        doc = orjson.loads(report.stdout)
        assert {r["agency"]: r["count"] for r in doc["alerts_by_recipient"]} == alerts_sent
        assert {r["key"]: r["count"] for r in doc["denials_by_rule"]} == denied
        assert denied.get("va.out-of-state") and denied.get("sb34.federal")  # the law was exercised
        assert doc["totals"]["reads"] == 60
        assert doc["shared_outside_state"] == [] and doc["totals"]["shared_outside_state"] == 0
        md = platewatch("audit", "report", *period, "--format", "md", "--user", "auditor-1", "--purpose", "test")
        assert "There were no shares outside the state where the read was taken in this period." in md.stdout

        clean = platewatch("audit", "verify", *period)
        assert clean.returncode == 0, clean.stdout + clean.stderr

        # an alert that did not come from the worker's decisions, written straight to SDPD's topic
        forged = {"alert_id": "forged-0001", "recipient_ori": SDPD, "policy_version": "none"}
        await produce(kafka_bootstrap, names.alerts(SDPD), [(b"forged-0001", orjson.dumps(forged))])
        await wait_for(lambda: sink.metric(stored, table="alert_deliveries")
                       >= sum(alerts_sent.values()) + 1)  # fmt: skip
        caught = platewatch("audit", "verify", *period)
        assert caught.returncode == 1, caught.stdout + caught.stderr
        assert "forged-0001" in caught.stdout and f"alerts.{SDPD}" in caught.stdout
        assert worker.terminate() == 0
    finally:
        worker.terminate()
        sink.terminate()
