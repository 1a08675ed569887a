"""Hits become alerts: who should receive each, and the alert document a dispatcher reads."""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from typing import Any

import orjson

from streams.hotlists.model import Hit, HotlistInfo, MatchKind, Vehicle
from streams.pipeline.read_decoder import PlateRead
from streams.policy.agencies import AgencyRegistry

ALERT_NAMESPACE = uuid.UUID("0b6f4c57-7a0e-4f43-8f0a-2d0c1f5e9b21")


_NAMESPACE_BYTES = ALERT_NAMESPACE.bytes
_UUID5_CLEAR = ~((0xF000 << 64) | (0xC000 << 48))  # the version and variant bits of a uuid5 ...
_UUID5_SET = (0x5000 << 64) | (0x8000 << 48)  # ... and their values


def alert_id(read_id: str, hit: Hit) -> str:
    """Stable for a given read and entry: a redelivered read yields the same id, so consumers dedupe.

    `str(uuid.uuid5(ALERT_NAMESPACE, name))`, computed without the UUID object (a third of the cost)."""
    list_id, state, plate = hit.entry.key
    name = f"{read_id}|{list_id}|{state}|{plate}".encode()
    digest = int.from_bytes(hashlib.sha1(_NAMESPACE_BYTES + name, usedforsecurity=False).digest()[:16])
    h = f"{(digest & _UUID5_CLEAR) | _UUID5_SET:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def recipients(reading_agency: str, owner: str, list_id: str, registry: AgencyRegistry | None) -> list[str]:
    """The reading agency, the entry's owner (`entry_owner`), then subscribers; each once, in that order."""
    out = [reading_agency]
    if owner:
        out.append(owner)
    if registry is not None:
        # a subscription names the states whose *reading agencies* it wants alerts from
        out.extend(a.ori for a in registry.subscribers(list_id, _reader_state(reading_agency, registry)))
    return list(dict.fromkeys(out))


def entry_owner(hit: Hit, info: HotlistInfo | None) -> str:
    """Who owns the hit's entry: its own owner, else its list's (or "")."""
    return hit.entry.owner_ori or (info.owner_ori if info else "")


def _reader_state(reading_agency: str, registry: AgencyRegistry) -> str:
    agency = registry.get(reading_agency)
    return agency.state if agency else ""


def iso_ms(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


_VEHICLE_FIELDS = Vehicle._fields  # year, make, model, style, colour


def alert_document(
    read: PlateRead, hit: Hit, info: HotlistInfo | None, recipient: str, emitted_at: str, the_id: str
) -> dict[str, Any]:
    e = hit.entry
    read_doc: dict[str, Any] = {
        "read_id": read.read_id,
        "time": iso_ms(read.time_ms),
        "camera_id": read.camera_id,
        "agency_ori": read.agency_ori,
        "plate_as_read": read.plate,
        "plate": hit.matched_plate,
        "state": read.plate_state,
    }
    if read.confidence is not None:
        read_doc["confidence"] = read.confidence
    if read.location is not None:
        read_doc["location"] = {"lat": read.location.lat, "lon": read.location.lon}
    if read.image_ref:
        read_doc["image_ref"] = read.image_ref
    vehicle = {k: v for k, v in zip(_VEHICLE_FIELDS, e.vehicle, strict=True) if v}
    return {
        "alert_id": the_id,
        "emitted_at": emitted_at,
        "recipient_ori": recipient,
        "priority": hit.priority,
        "read": read_doc,
        "entry": {
            "list_id": e.list_id,
            "list_name": info.name if info else e.list_id,
            "plate": e.plate,
            "state": e.state,
            "category": e.category or (info.category if info else ""),
            "ncic_code": e.ncic_code,
            "case_number": e.case_number,
            "owner_ori": entry_owner(hit, info),
            "vehicle": vehicle,
            "note": e.note,
            "annotations": dict(e.annotations),
        },
        "match": {
            "kind": hit.kind.value,
            "differing_positions": list(hit.differing_positions),
            "verify_visually": hit.kind is MatchKind.EQUIVALENT,
            "state_mismatch": hit.state_mismatch,
        },
    }


def alert_template(
    read: PlateRead, hit: Hit, info: HotlistInfo | None, emitted_at: str, the_id: str
) -> tuple[bytes, bytes]:
    """One hit's alert as JSON around its `recipient_ori`: `before + orjson.dumps(recipient) + after` is
    byte for byte `orjson.dumps(alert_document(...))` for that recipient (a hit usually goes to several:
    the document is built and encoded once). A JSON string escapes its quotes, so the first
    `"recipient_ori":""` in the encoding is the field itself."""
    encoded = orjson.dumps(alert_document(read, hit, info, "", emitted_at, the_id))
    before, field, after = encoded.partition(b'"recipient_ori":""')
    if not field:
        raise ValueError("alert_document lost its recipient_ori")
    return before + b'"recipient_ori":', after
