"""The pipeline without a broker: alerts only where the law allows, an audit per decision, dead letters."""

from __future__ import annotations

import re

import orjson

from streams.hotlists.index import HotlistIndex
from streams.hotlists.model import HotlistEntry, HotlistInfo
from streams.pipeline.batch import Pipeline, RecordColumns, SimulatedRecord
from streams.pipeline.topics import TopicNames
from streams.policy.jurisdiction_filter import NoPolicy, SharingPolicy
from streams.policy.store import PolicyStore

LAPD, SDPD, ICE, UNKNOWN = "CA0194200", "CA0373700", "DCICE0000", "ZZ0000000"


def read(read_id: str, plate: str, agency: str = LAPD) -> bytes:
    return orjson.dumps(
        {"read_id": read_id, "time": "2026-11-27T10:00:00Z", "camera_id": "c1", "agency_ori": agency,
         "plate": plate, "state": "CA"}
    )  # fmt: skip


def pipeline(policy: SharingPolicy | NoPolicy | None = None) -> Pipeline:
    index = HotlistIndex()
    index.define_list(HotlistInfo("bolo", "BOLO", owner_ori=SDPD))
    index.upsert(HotlistEntry("bolo", "7SDQ551", "CA"))
    in_force = policy or PolicyStore().current
    return Pipeline(index, lambda: in_force, TopicNames(), clock=lambda: 1.8e9)


def test_alerts_go_to_allowed_recipients_and_every_decision_is_audited() -> None:
    result = pipeline().process([SimulatedRecord(read("r1", "7SDQ551"), b"cam", "plate-reads", 0, 5, 1)])
    assert sorted(o.topic for o in result.alerts) == [f"alerts.{LAPD}", f"alerts.{SDPD}"]
    audits = [orjson.loads(o.value) for o in result.audits]
    assert {(a["recipient"], a["decision"], a["rule"]) for a in audits} == {
        (LAPD, "allow", "own-agency"),
        (SDPD, "allow", "sb34.ca-public-agency"),
        (ICE, "deny", "sb34.federal"),  # ICE subscribes to every list; SB 34 forbids the share
    }
    assert result.denied == {"sb34.federal": 1}
    ids = {orjson.loads(o.value)["alert_id"] for o in result.alerts}
    again = pipeline().process([SimulatedRecord(read("r1", "7SDQ551"))])
    assert {orjson.loads(o.value)["alert_id"] for o in again.alerts} == ids  # stable: consumers dedupe


def test_an_unknown_reading_agency_shares_nothing_and_is_audited() -> None:
    result = pipeline().process([SimulatedRecord(read("r2", "7SDQ551", agency=UNKNOWN))])
    assert result.alerts == []
    assert {orjson.loads(o.value)["rule"] for o in result.audits} == {"unknown_reading_agency"}


def test_without_a_valid_policy_every_share_is_denied() -> None:
    result = pipeline(NoPolicy()).process([SimulatedRecord(read("r3", "7SDQ551"))])
    assert result.alerts == [] and result.denied["policy_invalid"] >= 2


def test_bad_reads_become_dead_letters_with_original_bytes_and_source() -> None:
    bad = b'{"read_id": "x"'
    result = pipeline().process(
        [
            SimulatedRecord(bad, b"cam", "plate-reads", 3, 42, 1),
            SimulatedRecord(read("r4", "АВС123"), None, "plate-reads", 3, 43),
        ]
    )
    assert [o.value for o in result.dead_letters] == [bad, read("r4", "АВС123")]
    headers = dict(result.dead_letters[0].headers)
    assert headers["platewatch.reason"] == b"not_json"
    assert (headers["platewatch.source.partition"], headers["platewatch.source.offset"]) == (b"3", b"42")
    assert dict(result.dead_letters[1].headers)["platewatch.reason"] == b"plate_non_ascii"
    assert result.dlq_reasons == {"not_json": 1, "plate_non_ascii": 1}


