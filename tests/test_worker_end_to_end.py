"""The worker on the real broker: alerts to the right recipients only, audit, dead letters, live
hotlist updates, SIGTERM, and no alert lost when a worker is killed mid-batch."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import jsonschema
import orjson
import pytest

from streams.hotlists.index import HotlistIndex
from streams.hotlists.model import HotlistEntry, HotlistInfo
from streams.kafka.clients import KafkaClients
from streams.kafka.hotlist_publish import publish_list_async
from streams.kafka.topic_setup import create_topics, topic_specs
from streams.ops.settings import Settings
from streams.pipeline.batch import Pipeline, SimulatedRecord
from streams.pipeline.topics import TopicNames
from streams.policy.store import load_policy
from tests.harness.worker_process import WorkerProcess, alert_ids, clients_for, produce, read_topic

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

SCHEMAS = Path(__file__).resolve().parent.parent / "schemas"
LAPD, SDPD, ICE, FAIRFAX = "CA0194200", "CA0373700", "DCICE0000", "VA0290100"
BOLO = HotlistInfo("sd-bolo", "San Diego BOLO", owner_ori=SDPD, priority=20)
ENTRIES = [
    HotlistEntry("sd-bolo", "7SDQ551", "CA", category="stolen_vehicle", case_number="SD-1"),
    HotlistEntry("sd-bolo", "5GZB821", "CA", category="felony_vehicle", case_number="SD-2"),
]


def read(read_id: str, plate: str, agency: str = LAPD, state: str = "CA") -> bytes:
    return orjson.dumps(
        {
            "read_id": read_id,
            "time": dt.datetime.now(dt.UTC).isoformat(),
            "camera_id": f"{agency}-cam01",
            "agency_ori": agency,
            "plate": plate,
            "state": state,
            "confidence": 0.9,
        }
    )


async def setup_topics(bootstrap: str, prefix: str) -> TopicNames:
    settings = Settings(bootstrap_servers=bootstrap, topic_prefix=prefix, read_partitions=3)
    policy = load_policy(settings.policy_file, settings.registry_file)
    names = TopicNames.with_prefix(prefix)
    clients = KafkaClients(settings)
    await create_topics(clients, settings, topic_specs(settings, names, policy))
    await publish_list_async(clients, BOLO, ENTRIES, replace=True, topic=names.hotlist_updates)
    return names


async def test_alerts_audit_dead_letters_and_live_updates(kafka_bootstrap: str, unique: str, tmp_path: Path) -> None:
    prefix = f"e2e-{unique}."
    names = await setup_topics(kafka_bootstrap, prefix)
    worker = WorkerProcess(kafka_bootstrap, prefix, tmp_path / "worker.log").start()
    try:
        await worker.wait_ready()
        bad = [b"{not json", orjson.dumps({"read_id": "x"}), read("r-bad-plate", "7ΑBC123")]
        claims_va = read("r-claims-va", "5GZB821", agency=FAIRFAX, state="VA")  # on LAPD's topic
        await produce(
            kafka_bootstrap,
            names.reads_for(LAPD),
            [
                (b"cam", read("r-hit", "7SDQ551")),  # exact hit, read by LAPD
                (b"cam", read("r-lookalike", "7SDO551")),  # Q read as O: equivalent hit
                (b"cam", read("r-miss", "1ABC234")),
                *[(b"cam", v) for v in [*bad, claims_va]],
            ],
        )
        # Virginia read, California entry: on Fairfax's own input topic
        await produce(
            kafka_bootstrap, names.reads_for(FAIRFAX), [(b"cam", read("r-va", "5GZB821", agency=FAIRFAX, state="VA"))]
        )
        lapd = await read_topic(kafka_bootstrap, names.alerts(LAPD))
        assert sorted(orjson.loads(r.value)["read"]["read_id"] for r in lapd) == ["r-hit", "r-lookalike"]
        schema = orjson.loads((SCHEMAS / "hit-alert.schema.json").read_bytes())
        docs = {orjson.loads(r.value)["read"]["read_id"]: orjson.loads(r.value) for r in lapd}
        for doc in docs.values():
            jsonschema.validate(doc, schema)
        assert docs["r-hit"]["match"] == {
            "kind": "exact", "differing_positions": [], "verify_visually": False, "state_mismatch": False
        }  # fmt: skip
        assert docs["r-lookalike"]["match"]["verify_visually"] is True
        assert docs["r-lookalike"]["match"]["differing_positions"] == [3]

        sdpd = await read_topic(kafka_bootstrap, names.alerts(SDPD))
        # the owner gets LAPD's hits (a California share) but not Fairfax's (Virginia: no out-of-state)
        assert sorted(orjson.loads(r.value)["read"]["read_id"] for r in sdpd) == ["r-hit", "r-lookalike"]
        fairfax = await read_topic(kafka_bootstrap, names.alerts(FAIRFAX))
        assert [orjson.loads(r.value)["read"]["read_id"] for r in fairfax] == ["r-va"]
        assert await read_topic(kafka_bootstrap, names.alerts(ICE), settle=0.5) == []  # subscribed, never allowed

        audit_records = await read_topic(kafka_bootstrap, names.share_audit)
        audit = [orjson.loads(r.value) for r in audit_records]
        # a batch writes its audit records to one partition (their keys would spread them over three)
        partitions_of: dict[str, set[int]] = {}
        for r, doc in zip(audit_records, audit, strict=True):
            partitions_of.setdefault(doc["read_id"], set()).add(r.partition)
        assert sum(a["read_id"] == "r-hit" for a in audit) == 3  # LAPD, SDPD, ICE
        assert all(len(p) == 1 for p in partitions_of.values()), partitions_of
        audit_schema = orjson.loads((SCHEMAS / "share-audit.schema.json").read_bytes())
        for record in audit:
            jsonschema.validate(record, audit_schema)
        decided = {(a["read_id"], a["recipient"]): (a["decision"], a["rule"]) for a in audit}
        assert decided[("r-hit", ICE)] == ("deny", "sb34.federal")
        assert decided[("r-hit", SDPD)] == ("allow", "sb34.ca-public-agency")
        assert decided[("r-hit", LAPD)] == ("allow", "own-agency")
        assert decided[("r-va", SDPD)] == ("deny", "va.out-of-state")
        assert decided[("r-va", ICE)] == ("deny", "va.federal")

        dlq = await read_topic(kafka_bootstrap, names.dlq)
        assert sorted(r.value for r in dlq) == sorted([*bad, claims_va])  # original bytes, unchanged
        reasons = sorted(dict(r.headers)["platewatch.reason"].decode() for r in dlq)
        assert reasons == ["agency_mismatch", "missing_field", "not_json", "plate_non_ascii"]
        assert all(dict(r.headers)["platewatch.source.topic"].decode() == names.reads_for(LAPD) for r in dlq)
        # the read that claimed Fairfax on LAPD's topic was matched under nobody's profile
        assert "r-claims-va" not in {a["read_id"] for a in audit}
        assert worker.metric("platewatch_dead_letters_total", reason="not_json") == 1
        assert worker.metric("platewatch_shares_denied_total", reason="sb34.federal") == 2

        # a hotlist update while the worker runs: the next read of that plate hits
        new = HotlistEntry("sd-bolo", "8NEW123", "CA", case_number="SD-3")
        await publish_list_async(clients_for(kafka_bootstrap), BOLO, [new], replace=False, topic=names.hotlist_updates)
        for attempt in range(40):
            await produce(kafka_bootstrap, names.reads_for(LAPD), [(b"cam", read(f"r-new-{attempt}", "8NEW123"))])
            await asyncio.sleep(0.25)
            got = await read_topic(kafka_bootstrap, names.alerts(LAPD), settle=0.3)
            if any(orjson.loads(r.value)["entry"]["plate"] == "8NEW123" for r in got):
                break
        else:
            raise AssertionError(f"the live hotlist update never took effect:\n{worker.log()}")
        assert worker.terminate() == 0  # SIGTERM: finish, commit, exit cleanly
    finally:
        worker.terminate()


@pytest.mark.parametrize("guarantee", ["exactly_once", "at_least_once"])
async def test_no_alert_is_lost_when_a_worker_is_killed_mid_batch(
    kafka_bootstrap: str, unique: str, tmp_path: Path, guarantee: str
) -> None:
    """Killed mid-batch, then its successor: every alert arrives; under exactly_once, once only
    (what read_committed readers see); under at_least_once, duplicates are possible and allowed."""
    prefix = f"kill-{unique}-{guarantee[0]}."
    mode = ("--processing-guarantee", guarantee)
    names = await setup_topics(kafka_bootstrap, prefix)
    hits = {i for i in range(0, 3000, 7)}
    messages = [(b"cam", read(f"r-{i}", ENTRIES[i % 2].plate if i in hits else f"9Z{i:05d}")) for i in range(3000)]
    # the expected alerts, from the same pipeline run in this process
    index = HotlistIndex()
    index.define_list(BOLO)
    for e in ENTRIES:
        index.upsert(e)
    policy = load_policy(Settings().policy_file, Settings().registry_file)
    topic = names.reads_for(LAPD)
    expected = Pipeline(index, lambda: policy, names).process([SimulatedRecord(v, k, topic) for k, v in messages])
    expected_ids = {(o.topic, orjson.loads(o.value)["alert_id"]) for o in expected.alerts}
    assert len(expected_ids) == 2 * len(hits)  # LAPD itself and the list's owner

    first = WorkerProcess(kafka_bootstrap, prefix, tmp_path / "first.log", "--batch-max-reads", "40", *mode).start()
    await first.wait_ready()
    # the reads arrive while it works, so it is still part-way through when it is killed (a fast worker
    # given all 3,000 at once could finish before the kill)
    await produce(kafka_bootstrap, names.reads_for(LAPD), messages[:1000])
    for _ in range(200):
        if first.metric("platewatch_reads_consumed_total") >= 400:
            break
        await asyncio.sleep(0.05)
    consumed_before_kill = first.metric("platewatch_reads_consumed_total")
    first.kill()
    assert 0 < consumed_before_kill <= 1000, first.log()
    await produce(kafka_bootstrap, names.reads_for(LAPD), messages[1000:])  # the rest, for its successor

    second = WorkerProcess(kafka_bootstrap, prefix, tmp_path / "second.log", *mode).start()
    try:
        await second.wait_ready()
        received: list[tuple[str, str]] = []
        for _ in range(60):
            received = []
            for topic in {t for t, _ in expected_ids}:
                received += [(topic, a) for a in alert_ids(await read_topic(kafka_bootstrap, topic, settle=0.5))]
            if set(received) >= expected_ids:
                break
            await asyncio.sleep(0.5)
        assert set(received) == expected_ids, f"missing {len(expected_ids - set(received))}:\n{second.log()}"
        if guarantee == "exactly_once":
            assert len(received) == len(expected_ids), f"{len(received) - len(expected_ids)} alerts delivered twice"
    finally:
        assert second.terminate() == 0
