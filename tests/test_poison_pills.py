"""No record may stop a partition: whatever one message holds, it is processed or dead-lettered, once,
and the rest of its batch goes on. A fault in the batch-wide steps is bisected down to its record;
a breaker trips when internal errors stop being rare."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from typing import Any

import msgspec
import numpy as np
import numpy.typing as npt
import orjson
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from streams.hotlists.index import HotlistIndex
from streams.hotlists.model import Hit, HotlistEntry, HotlistInfo
from streams.pipeline.batch import ConsumedRecord, Pipeline, SimulatedRecord
from streams.pipeline.breaker import BreakerSettings, CircuitBreaker
from streams.pipeline.outputs import BatchResult, Outbound
from streams.pipeline.read_decoder import MAX_MESSAGE_BYTES, PlateRead, ReadRejection, decode_batch, decode_read
from streams.pipeline.topics import TopicNames
from streams.plates.codes import EncodedPlates
from streams.plates.normalise import PlateRejection
from streams.policy.jurisdiction_filter import Decision, SharingPolicy
from streams.policy.store import PolicyStore

LAPD, SDPD, ICE, UNKNOWN = "CA0194200", "CA0373700", "DCICE0000", "ZZ0000000"
LISTED = ("7SDQ551", "8ABC123", "AMBER01")
REASONS = {r.value for r in ReadRejection} | {r.value for r in PlateRejection}


def _policy() -> SharingPolicy:
    policy = PolicyStore().current
    assert isinstance(policy, SharingPolicy)
    return policy


POLICY = _policy()


def make_index() -> HotlistIndex:
    index = HotlistIndex()
    index.define_list(HotlistInfo("bolo", "BOLO", owner_ori=SDPD))
    index.define_list(HotlistInfo("amber", "AMBER alerts", priority=0, category="amber_alert"))
    index.upsert(HotlistEntry("bolo", "7SDQ551", "CA"))
    index.upsert(HotlistEntry("bolo", "8ABC123"))
    index.upsert(HotlistEntry("amber", "AMBER01", "CA"))
    return index


def make_pipeline(index: HotlistIndex | None = None, policy: SharingPolicy = POLICY) -> Pipeline:
    return Pipeline(index or make_index(), lambda: policy, TopicNames(), clock=lambda: 1.8e9)


PIPELINE = make_pipeline()


def read_doc(read_id: str = "r1", plate: str = "7SDQ551", agency: str = LAPD, **more: Any) -> dict[str, Any]:
    return {"read_id": read_id, "time": "2026-11-27T10:00:00Z", "camera_id": "c1", "agency_ori": agency,
            "plate": plate, "state": "CA", **more}  # fmt: skip


def read(read_id: str = "r1", plate: str = "7SDQ551", agency: str = LAPD) -> bytes:
    return orjson.dumps(read_doc(read_id, plate, agency))


def records_of(values: Sequence[bytes | None]) -> list[SimulatedRecord]:
    return [
        SimulatedRecord(v, f"k{i}".encode(), "plate-reads", 2, 100 + i, 1_800_000_000_000) for i, v in enumerate(values)
    ]


def deep(depth: int, open_: bytes = b"[", close: bytes = b"]") -> bytes:
    return open_ * depth + close * depth


# the defect: an unknown field nested a few thousand levels deep made msgspec raise RecursionError
# out of decode_batch, the worker crashed before committing, and met the record again on restart
RECURSION_PILL = orjson.dumps(read_doc("pill")).replace(b"}", b',"vendor":' + deep(3000) + b"}")


def outputs(result: BatchResult) -> Counter[tuple[str, bytes | None, bytes, tuple[tuple[str, bytes], ...]]]:
    return Counter((o.topic, o.key, o.value, o.headers) for o in result.outbound())


def headers_of(out: Outbound) -> dict[str, bytes]:
    return dict(out.headers)


def check_accounts_for_every_record(
    pipeline: Pipeline, records: Sequence[SimulatedRecord], result: BatchResult, *, strict: bool = True
) -> None:
    """Each record processed or dead-lettered, once, with a reason; the same outputs as alone."""
    assert result.reads == len(records)
    by_offset: dict[int, Outbound] = {}
    for out in result.dead_letters:
        h = headers_of(out)
        assert h["platewatch.reason"].decode() in REASONS
        assert h["platewatch.error"], "a dead letter says what was wrong"
        offset = int(h["platewatch.source.offset"])
        assert offset not in by_offset, "a record dead-lettered twice"
        by_offset[offset] = out
    assert result.processed == len(records) - len(by_offset)
    alone_total: Counter[tuple[str, bytes | None, bytes, tuple[tuple[str, bytes], ...]]] = Counter()
    for record in records:
        alone = decode_read(record.value)
        dead = by_offset.get(record.offset)
        if isinstance(alone, PlateRead):
            if dead is not None:  # a read whose plate cannot be a plate, or a fault of our own
                assert headers_of(dead)["platewatch.reason"].startswith((b"plate_", b"internal_error"))
        else:
            assert dead is not None, f"a message that does not decode was processed: {alone}"
            assert headers_of(dead)["platewatch.reason"] == alone[0].value.encode()
        if dead is not None:
            assert (dead.key, dead.value) == (record.key, record.value or b""), "the original bytes"
        if strict:
            alone_total += outputs(pipeline.process([record]))
    if strict:
        # a read that decodes is matched and shared exactly as it would be on its own
        assert outputs(result) == alone_total


# ---- the regression -------------------------------------------------------------------------


def test_deeply_nested_read_is_dead_lettered_not_raised_recursion_error_regression() -> None:
    with pytest.raises(RecursionError):  # what msgspec does with it (the cause of the defect)
        msgspec.json.decode(RECURSION_PILL, type=PlateRead)
    positions, _, bad, _ = decode_batch([read("r1"), RECURSION_PILL, read("r2")])
    assert positions == [0, 2]
    assert [(b.index, b.reason, b.exception) for b in bad] == [(1, "internal_error", "RecursionError")]
    assert bad[0].detail.startswith("RecursionError: maximum recursion depth exceeded")
    assert decode_read(RECURSION_PILL) == (ReadRejection.INTERNAL_ERROR, bad[0].detail)

    records = records_of([read("r1"), RECURSION_PILL, read("r2", "AMBER01")])
    result = PIPELINE.process(records)
    [dead] = result.dead_letters
    h = headers_of(dead)
    assert dead.value == RECURSION_PILL and dead.key == b"k1"
    assert h["platewatch.reason"] == b"internal_error"
    assert h["platewatch.exception"] == b"RecursionError"
    assert h["platewatch.error"].startswith(b"RecursionError: maximum recursion depth exceeded")
    assert (h["platewatch.source.topic"], h["platewatch.source.partition"], h["platewatch.source.offset"]) == (
        b"plate-reads",
        b"2",
        b"101",
    )
    assert result.internal_errors == 1 and result.dlq_reasons == {"internal_error": 1}
    assert {orjson.loads(o.value)["read"]["read_id"] for o in result.alerts} == {"r1", "r2"}
    check_accounts_for_every_record(PIPELINE, records, result)


@pytest.mark.parametrize(
    "value",
    [
        b'{"x":' + deep(5000) + b"}",
        b'{"x":' + deep(2000, b'{"a":', b"}")[:-2000] + b"1" + b"}" * 2000 + b"}",
        orjson.dumps(read_doc()).replace(b"}", b',"candidates":[{"plate":"A","x":' + deep(4000) + b"}]}"),
        orjson.dumps(read_doc()).replace(b"}", b',"location":{"lat":1,"lon":2,"x":' + deep(4000) + b"}}"),
        deep(7000),
        deep(7000, b"{", b"}"),
        b'{"plate":' + deep(5000) + b"}",
    ],
)
def test_nesting_anywhere_is_dead_lettered(value: bytes) -> None:
    assert len(value) <= MAX_MESSAGE_BYTES
    records = records_of([read("r1"), value])
    result = PIPELINE.process(records)
    assert len(result.dead_letters) == 1 and len(result.alerts) == 2
    check_accounts_for_every_record(PIPELINE, records, result)


# ---- fuzzing --------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=30),
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=6), kids, max_size=4),
    max_leaves=12,
)
STRANGE_TOKENS = [
    "1e400", "-1e400", "1" + "0" * 400, "-" + "1" * 400, "0." + "0" * 400 + "1", "1E-400", "-0", "0e0",
    "NaN", "Infinity", "-Infinity", "null", "true", "false", "[]", "{}", '""', '"\\u0000"', '"\\ud800"',
    '"\\udc00\\ud800"', '"\\uffff"', '"\u0000"', "01", ".5", "1.", '"7SDQ551\\u0000"', '"ＡＢＣ１２３"',
    '"\\"}"', "[" * 50, "]", "{\"a\"", '"' + "x" * 129 + '"', '"' + "x" * 16000 + '"', '"' + "x" * 17000 + '"',
]  # fmt: skip


@st.composite
def tokens(draw: st.DrawFn) -> str:
    """Any JSON value, or text a JSON decoder must refuse, as it would appear after a key."""
    choice = draw(st.integers(0, 4))
    if choice == 0:
        return json.dumps(draw(json_values), ensure_ascii=draw(st.booleans()))
    if choice == 1:
        return draw(st.sampled_from(STRANGE_TOKENS))
    if choice == 2:  # nested far beyond the stack, or not at all: never near the limit
        depth = draw(st.integers(1200, 5000) | st.integers(1, 40))
        inner = draw(st.sampled_from(["[", '{"a":[']))
        closing = "]" if inner == "[" else "]}"
        return inner * depth + closing * depth
    if choice == 3:
        return json.dumps(draw(st.text(min_size=0, max_size=40)))
    return str(draw(st.integers(-(10**30), 10**30)))


VALID_FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "read_id": st.text(min_size=1, max_size=12),
    "time": st.sampled_from(["2026-11-27T10:00:00Z", "2026-11-27T10:00:00.5+02:00", "1970-01-01T00:00:00Z"]),
    "camera_id": st.text(min_size=1, max_size=12),
    "agency_ori": st.sampled_from([LAPD, SDPD, ICE, UNKNOWN]),
    "plate": st.sampled_from([*LISTED, "7SDQ55I", "8-ABC 123", "AMBERO1", "XYZ999", "АВС123", "7SDQ\x00551", "-"]),
    "state": st.sampled_from(["CA", "ca", "", " NV ", "TX"]),
    "confidence": st.none() | st.floats(0, 1),
    "candidates": st.lists(st.fixed_dictionaries({"plate": st.sampled_from([*LISTED, "ABC12"])}), max_size=3),
    "location": st.none() | st.fixed_dictionaries({"lat": st.floats(-90, 90), "lon": st.floats(-180, 180)}),
    "image_ref": st.text(max_size=10),
}
REQUIRED = ("read_id", "time", "camera_id", "agency_ori", "plate")


@st.composite
def read_texts(draw: st.DrawFn) -> bytes:
    """A read, valid or with one or more faults: a wrong type in any field (nested ones too), a
    field missing, a key twice, an unknown key with anything in it, bytes that are not UTF-8."""
    pairs: list[tuple[str, str]] = []
    for name, strategy in VALID_FIELDS.items():
        if name in REQUIRED or draw(st.booleans()):
            pairs.append((name, json.dumps(draw(strategy), ensure_ascii=draw(st.booleans()))))
    for _ in range(draw(st.sampled_from([0, 0, 0, 1, 1, 2, 3]))):  # clean reads (with hits) often
        fault = draw(st.sampled_from(["wrong_type", "nested", "missing", "duplicate", "unknown"]))
        at = draw(st.integers(0, len(pairs) - 1)) if pairs else 0
        if not pairs:
            break
        name = pairs[at][0]
        if fault == "wrong_type":
            pairs[at] = (name, draw(tokens()))
        elif fault == "nested":
            inner = draw(tokens())
            pairs[at] = draw(
                st.sampled_from(
                    [
                        ("candidates", f'[{{"plate": {inner}}}]'),
                        ("candidates", f'[{{"plate": "ABC", "confidence": {inner}}}]'),
                        ("candidates", f"[{inner}]"),
                        ("location", f'{{"lat": {inner}, "lon": 0}}'),
                        ("location", f'{{"lat": 0, "lon": {inner}}}'),
                    ]
                )
            )
        elif fault == "missing":
            del pairs[at]
        elif fault == "duplicate":
            pairs.insert(draw(st.integers(0, len(pairs))), (name, draw(tokens())))
        else:
            pairs.insert(at, (draw(st.text(max_size=8)), draw(tokens())))
    text = "{" + ",".join(f"{json.dumps(k)}:{v}" for k, v in pairs) + "}"
    data = text.encode("utf-8", "surrogatepass")
    if draw(st.integers(0, 7)) == 0:  # bytes that no UTF-8 or JSON decoder accepts, anywhere
        at = draw(st.integers(0, len(data)))
        junk = draw(st.sampled_from([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\x00", b"\xf4\x90\x80\x80", b"\x80"]))
        data = data[:at] + junk + data[at:]
    return data


messages: st.SearchStrategy[bytes | None] = st.one_of(
    read_texts(),
    read_texts(),
    st.builds(lambda v: json.dumps(v).encode(), json_values),
    st.binary(max_size=64),
    st.builds(lambda t: t.encode("utf-8", "surrogatepass"), tokens()),
    st.just(None),
    st.sampled_from([read(f"ok{i}", p) for i, p in enumerate(LISTED)] + [RECURSION_PILL]),
)

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(st.lists(messages, min_size=1, max_size=12))
def test_fuzzed_batches_are_each_processed_or_dead_lettered_once(values: list[bytes | None]) -> None:
    records = records_of(values)
    result = PIPELINE.process(records)  # must not raise
    check_accounts_for_every_record(PIPELINE, records, result)
    for reason in result.dlq_reasons:
        event(f"dead letter: {reason}")
    event(f"reads shared: {min(len({read.read_id for read, _ in result.hits}), 2)}")
    assert outputs(PIPELINE.process_isolating(records)) == outputs(result)


@FUZZ
@given(st.lists(messages, max_size=10))
def test_fuzzed_decoder_never_raises_and_agrees_with_one_at_a_time(values: list[bytes | None]) -> None:
    positions, reads, bad, _ = decode_batch(values)
    good = list(zip(positions, reads, strict=True))
    assert sorted(positions + [b.index for b in bad]) == list(range(len(values)))
    for i, value in enumerate(values):
        alone = decode_read(value)
        if isinstance(alone, PlateRead):
            assert (i, alone) in good
        else:
            assert any(b.index == i and b.reason == alone[0].value and b.detail == alone[1] for b in bad), alone
            assert alone[1]


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes(value: bytes) -> None:
    records = records_of([value, read("r1")])
    check_accounts_for_every_record(PIPELINE, records, PIPELINE.process(records))


# ---- a fault in the batch-wide steps: bisected down to its record ----------------------------

POISON = "8ABC123"  # matching raises whenever this plate is in the batch


class FaultyIndex(HotlistIndex):
    """An index whose matching raises for one plate, as a bug in the matcher would."""

    calls = 0

    def match(
        self,
        plates: EncodedPlates,
        read_index: npt.NDArray[np.intp],
        states: Sequence[str],
        times: Sequence[int],
    ) -> list[Hit]:
        FaultyIndex.calls += 1
        if any(plates.plate(i) == POISON for i in range(len(plates))):
            raise IndexError(f"injected fault for {POISON}")
        return super().match(plates, read_index, states, times)


def faulty_index() -> FaultyIndex:
    index = FaultyIndex()
    index.define_list(HotlistInfo("bolo", "BOLO", owner_ori=SDPD))
    index.define_list(HotlistInfo("amber", "AMBER alerts", priority=0, category="amber_alert"))
    for entry in [
        HotlistEntry("bolo", "7SDQ551", "CA"),
        HotlistEntry("bolo", POISON),
        HotlistEntry("amber", "AMBER01"),
    ]:
        index.upsert(entry)
    return index


@pytest.mark.parametrize("at", [0, 17, 63])
def test_a_fault_in_matching_is_bisected_to_its_record_and_the_rest_is_shared(at: int) -> None:
    plates = ["7SDQ551", "AMBER01", "XYZ999", "7SDQ55I"]
    values: list[bytes | None] = [read(f"r{i}", plates[i % len(plates)]) for i in range(64)]
    values[at] = read("poison", POISON)
    values[40] = b"{not json"
    records = records_of(values)
    pipeline = make_pipeline(faulty_index())
    with pytest.raises(IndexError):
        pipeline.process(records)
    FaultyIndex.calls = 0
    result = pipeline.process_isolating(records, retries=1)
    assert FaultyIndex.calls <= 2 + 2 * 6 + 2, "bounded: the retries, then two halves per level"
    assert result.reads == 64 and result.dlq_reasons == {"internal_error": 1, "not_json": 1}
    [pill] = [d for d in result.dead_letters if headers_of(d)["platewatch.reason"] == b"internal_error"]
    assert pill.value == records[at].value and pill.key == records[at].key
    assert headers_of(pill)["platewatch.exception"] == b"IndexError"
    assert headers_of(pill)["platewatch.error"] == f"IndexError: injected fault for {POISON}".encode()
    assert headers_of(pill)["platewatch.source.offset"] == str(100 + at).encode()
    # every other read: exactly the alerts and audits it gets in a batch without the poison
    others = [r for i, r in enumerate(records) if i != at]
    expected = make_pipeline(faulty_index()).process(others)
    assert Counter((o.topic, o.key, o.value) for o in result.alerts) == Counter(
        (o.topic, o.key, o.value) for o in expected.alerts
    )
    assert len(result.alerts) == len(expected.alerts) > 40
    assert Counter((o.key, o.value) for o in result.audits) == Counter((o.key, o.value) for o in expected.audits)
    assert result.matches == expected.matches and result.decisions == expected.decisions
    check_accounts_for_every_record(pipeline, records, result, strict=False)


def test_a_batch_that_fails_once_is_retried_whole() -> None:
    class FlakyIndex(HotlistIndex):
        failures = 1

        def match(self, *args: Any, **kwargs: Any) -> list[Hit]:
            if FlakyIndex.failures:
                FlakyIndex.failures -= 1
                raise TimeoutError("transient")
            return super().match(*args, **kwargs)

    index = FlakyIndex()
    index.define_list(HotlistInfo("bolo", "BOLO", owner_ori=SDPD))
    index.upsert(HotlistEntry("bolo", "7SDQ551", "CA"))
    records = records_of([read("r1"), read("r2")])
    result = make_pipeline(index).process_isolating(records, retries=1)
    assert result.dead_letters == [] and len(result.alerts) == 4


def test_a_systematic_fault_dead_letters_the_hits_and_trips_the_breaker() -> None:
    def broken_policy() -> SharingPolicy:
        raise KeyError("policy store corrupted")

    pipeline = Pipeline(make_index(), broken_policy, TopicNames(), clock=lambda: 1.8e9)
    records = records_of([read(f"r{i}", "AMBER01" if i % 2 else "XYZ999") for i in range(40)])
    result = pipeline.process_isolating(records, retries=0)
    assert result.processed == 20 and result.internal_errors == 20 and result.alerts == []
    breaker = CircuitBreaker(BreakerSettings(max_errors=10, max_error_ratio=0.05), clock=lambda: 0.0)
    assert breaker.observe(result)
    assert breaker.reason.startswith("20 internal errors in 40 records (50.0%)")


# ---- one read's sharing raises: that read alone, in full or not at all -----------------------


class FaultyPolicy(SharingPolicy):
    """The real policy, except that deciding a share of one reading agency to SDPD raises."""

    def __init__(self, base: SharingPolicy, bad_reader: str) -> None:
        self.__dict__.update(base.__dict__)
        self.bad_reader = bad_reader

    def decide(self, reader_ori: str, recipient_ori: str, purpose: str = "hotlist_alert") -> Decision:
        if reader_ori == self.bad_reader and recipient_ori == SDPD:
            raise ZeroDivisionError("injected")
        return super().decide(reader_ori, recipient_ori, purpose)


def test_a_fault_sharing_one_read_dead_letters_that_read_only_with_none_of_its_outputs() -> None:
    # the read of ICE's camera: its first share (to ICE itself) is decided, the second (SDPD) raises
    records = records_of([read("r1"), read("ice", "7SDQ551", ICE), read("r3", "AMBER01"), b"[]"])
    pipeline = make_pipeline(policy=FaultyPolicy(POLICY, ICE))
    result = pipeline.process(records)  # the fault stays with its read: no bisection needed
    assert result.dlq_reasons == {"internal_error": 1, "not_object": 1}
    pill = next(d for d in result.dead_letters if headers_of(d).get("platewatch.exception") == b"ZeroDivisionError")
    assert pill.value == records[1].value
    assert all(orjson.loads(o.value)["read_id"] != "ice" for o in result.audits), "no audit of a read not shared"
    assert all(read_.read_id != "ice" for read_, _ in result.hits)
    assert {orjson.loads(o.value)["read"]["read_id"] for o in result.alerts} == {"r1", "r3"}
    assert result.processed == 2


# ---- the breaker ----------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def breaker(clock: Clock, **kw: Any) -> CircuitBreaker:
    return CircuitBreaker(
        BreakerSettings(**{"window_seconds": 60, "max_errors": 10, "max_error_ratio": 0.1, **kw}), clock
    )


def test_breaker_trips_only_past_both_thresholds() -> None:
    clock = Clock()
    b = breaker(clock)
    assert not b.record(50, 10)  # 10 is not more than 10
    assert not b.tripped and b.reason == ""
    assert b.record(50, 1)  # 11 of 100: more than 10 and more than 10%
    state = b.state()
    assert state.tripped and (state.errors, state.records, state.tripped_at) == (11, 100, 1000.0)
    assert b.reason == "11 internal errors in 100 records (11.0%) in the last 60s, more than 10 and more than 10.0%"


def test_breaker_ignores_many_errors_in_a_large_stream_and_a_high_share_of_few() -> None:
    clock = Clock()
    b = breaker(clock)
    assert not b.record(10_000, 500)  # many errors, 5%
    b = breaker(clock)
    assert not b.record(10, 10)  # every record, but only 10
    assert not b.record(0, 0)


def test_breaker_window_slides_and_trips_stay_until_reset() -> None:
    clock = Clock()
    b = breaker(clock)
    b.record(20, 10)
    clock.now += 61  # those errors have left the window
    assert not b.record(20, 10)
    assert b.state().errors == 10
    clock.now += 30
    assert b.record(10, 5)  # 15 of 30 within the last 60 s
    clock.now += 3600
    assert b.tripped and b.state().errors == 0, "tripped until reset, whatever the window says now"
    b.reset()
    assert not b.tripped and b.reason == "" and b.state().records == 0
    assert not b.record(100, 0)


def test_breaker_counts_batch_results() -> None:
    clock = Clock()
    b = breaker(clock, max_errors=0, max_error_ratio=0.0)
    result = PIPELINE.process(records_of([read("r1"), RECURSION_PILL]))
    assert b.observe(result)
    assert b.reason.startswith("1 internal errors in 2 records")


@pytest.mark.parametrize(
    "bad",
    [{"window_seconds": 0}, {"max_errors": -1}, {"max_error_ratio": 1.0}, {"max_error_ratio": -0.1}, {"buckets": 0}],
)
def test_breaker_settings_are_checked(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        BreakerSettings(**bad)


def test_breaker_refuses_impossible_counts() -> None:
    with pytest.raises(ValueError):
        breaker(Clock()).record(1, 2)


def test_a_lone_pill_and_an_empty_batch() -> None:
    pill: ConsumedRecord = SimulatedRecord(RECURSION_PILL)
    assert PIPELINE.process_isolating([pill]).internal_errors == 1
    assert PIPELINE.process_isolating([]).reads == 0
