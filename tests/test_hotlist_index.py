"""The hotlist index agrees with a brute-force reference on random lists, reads and updates."""

from __future__ import annotations

import dataclasses

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streams.hotlists.columns import BaseSegment, BitFilter, CodeSet
from streams.hotlists.index import HotlistIndex
from streams.hotlists.model import FOREVER, HotlistEntry, HotlistInfo, MatchKind, MatchQuery, StateMatch
from streams.plates.codes import OcrClasses, codes_to_digits, digits_to_codes
from tests.hotlist_reference import HitKey, ReferenceIndex

# a small alphabet rich in look-alikes, so random plates collide and OCR equivalence is exercised
CHARS = "0ODQ1I8B5SAX"
plates = st.text(alphabet=CHARS, min_size=1, max_size=4)
states = st.sampled_from(["", "CA", "NV"])
LISTS = [
    HotlistInfo("stolen", "Stolen vehicles", priority=20, ocr_tolerance=1),
    HotlistInfo("amber", "AMBER alerts", priority=0, ocr_tolerance=2, state_match=StateMatch.IGNORE),
    HotlistInfo("local", "Local BOLO", priority=50, ocr_tolerance=0, state_match=StateMatch.REQUIRE),
]
entries = st.builds(
    HotlistEntry,
    list_id=st.sampled_from([i.list_id for i in LISTS]),
    plate=plates,
    state=states,
    case_number=st.text(alphabet="0123456789", max_size=6),
    priority=st.one_of(st.none(), st.integers(0, 100)),
    effective=st.sampled_from([0, 50, 150]),
    expiry=st.sampled_from([FOREVER, 100, 200]),
)
reads = st.builds(
    MatchQuery,
    read_id=st.just("r"),
    plate=st.one_of(plates, st.sampled_from(["", "a-b", "Ｏ1", "TOOLONGPLATE1"])),
    state=states,
    time=st.sampled_from([0, 75, 120, 250]),
    candidates=st.lists(plates, max_size=2).map(tuple),
)


def index_hits(index: HotlistIndex, batch: list[MatchQuery]) -> set[HitKey]:
    return {
        (h.read_index, h.entry.key, h.kind, h.differing_positions, h.state_mismatch) for h in index.match_reads(batch)
    }


def fresh() -> tuple[HotlistIndex, ReferenceIndex]:
    index, ref = HotlistIndex(OcrClasses()), ReferenceIndex(OcrClasses())
    for info in LISTS:
        index.define_list(info)
        ref.define_list(info)
    return index, ref


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    loaded=st.lists(entries, max_size=40),
    updates=st.lists(st.tuples(st.booleans(), entries), max_size=15),
    batch=st.lists(reads, min_size=1, max_size=25),
)
def test_index_agrees_with_reference(
    loaded: list[HotlistEntry], updates: list[tuple[bool, HotlistEntry]], batch: list[MatchQuery]
) -> None:
    index, ref = fresh()
    index.load_entries(loaded)
    ref.load(loaded)
    assert index_hits(index, batch) == ref.match(batch)
    for remove, e in updates:
        if remove:
            index.remove(*e.key)
            ref.remove(*e.key)
        else:
            index.upsert(e)
            ref.upsert(e)
    assert index_hits(index, batch) == ref.match(batch)
    assert len(index) == len(ref.entries)
    assert sorted(index.entries(), key=lambda e: e.key) == sorted(ref.entries.values(), key=lambda e: e.key)


@settings(max_examples=60, deadline=None)
@given(
    first=st.lists(entries, max_size=30),
    second=st.lists(entries, max_size=30),
    batch=st.lists(reads, max_size=20),
)
def test_full_load_replaces_a_list_and_append_keeps_it(
    first: list[HotlistEntry], second: list[HotlistEntry], batch: list[MatchQuery]
) -> None:
    index, ref = fresh()
    for group, replace in ((first, ["stolen"]), (second, ["stolen"]), (first, [])):
        index.load_entries(group, replace_lists=replace)
        ref.load(group, replace_lists=replace)
        assert index_hits(index, batch) == ref.match(batch)


def test_exact_and_equivalent_hits_say_what_differs() -> None:
    index, _ = fresh()
    index.upsert(HotlistEntry("stolen", "8OB5", "CA", case_number="C-1"))
    hits = index.match_reads(
        [
            MatchQuery("r1", "8OB5", "CA", 10),
            MatchQuery("r2", "B0B5", "CA", 10),  # two look-alike changes: beyond the stolen list's tolerance
            MatchQuery("r3", "8-0b5", "NV", 10),  # one change (O→0), wrong state
        ]
    )
    assert [(h.read_index, h.kind, h.differing_positions, h.state_mismatch) for h in hits] == [
        (0, MatchKind.EXACT, (), False),
        (2, MatchKind.EQUIVALENT, (1,), True),
    ]
    assert hits[1].matched_plate == "80B5"
    assert hits[1].entry.case_number == "C-1"


