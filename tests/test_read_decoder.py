"""The plate-read decoder and the published JSON Schema agree; real simulated reads are valid."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import jsonschema
import orjson
import pytest

from streams.hotlists.index import HotlistIndex
from streams.pipeline.read_decoder import PlateRead, ReadRejection, decode_batch, decode_read
from streams.policy.store import PolicyStore
from streams.sim.camera_feed import CameraFeed, FeedSettings
from streams.sim.synthetic import synthetic_hotlist

SCHEMA = json.loads((Path(__file__).resolve().parent.parent / "schemas" / "plate-read.schema.json").read_text())
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA, format_checker=jsonschema.FormatChecker())
GOOD: dict[str, Any] = {
    "read_id": "r-1",
    "time": "2026-11-27T10:00:00.123Z",
    "camera_id": "CA0194200-cam01",
    "agency_ori": "CA0194200",
    "plate": "7abc-123",
    "state": "ca",
    "confidence": 0.9,
    "candidates": [{"plate": "7ABC128", "confidence": 0.4}],
    "location": {"lat": 34.05, "lon": -118.24},
    "image_ref": "img://cam01/1.jpg",
}


def test_simulated_reads_are_valid_against_the_schema_and_decode() -> None:
    index = HotlistIndex()
    synthetic_hotlist(index, 1000)
    feed = CameraFeed(index, PolicyStore().current.registry, FeedSettings(hit_rate=0.2, seed=4))  # type: ignore[union-attr]
    values = [v for _, v in feed.batch(300)]
    for value in values:
        VALIDATOR.validate(orjson.loads(value))
    positions, reads, bad, _ = decode_batch(values)
    assert positions == list(range(300)) and len(reads) == 300 and bad == []


def without(name: str) -> dict[str, Any]:
    return {k: v for k, v in GOOD.items() if k != name}


CASES = [
    (GOOD, None),
    (without("state"), None),
    (without("location"), None),
    ({**GOOD, "extra_vendor_field": 1}, None),
    (without("read_id"), ReadRejection.MISSING_FIELD),
    (without("time"), ReadRejection.MISSING_FIELD),
    (without("plate"), ReadRejection.MISSING_FIELD),
    ({**GOOD, "plate": 7}, ReadRejection.WRONG_TYPE),
    ({**GOOD, "plate": ""}, ReadRejection.WRONG_TYPE),
    ({**GOOD, "plate": "X" * 25}, ReadRejection.WRONG_TYPE),
    ({**GOOD, "agency_ori": "ca0194200"}, ReadRejection.BAD_ORI),
    ({**GOOD, "agency_ori": "CA01942"}, ReadRejection.BAD_ORI),
    ({**GOOD, "time": "yesterday"}, ReadRejection.BAD_TIME),
    ({**GOOD, "time": "2026-11-27T10:00:00"}, ReadRejection.BAD_TIME),  # no offset
    ({**GOOD, "state": "CAL"}, ReadRejection.BAD_STATE),
    ({**GOOD, "confidence": 1.5}, ReadRejection.WRONG_TYPE),
    ({**GOOD, "candidates": [{"plate": "A"}] * 9}, ReadRejection.WRONG_TYPE),
    ({**GOOD, "candidates": [{"confidence": 0.3}]}, ReadRejection.MISSING_FIELD),
    ({**GOOD, "location": {"lat": 100, "lon": 0}}, ReadRejection.WRONG_TYPE),
]


@pytest.mark.parametrize(("doc", "reason"), CASES)
def test_decoder_and_schema_agree(doc: dict[str, Any], reason: ReadRejection | None) -> None:
    result = decode_read(orjson.dumps(doc))
    schema_valid = VALIDATOR.is_valid(doc)
    if reason is None:
        assert isinstance(result, PlateRead), result
        assert schema_valid
    else:
        assert not isinstance(result, PlateRead)
        assert result[0] is reason, result
        assert not schema_valid, "the schema accepts what the decoder refuses"


@pytest.mark.parametrize(("doc", "reason"), CASES)
def test_a_batch_decodes_each_message_as_it_would_alone(doc: dict[str, Any], reason: ReadRejection | None) -> None:
    """Among good reads (a batch decoded at once), a message is accepted or rejected as on its own."""
    good = orjson.dumps(GOOD)
    positions, reads, bad, _ = decode_batch([good, orjson.dumps(doc), good])
    if reason is None:
        assert positions == [0, 1, 2] and bad == [] and reads[1] == decode_read(orjson.dumps(doc))
    else:
        assert positions == [0, 2] and [(b.index, b.reason) for b in bad] == [(1, reason.value)]


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (b"{not json", ReadRejection.NOT_JSON),
        (b"[1, 2]", ReadRejection.NOT_OBJECT),
        (b"", ReadRejection.NOT_JSON),
        (None, ReadRejection.NOT_JSON),
        (b'{"read_id": "' + b"x" * 20000 + b'"}', ReadRejection.OVERSIZE),
        # nested deeper than the stack allows: msgspec raises RecursionError, not a DecodeError
        (orjson.dumps(GOOD)[:-1] + b',"vendor":' + b"[" * 3000 + b"]" * 3000 + b"}", ReadRejection.INTERNAL_ERROR),
    ],
)
def test_messages_that_are_not_reads(value: bytes | None, reason: ReadRejection) -> None:
    result = decode_read(value)
    assert not isinstance(result, PlateRead) and result[0] is reason


def test_decoded_read_normalises_state_and_time() -> None:
    read = decode_read(orjson.dumps(GOOD))
    assert isinstance(read, PlateRead)
    assert read.plate_state == "CA"
    assert read.time_ms == 1_795_773_600_123  # 2026-11-27T10:00:00.123Z
    assert [c.plate for c in read.candidates] == ["7ABC128"]


def test_a_batch_takes_states_of_every_valid_form_and_counts_its_agencies() -> None:
    """States other than "" or two upper-case letters (decoded by a second decoder) are read as on
    their own, next to the usual ones; a bad state among them is still rejected; `agencies` counts
    the good reads by agency_ori."""
    states = ["CA", " ca ", "", "nv", "C1", "AZ"]
    values = [
        orjson.dumps({**GOOD, "state": state, "agency_ori": f"CA019420{i % 2}"}) for i, state in enumerate(states)
    ]
    positions, reads, bad, agencies = decode_batch(values)
    assert positions == [0, 1, 2, 3, 5]
    assert [(b.index, b.reason) for b in bad] == [(4, ReadRejection.BAD_STATE.value)]
    assert [r.plate_state for r in reads] == ["CA", "CA", "", "NV", "AZ"]
    assert reads == [decode_read(values[i]) for i in positions]
    assert agencies == Counter({"CA0194200": 2, "CA0194201": 3})
    # every read good: the same, in one pass
    good = [values[i] for i in positions]
    assert decode_batch(good) == (list(range(5)), reads, [], agencies)


def test_a_message_that_raises_is_rejected_and_the_batch_goes_on() -> None:
    deep = orjson.dumps(GOOD)[:-1] + b',"vendor":' + b'{"a":' * 2000 + b"1" + b"}" * 2000 + b"}"
    positions, _, bad, _ = decode_batch([orjson.dumps(GOOD), deep, b"[]", orjson.dumps(GOOD)])
    assert positions == [0, 3]
    assert [(b.index, b.reason, b.exception) for b in bad] == [
        (1, "internal_error", "RecursionError"),
        (2, "not_object", ""),
    ]
    assert bad[0].detail.startswith("RecursionError: ")
