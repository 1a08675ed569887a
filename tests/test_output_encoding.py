"""The outputs a batch sends are encoded in bulk (an audit record from cached parts, an alert once per
hit around its recipient): they must be byte for byte what the reference builders give."""

from __future__ import annotations

import uuid

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.hotlists.index import HotlistIndex
from streams.hotlists.model import Hit, HotlistEntry, HotlistInfo, MatchKind
from streams.pipeline.alert_builder import ALERT_NAMESPACE, alert_document, alert_id, iso_ms
from streams.pipeline.batch import Pipeline, SimulatedRecord
from streams.pipeline.outputs import BatchResult
from streams.policy.jurisdiction_filter import Decision, NoPolicy, SharingPolicy
from streams.policy.share_audit import audit_head, audit_record, audit_tail, encode_audits
from streams.policy.store import PolicyStore
from streams.sim.camera_feed import CameraFeed, FeedSettings
from streams.sim.synthetic import synthetic_hotlist

text = st.text(max_size=12)  # quotes, backslashes, control characters and non-ASCII included
decisions = st.builds(Decision, st.booleans(), text, text, text, text)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(text, text, text, text, text, st.lists(st.tuples(text, decisions), min_size=1, max_size=4)),
             min_size=1, max_size=6),
    text,
)  # fmt: skip
def test_an_encoded_audit_record_is_the_reference_record(hits: list, purpose: str) -> None:  # type: ignore[type-arg]
    for time, read_id, the_id, plate, agency, shares in hits:
        head = audit_head(time=time, read_id=read_id, alert_id=the_id, plate=plate, reading_agency=agency)
        for recipient, decision in shares:
            [(key, value)] = encode_audits(head, [audit_tail(decision, agency, recipient, purpose)])
            reference = audit_record(decision, time=time, read_id=read_id, alert_id=the_id, plate=plate,
                                     reading_agency=agency, recipient=recipient, purpose=purpose)  # fmt: skip
            assert value == orjson.dumps(reference.to_json())
            assert key == reference.audit_id.encode()


def test_every_alert_of_a_batch_is_the_reference_document() -> None:
    index = HotlistIndex()
    synthetic_hotlist(index, 20_000, list_id="ncic")
    store = PolicyStore()
    feed = CameraFeed(index, store.current.registry, FeedSettings(hit_rate=0.3, seed=11))  # type: ignore[union-attr]
    records = [SimulatedRecord(v, k, "plate-reads", 0, i, 1) for i, (k, v) in enumerate(feed.batch(2_000))]
    result = Pipeline(index, lambda: store.current, clock=lambda: 1.8e9).process(records)
    assert len(result.alerts) > 500 and len(result.sent) == len(result.alerts)
    assert len({r.read_id for r, _, _ in result.sent}) < len(result.alerts)  # hits with several recipients
    for (read, hit, recipient), alert in zip(result.sent, result.alerts, strict=True):
        the_id = alert_id(read.read_id, hit)
        info = index.list_info(hit.entry.list_id)
        reference = alert_document(read, hit, info, recipient, iso_ms(1_800_000_000_000), the_id)
        assert alert.value == orjson.dumps(reference)
        assert alert.key == the_id.encode()


def test_a_new_policy_is_decided_afresh() -> None:
    """Who receives a hit and what is decided is kept per policy: a policy loaded later is not
    answered from the decisions of the one before."""
    index = HotlistIndex()
    synthetic_hotlist(index, 2_000, list_id="ncic")
    in_force: list[SharingPolicy | NoPolicy] = [NoPolicy()]
    store = PolicyStore()
    feed = CameraFeed(index, store.current.registry, FeedSettings(hit_rate=0.5, seed=3))  # type: ignore[union-attr]
    records = [SimulatedRecord(v, k) for k, v in feed.batch(200)]
    pipeline = Pipeline(index, lambda: in_force[0])
    before = pipeline.process(records)
    assert before.audits and not before.alerts and set(before.denied) == {"policy_invalid"}
    in_force[0] = store.current
    after = pipeline.process(records)
    assert after.alerts and len(after.audits) >= len(before.audits)
    assert {orjson.loads(a.value)["policy_version"] for a in after.audits} == {store.current.version}


def test_a_batch_shares_as_reads_one_by_one_would() -> None:
    """Recipients and decisions are kept per (reading agency, owner, list): with several lists, list
    owners and entries owned by other agencies, a batch gives exactly the outputs of its reads each
    processed by a fresh pipeline, and still does after a list changes owner."""
    index = HotlistIndex()
    synthetic_hotlist(index, 2_000, list_id="ncic", owner_ori="CA0373700")
    synthetic_hotlist(index, 2_000, list_id="amber", owner_ori="", seed=8)
    for n, plate in enumerate(("7ABC123", "7ABC124", "7ABC125")):  # entries with their own owner
        index.upsert(HotlistEntry("ncic", plate, "CA", owner_ori=("CA0194200", "AZ0070000", "")[n]))
    store = PolicyStore()
    feed = CameraFeed(index, store.current.registry, FeedSettings(hit_rate=0.6, seed=4))  # type: ignore[union-attr]
    records = [SimulatedRecord(v, k, "plate-reads", 0, i, 1) for i, (k, v) in enumerate(feed.batch(600))]
    records += [SimulatedRecord(orjson.dumps({"read_id": f"own-{plate}", "time": "2026-11-27T10:00:00Z",
                "camera_id": "c", "agency_ori": agency, "plate": plate, "state": "CA"}))
                for plate in ("7ABC123", "7ABC124", "7ABC125") for agency in ("CA0194200", "CA0373700")]  # fmt: skip

    def outputs(result: BatchResult) -> list[tuple[str, bytes | None, bytes]]:
        return sorted((o.topic, o.key, o.value) for o in [*result.alerts, *result.audits])

    def one_by_one() -> list[tuple[str, bytes | None, bytes]]:
        out: list[tuple[str, bytes | None, bytes]] = []
        for record in records:
            out += outputs(Pipeline(index, lambda: store.current, clock=lambda: 1.8e9).process([record]))
        return sorted(out)

    pipeline = Pipeline(index, lambda: store.current, clock=lambda: 1.8e9)
    first = outputs(pipeline.process(records))
    assert len({key for topic, key, _ in first if "alerts" in topic}) > 100 and first == one_by_one()
    index.define_list(HotlistInfo("amber", "AMBER", owner_ori="CA0194200"))  # the list changes owner
    after = outputs(pipeline.process(records))
    assert after != first and after == one_by_one()


@settings(max_examples=300, deadline=None)
@given(text, text, text, text)
def test_an_alert_id_is_the_uuid5_of_its_read_and_entry(read_id: str, list_id: str, state: str, plate: str) -> None:
    hit = Hit(0, plate, HotlistEntry(list_id=list_id, plate=plate, state=state), MatchKind.EXACT, (), False, 0)
    expected = uuid.uuid5(ALERT_NAMESPACE, f"{read_id}|{list_id}|{state}|{plate}")
    assert alert_id(read_id, hit) == str(expected)
