"""Catch-up staging decides every record as a live update would: same entries, same refusals."""

from __future__ import annotations

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.hotlists.index import HotlistIndex
from streams.hotlists.model import HotlistEntry, HotlistInfo, Vehicle
from streams.hotlists.update_batches import UpdateStager
from streams.hotlists.updates import UpdateError, decode_update, encode_tombstone, encode_upsert

Record = tuple[bytes | None, bytes | None]


def reference(records: list[Record]) -> tuple[HotlistIndex, set[int]]:
    """One record at a time through `decode_update`, the way the replica staged before."""
    index = HotlistIndex()
    cols = index.columns()
    tombstoned: set[tuple[str, str, str]] = set()
    refused: set[int] = set()
    for pos, (key, value) in enumerate(records):
        try:
            k, entry, info = decode_update(key or b"", value)
            if entry is not None:
                index.column_ids(entry)  # a priority out of range or a 256th state refuses it
        except (UpdateError, ValueError):
            refused.add(pos)
            continue
        if entry is None:
            tombstoned.add(k)
            continue
        tombstoned.discard(k)
        if info is not None:
            index.define_list(info)
        index.add_to_columns(cols, entry)
    index.load(cols)
    for k in tombstoned:
        index.remove(*k)
    return index, refused


def staged(records: list[Record], batch: int) -> tuple[HotlistIndex, set[int]]:
    index = HotlistIndex()
    stager = UpdateStager(index)
    refused: set[int] = set()
    for start in range(0, len(records), batch):
        refused |= {start + pos for pos, _ in stager.stage(records[start : start + batch])}
    stager.finish()
    return index, refused


plates = st.sampled_from(["7ABC123", "8XYZ999", "ABC1234", "1A", "Z9"])
states = st.sampled_from(["CA", "NV", ""])
lists = st.sampled_from(["ncic", "local"])


@st.composite
def upserts(draw: st.DrawFn) -> Record:
    entry = HotlistEntry(
        draw(lists),
        draw(plates),
        draw(states),
        category=draw(st.sampled_from(["", "stolen_vehicle", "amber_alert"])),
        priority=draw(st.sampled_from([None, 0, 10])),
        case_number=draw(st.sampled_from(["", "C-1", "C-2"])),
        expiry=draw(st.sampled_from([2_000_000_000, 4_102_444_800])),
        vehicle=draw(st.sampled_from([Vehicle(), Vehicle(year="2019", make="TOYT")])),
        annotations=draw(st.sampled_from([(), (("child", "J. Doe"),)])),
    )
    info = draw(st.sampled_from([None, HotlistInfo(entry.list_id, "L", ocr_tolerance=2)]))
    return encode_upsert(entry, info)


@st.composite
def broken(draw: st.DrawFn) -> Record:
    key, value = draw(upserts())
    assert key is not None and value is not None
    doc = orjson.loads(value)
    kind = draw(st.sampled_from(["key", "json", "mismatch", "priority", "field", "utf8", "nokey", "lower", "newline"]))
    if kind == "key":
        return b"no-separators", value
    if kind == "json":
        return key, value[:-3]
    if kind == "mismatch":
        doc["entry"]["plate"] = "QQQ111"
    if kind == "priority":
        doc["entry"]["priority"] = 500
    if kind == "field":
        doc["extra"] = 1
    if kind == "utf8":
        return key + b"\xd0", value
    if kind == "nokey":
        return None, value
    if kind == "newline":  # a key and plate that read as two canonical lines when joined
        doc["entry"]["plate"] += "\nncic|CA|7ABC123"
        return key + b"\nncic|CA|7ABC123", orjson.dumps(doc)
    if kind == "lower":
        doc["entry"]["plate"] = doc["entry"]["plate"].lower()
        return key.lower(), orjson.dumps(doc)
    return key, orjson.dumps(doc)


tombstones = st.builds(encode_tombstone, lists, states, plates)
records = st.lists(st.one_of(upserts(), upserts(), tombstones, broken()), max_size=60)


@settings(max_examples=300, deadline=None)
@given(records, st.integers(1, 25))
def test_staging_matches_one_record_at_a_time(recs: list[Record], batch: int) -> None:
    expected_index, expected_refused = reference(recs)
    index, refused = staged(recs, batch)
    assert refused == expected_refused
    live: dict[tuple[str, str, str], HotlistEntry] = {}  # the topic's meaning, read in order
    for pos, (key, value) in enumerate(recs):
        if pos not in refused:
            k, entry, _ = decode_update(key or b"", value)
            if entry is None:
                live.pop(k, None)
            else:
                live[k] = entry
    assert sorted(index.entries(), key=repr) == sorted(live.values(), key=repr)
    assert sorted(index.entries(), key=repr) == sorted(expected_index.entries(), key=repr)
    assert {s.info.list_id: s for s in index.stats()} == {s.info.list_id: s for s in expected_index.stats()}


def test_a_later_record_wins_and_a_tombstone_removes_across_batches() -> None:
    a = HotlistEntry("ncic", "7ABC123", "CA", case_number="old")
    b = a._replace(case_number="new")
    gone = HotlistEntry("ncic", "8XYZ999", "CA")
    recs: list[Record] = [
        encode_upsert(a),
        encode_upsert(gone),
        encode_upsert(b),
        encode_tombstone("ncic", "CA", "8XYZ999"),
    ]
    index, refused = staged(recs, 1)
    assert not refused
    assert list(index.entries()) == [b]
