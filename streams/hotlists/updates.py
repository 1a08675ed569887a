"""Hotlist-update records: one entry per record on a compacted topic.

Key: `list|state|plate` (UTF-8). Value: JSON (schemas/hotlist-update.schema.json) holding the entry
and, optionally, its list's settings. A null value (a tombstone) removes the entry; compaction then
forgets it. Every worker replays the whole topic into its index.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Annotated, Any

import msgspec

from streams.hotlists.index import HotlistIndex
from streams.hotlists.model import FOREVER, NO_TIME, HotlistEntry, HotlistInfo, StateMatch, Vehicle


class UpdateError(ValueError):
    """A hotlist-update record that cannot be applied; the index is left unchanged."""


def update_key(list_id: str, state: str, plate: str) -> bytes:
    return f"{list_id}|{state}|{plate}".encode()


CANONICAL_KEY = re.compile(r"([^|]+)\|([A-Z]{2}|)\|([A-Z0-9]{1,10})")


def parse_key(key: bytes) -> tuple[str, str, str]:
    """The (list, state, plate) of a record key; plate and state must be canonical, as
    `update_key` writes them (catch-up checks a whole batch of keys at once: update_batches.py)."""
    try:
        match = CANONICAL_KEY.fullmatch(key.decode())
    except UnicodeDecodeError:
        match = None
    if match is None:
        raise UpdateError(f"key {key[:64]!r} is not list|state|plate with a canonical state and plate")
    list_id, state, plate = match.groups()
    return list_id, state, plate


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
        doc["vehicle"] = {k: getattr(entry.vehicle, k) for k in Vehicle._fields if getattr(entry.vehicle, k)}
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


def encode_tombstone(list_id: str, state: str, plate: str) -> tuple[bytes, None]:
    return update_key(list_id, state, plate), None


Bounded = Annotated[int, msgspec.Meta(ge=0, le=FOREVER)]


class _VehicleDoc(msgspec.Struct, gc=False, frozen=True, omit_defaults=True):  # frozen: a cache key in catch-up
    year: str = ""
    make: str = ""
    model: str = ""
    style: str = ""
    colour: str = ""


class EntryDoc(msgspec.Struct, gc=False, omit_defaults=True):
    plate: str
    state: str = ""
    category: str = ""
    ncic_code: str = ""
    priority: Annotated[int, msgspec.Meta(ge=0, le=100)] | None = None
    owner_ori: str = ""
    case_number: str = ""
    effective: Bounded | None = None
    expiry: Bounded | None = None
    vehicle: _VehicleDoc | None = None
    note: str = ""
    annotations: dict[str, str] = {}


class _ListDoc(msgspec.Struct, gc=False):
    id: str
    name: str = ""
    owner_ori: str = ""
    priority: Annotated[int, msgspec.Meta(ge=0, le=100)] = 50
    ocr_tolerance: Annotated[int, msgspec.Meta(ge=0, le=2)] = 1
    state_match: StateMatch = StateMatch.FLAG
    category: str = ""


class UpdateDoc(msgspec.Struct, gc=False, forbid_unknown_fields=True, omit_defaults=True):
    entry: EntryDoc
    list: _ListDoc | None = None


# msgspec: decode and type-check in one C pass; a replica replays 10 million of these at start-up,
# and a publisher encodes as many (the same structs: fields at their defaults are left out)
UPDATE_DECODER = msgspec.json.Decoder(UpdateDoc)
_ENCODER = msgspec.json.Encoder()
_NO_VEHICLE = Vehicle()


def encode_upsert(entry: HotlistEntry, info: HotlistInfo | None = None) -> tuple[bytes, bytes]:
    return encode_upserts([entry], info)[0]


def encode_upserts(entries: Iterable[HotlistEntry], first_info: HotlistInfo | None = None) -> list[tuple[bytes, bytes]]:
    """Upsert records of `entries`; the first carries `first_info`, its list's settings."""
    i = first_info
    lst = (
        None
        if i is None
        else _ListDoc(i.list_id, i.name, i.owner_ori, i.priority, i.ocr_tolerance, i.state_match, i.category)
    )
    vehicles: dict[Vehicle, _VehicleDoc | None] = {_NO_VEHICLE: None}
    encode = _ENCODER.encode
    out: list[tuple[bytes, bytes]] = []
    for e in entries:
        v = e.vehicle
        if v in vehicles:
            vehicle = vehicles[v]
        else:
            vehicle = vehicles[v] = _VehicleDoc(*v)
        body = EntryDoc(
            e.plate,
            e.state,
            e.category,
            e.ncic_code,
            e.priority,
            e.owner_ori,
            e.case_number,
            None if e.effective == NO_TIME else e.effective,
            None if e.expiry == FOREVER else e.expiry,
            vehicle,
            e.note,
            dict(e.annotations) if e.annotations else {},
        )
        out.append((update_key(e.list_id, e.state, e.plate), encode(UpdateDoc(body, lst))))
        lst = None
    return out


def entry_of(list_id: str, state: str, plate: str, body: EntryDoc) -> HotlistEntry:
    v = body.vehicle
    return HotlistEntry(
        list_id,
        plate,
        state,
        body.category,
        body.ncic_code,
        body.priority,
        body.owner_ori,
        body.case_number,
        body.effective or NO_TIME,
        FOREVER if body.expiry is None else body.expiry,
        _NO_VEHICLE if v is None else Vehicle(v.year, v.make, v.model, v.style, v.colour),
        body.note,
        tuple(body.annotations.items()),
    )


def decode_update(
    key: bytes, value: bytes | None
) -> tuple[tuple[str, str, str], HotlistEntry | None, HotlistInfo | None]:
    """Key, entry (None for a tombstone) and optional list settings of one record."""
    list_id, state, plate = parse_key(key)
    if value is None:
        return (list_id, state, plate), None, None
    try:
        doc = UPDATE_DECODER.decode(value)
    except msgspec.DecodeError as exc:
        raise UpdateError(f"hotlist update for {list_id}|{state}|{plate} is malformed: {exc}") from None
    body = doc.entry
    if body.plate != plate or body.state != state:
        raise UpdateError(f"record key {key!r} does not match its entry ({body.plate!r}, {body.state!r})")
    entry = entry_of(list_id, state, plate, body)
    info = None
    if doc.list is not None:
        lst = doc.list
        if lst.id != list_id:
            raise UpdateError(f"record key names list {list_id!r} but carries settings of {lst.id!r}")
        try:
            info = HotlistInfo(
                lst.id,
                lst.name or lst.id,
                lst.owner_ori,
                lst.priority,
                lst.ocr_tolerance,
                lst.state_match,
                lst.category,
            )
        except ValueError as exc:
            raise UpdateError(f"list settings of {list_id!r} are invalid: {exc}") from None
    return (list_id, state, plate), entry, info


def apply_update(index: HotlistIndex, key: bytes, value: bytes | None) -> None:
    """Apply one record to the index; raises UpdateError (and changes nothing) when it is malformed."""
    (list_id, state, plate), entry, info = decode_update(key, value)
    if entry is None:
        index.remove(list_id, state, plate)
        return
    if info is not None:
        index.define_list(info)
    index.upsert(entry)