def test_a_read_that_raises_is_dead_lettered_as_internal_error_in_the_same_format() -> None:
    pill = read("r5", "7SDQ551")[:-1] + b',"vendor":' + b"[" * 3000 + b"]" * 3000 + b"}"
    result = pipeline().process(
        [
            SimulatedRecord(pill, b"cam", "plate-reads", 1, 7, 1),
            SimulatedRecord(read("r6", "7SDQ551"), None, "plate-reads", 1, 8),
        ]
    )
    [dead] = result.dead_letters
    assert (dead.topic, dead.key, dead.value) == ("plate-reads.dlq", b"cam", pill)
    assert [name for name, _ in dead.headers] == [
        "platewatch.reason",
        "platewatch.error",
        "platewatch.source.topic",
        "platewatch.source.partition",
        "platewatch.source.offset",
        "platewatch.exception",
    ]
    headers = dict(dead.headers)
    assert headers["platewatch.reason"] == b"internal_error" and headers["platewatch.exception"] == b"RecursionError"
    assert headers["platewatch.error"].startswith(b"RecursionError: maximum recursion depth exceeded")
    assert result.dlq_reasons == {"internal_error": 1} and result.internal_errors == 1 and result.processed == 1
    assert sorted(o.topic for o in result.alerts) == [f"alerts.{LAPD}", f"alerts.{SDPD}"]  # r6 goes on


def test_process_isolating_is_process_when_nothing_raises() -> None:
    records = [
        SimulatedRecord(read(f"r{i}", "7SDQ551" if i % 3 else "XYZ123"), None, "plate-reads", 0, i) for i in range(9)
    ]
    records.append(SimulatedRecord(b"{", None, "plate-reads", 0, 9))
    plain, safe = pipeline().process(records), pipeline().process_isolating(records)
    assert safe.outbound() == plain.outbound() and safe.reads == plain.reads == 10


def test_a_read_that_claims_another_agency_than_its_topic_is_dead_lettered() -> None:
    """Who took a read is the topic's agency (the broker lets only its gateway write there), not the
    read's own claim: a claim that disagrees is set aside, never matched under the other's profile."""
    names = TopicNames()
    lapd_topic = names.reads_for(LAPD)
    honest = SimulatedRecord(read("r-own", "7SDQ551"), b"cam", lapd_topic, 0, 1, 1)
    claims_sdpd = SimulatedRecord(read("r-claims", "7SDQ551", agency=SDPD), b"cam", lapd_topic, 0, 2, 1)
    result = pipeline().process([honest, claims_sdpd])
    assert result.dlq_reasons == {"agency_mismatch": 1}
    (letter,) = result.dead_letters
    assert letter.value == claims_sdpd.value
    assert dict(letter.headers)["platewatch.error"] == f"agency_ori {SDPD} on the input topic of {LAPD}".encode()
    assert {orjson.loads(o.value)["read_id"] for o in result.audits} == {"r-own"}
    # a consumer that has the values and topics as lists (librdkafka's) passes them: the same outcome
    records = [honest, claims_sdpd]
    columns = RecordColumns([r.value for r in records], [r.topic for r in records])
    assert pipeline().process(records, columns).outbound() == result.outbound()
    # the single development topic proves nothing, so the read's claim stands there
    single = pipeline().process([SimulatedRecord(read("r-dev", "7SDQ551", agency=SDPD), b"cam", names.plate_reads)])
    assert single.dlq_reasons == {} and single.alerts


def test_topic_names_of_agency_input_topics() -> None:
    names = TopicNames.with_prefix("site.")
    assert names.reads_for(LAPD) == "site.plate-reads.CA0194200"
    assert names.reading_agency_of("site.plate-reads.CA0194200") == LAPD
    for other in ("site.plate-reads.dlq", "site.plate-reads", "plate-reads.CA0194200", "site.plate-reads.ca0194200"):
        assert names.reading_agency_of(other) is None

    assert re.match(names.reads_pattern, "site.plate-reads.CA0194200")
    assert not re.match(names.reads_pattern, "site.plate-reads.dlq")
