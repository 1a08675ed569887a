"""Hotlist-update records: one entry per record on a compacted topic.

Key: `list|state|plate` (UTF-8). Value: JSON (schemas/hotlist-update.schema.json) holding the entry
and, optionally, its list's settings. A null value (a tombstone) removes the entry; compaction then
forgets it. Every worker replays the whole topic into its index.
"""

from __future__ import annotations

from typing import Any

import orjson

from streams.hotlist_index import HotlistIndex
from streams.hotlist_model import FOREVER, NO_TIME, HotlistEntry, HotlistInfo, StateMatch, Vehicle
from streams.plates import PlateError, normalise_plate, normalise_state


class UpdateError(ValueError):
    """A hotlist-update record that cannot be applied; the index is left unchanged."""


def update_key(list_id: str, state: str, plate: str) -> bytes:
    return f"{list_id}|{state}|{plate}".encode()


def parse_key(key: bytes) -> tuple[str, str, str]:
    try:
        list_id, state, plate = key.decode().split("|")
        return list_id, normalise_state(state), normalise_plate(plate)
    except (UnicodeDecodeError, ValueError, PlateError) as exc:
        raise UpdateError(f"key {key[:64]!r} is not list|state|plate: {exc}") from None


def entry_to_json(entry: HotlistEntry) -> dict[str, Any]:
    doc: dict[str, Any] = {"plate": entry.plate, "state": entry.state}
    for name in ("category", "ncic_code", "owner_ori", "case_number", "note"):
        if getattr(entry, name):
            doc[name] = getattr(entry, name)
    if entry.priority is not None:
        doc["priority"] = entry.priority
    if entry.effective != NO_TIME:
        doc["effective"] = entry.effective
    if entry.expiry != FOREVER:
        doc["expiry"] = entry.expiry
    if entry.vehicle != Vehicle():
        doc["vehicle"] = {k: getattr(entry.vehicle, k) for k in Vehicle.__slots__ if getattr(entry.vehicle, k)}
    if entry.annotations:
        doc["annotations"] = dict(entry.annotations)
    return doc


def list_to_json(info: HotlistInfo) -> dict[str, Any]:
    return {
        "id": info.list_id,
        "name": info.name,
        "owner_ori": info.owner_ori,
        "priority": info.priority,
        "ocr_tolerance": info.ocr_tolerance,
        "state_match": info.state_match.value,
        "category": info.category,
    }


def encode_upsert(entry: HotlistEntry, info: HotlistInfo | None = None) -> tuple[bytes, bytes]:
    doc: dict[str, Any] = {"entry": entry_to_json(entry)}
    if info is not None:
        doc["list"] = list_to_json(info)
    return update_key(*entry.key), orjson.dumps(doc)


def encode_tombstone(list_id: str, state: str, plate: str) -> tuple[bytes, None]:
    return update_key(list_id, state, plate), None


def decode_update(
    key: bytes, value: bytes | None
) -> tuple[tuple[str, str, str], HotlistEntry | None, HotlistInfo | None]:
    """Key, entry (None for a tombstone) and optional list settings of one record."""
    list_id, state, plate = parse_key(key)
    if value is None:
        return (list_id, state, plate), None, None
    try:
        doc = orjson.loads(value)
        body = doc["entry"]
        vehicle = body.get("vehicle") or {}
        entry = HotlistEntry(
            list_id=list_id,
            plate=normalise_plate(body["plate"]),
            state=normalise_state(body.get("state", "")),
            category=str(body.get("category", "")),
            ncic_code=str(body.get("ncic_code", "")),
            priority=_int_or_none(body.get("priority"), 0, 100),
            owner_ori=str(body.get("owner_ori", "")),
            case_number=str(body.get("case_number", "")),
            effective=_int_or_none(body.get("effective"), 0, FOREVER) or NO_TIME,
            expiry=_int_or_none(body.get("expiry"), 0, FOREVER) or FOREVER,
            vehicle=Vehicle(**{k: str(vehicle[k]) for k in Vehicle.__slots__ if k in vehicle}),
            note=str(body.get("note", "")),
            annotations=tuple((str(k), str(v)) for k, v in (body.get("annotations") or {}).items()),
        )
        info = None
        if "list" in doc:
            lst = doc["list"]
            info = HotlistInfo(
                list_id=lst["id"],
                name=lst.get("name", lst["id"]),
                owner_ori=lst.get("owner_ori", ""),
                priority=int(lst.get("priority", 50)),
                ocr_tolerance=int(lst.get("ocr_tolerance", 1)),
                state_match=StateMatch(lst.get("state_match", "flag")),
                category=lst.get("category", ""),
            )
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, PlateError, AttributeError) as exc:
        raise UpdateError(f"hotlist update for {list_id}|{state}|{plate} is malformed: {exc}") from None
    if entry.key != (list_id, state, plate):
        raise UpdateError(f"record key {key!r} does not match its entry {entry.key}")
    if info is not None and info.list_id != list_id:
        raise UpdateError(f"record key names list {list_id!r} but carries settings of {info.list_id!r}")
    return (list_id, state, plate), entry, info


def _int_or_none(value: object, low: int, high: int) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ValueError(f"{value!r} is not an integer in {low}..{high}")
    return value


def apply_update(index: HotlistIndex, key: bytes, value: bytes | None) -> None:
    """Apply one record to the index; raises UpdateError (and changes nothing) when it is malformed."""
    (list_id, state, plate), entry, info = decode_update(key, value)
    if entry is None:
        index.remove(list_id, state, plate)
        return
    if info is not None:
        index.define_list(info)
    index.upsert(entry)