def test_hits_are_ordered_by_priority_and_expired_entries_do_not_hit() -> None:
    index, _ = fresh()
    index.upsert(HotlistEntry("stolen", "ABC123"))
    index.upsert(HotlistEntry("amber", "ABC123"))
    index.upsert(HotlistEntry("local", "ABC123", expiry=100))
    hits = index.match_reads([MatchQuery("r", "ABC123", "", 50)])
    assert [h.entry.list_id for h in hits] == ["amber", "stolen", "local"]
    assert [h.entry.list_id for h in index.match_reads([MatchQuery("r", "ABC123", "", 150)])] == ["amber", "stolen"]
    assert index.expire(now=150) == 1
    assert len(index) == 2


def test_a_non_ascii_look_alike_never_matches() -> None:
    index, _ = fresh()
    index.upsert(HotlistEntry("stolen", "ABC123"))
    assert index.match_reads([MatchQuery("r", "АВС123")]) == []  # Cyrillic А, В, С


def test_batch_with_no_good_plates_returns_nothing() -> None:
    index, _ = fresh()
    plates = index.match(
        __import__("streams.plates.codes", fromlist=["encode_plates"]).encode_plates(["", "!"], index.ocr),
        np.arange(2),
        ["", ""],
        [0, 0],
    )
    assert plates == []


def test_memory_names_what_each_part_holds() -> None:
    index = HotlistIndex()
    index.load_entries([HotlistEntry("ncic", f"{i:07d}", "CA", case_number=f"C{i:05d}") for i in range(1000)])
    parts = index.memory()
    assert parts["base.codes"] == 8 * 1000  # one uint64 a plate
    assert parts["base.cases"] == 6 * 1000  # fixed width: the longest case number
    assert parts["set.exact"] == 0  # the set of plate codes is base.codes itself
    assert "set.folded" not in parts and parts["filter.exact"] == parts["filter.folded"] == 2**27 // 8
    index.upsert(HotlistEntry("ncic", "LIVE1", "CA"))
    assert index.memory()["delta (estimate)"] > 0 and index.memory()["set.exact"] > 0


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.integers(0, 40), max_size=30),
    st.lists(st.tuples(st.booleans(), st.integers(0, 45)), max_size=40),
    st.lists(st.integers(0, 45), max_size=20),
)
def test_a_code_set_is_a_set(loaded: list[int], changes: list[tuple[bool, int]], probes: list[int]) -> None:
    """A bulk-loaded sorted array (repeats included, as in base.codes) and the live changes since
    answer as one set, code by code and a batch at a time."""
    codes = CodeSet(np.array(sorted(loaded), np.uint64))
    model = set(loaded)
    for add, code in changes:
        if add:
            codes.add(code)
            model.add(code)
        else:
            codes.discard(code)
            model.discard(code)
    asked = [*probes, *loaded, *(c for _, c in changes)]
    assert [c in codes for c in asked] == [c in model for c in asked]
    assert codes.contains_many(np.array(asked, np.uint64)).tolist() == [c in model for c in asked]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 30), st.integers(1, 9)), max_size=25), st.lists(st.integers(0, 32), max_size=20)
)
def test_rows_of_many_codes_span_each_code_run(runs: list[tuple[int, int]], probes: list[int]) -> None:
    """First and end rows of each code in the sorted codes, runs of up to 9 rows included (past the
    steps the search takes before searching for the end) and a run at the end of the array."""
    codes = np.array(sorted(c for c, times in runs for _ in range(times)), np.uint64)
    segment = dataclasses.replace(BaseSegment.empty(), codes=codes)
    asked = np.array([*probes, *(c for c, _ in runs)], np.uint64)
    first, end = segment.rows_for_many(asked)
    assert first.tolist() == np.searchsorted(codes, asked, "left").tolist()
    assert end.tolist() == np.searchsorted(codes, asked, "right").tolist()


def test_a_bit_filter_misses_no_code_and_lets_few_others_through() -> None:
    """At 10M codes, the worker's size: every code added passes, and under 2% of other codes do (one
    bit a code let through 6.8%, each then a binary search of the sorted codes)."""
    rng = np.random.default_rng(7)
    codes = rng.integers(0, 37**8, 10_000_000, np.uint64)
    bits = BitFilter()
    bits.add_many(codes)
    assert bits.maybe(codes).all()
    others = np.setdiff1d(rng.integers(0, 37**8, 1_000_000, np.uint64), codes)
    assert bits.maybe(others).mean() < 0.02


def test_folding_codes_a_chunk_at_a_time_folds_each_code_as_the_whole_array_would() -> None:
    """A replica folds its 10M codes in chunks (the whole digit matrix took 1.1 GB): codes on both
    sides of the chunks' boundaries fold as they do at once."""
    state = HotlistIndex()._state
    codes = np.random.default_rng(3).integers(1, 37**7, 700_000, np.uint64)
    digits, lengths = codes_to_digits(codes)
    assert state.fold_codes(codes).tolist() == digits_to_codes(state.ocr.fold_lut[digits], lengths).tolist()
