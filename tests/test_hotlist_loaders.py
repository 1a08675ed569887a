"""NCIC and CSV loaders on generated samples, edge cases included; hotlist-update records."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import orjson
import pytest

from streams.hotlists.index import HotlistIndex
from streams.hotlists.loaders import HotlistFileError, LoadReport, detect_format, parse_time, read_csv, read_ncic
from streams.hotlists.model import FOREVER, HotlistEntry, HotlistInfo, MatchQuery, Vehicle
from streams.hotlists.updates import UpdateError, apply_update, decode_update, encode_tombstone, encode_upsert

SCHEMAS = Path(__file__).resolve().parent.parent / "schemas"


def ncic_row(code: str, record: str, ori: str, date: str, plate: str, state: str, rest: str = "") -> str:
    return f"{code}{record:<9}{ori:<9}{date:<8}{plate:<10}{state:<2}{rest}"


def test_ncic_extract_fields_header_crlf_and_state_zero() -> None:
    rows = [
        "NCIC LPR EXTRACT 20261127 0600",
        "V123456789LA057020020190509AB123456  CA2009MC2009YAMACYLMCBLK",
        ncic_row("A", "000000042", "CA0190000", "20261126", "7XYZ123", "C0", "2026PC2019TOYTCAM4DSIL"),
        "",
        ncic_row("Q", "1", "CA0190000", "20261126", "ABC", "CA"),
        "V1",
        ncic_row("W", "2", "CA0190000", "2026XX26", "ABC", "CA"),
        ncic_row("F", "3", "CA0190000", "20261126", "AB-C 12", "OR"),
    ]
    data = ("\r\n".join(rows) + "\r\n").encode()
    report = LoadReport()
    entries = list(read_ncic(data, "ncic", report))
    assert [(e.plate, e.state, e.ncic_code, e.category, e.case_number, e.owner_ori) for e in entries] == [
        ("AB123456", "CA", "V", "stolen_vehicle", "123456789", "LA0570200"),
        ("7XYZ123", "CO", "A", "amber_alert", "000000042", "CA0190000"),
        ("ABC12", "OR", "F", "felony_vehicle", "3", "CA0190000"),
    ]
    assert entries[0].vehicle == Vehicle("2009", "YAMA", "CYL", "MC", "BLK")
    assert dict(entries[0].annotations)["incident_date"] == "2019-05-09"
    assert entries[1].priority == 0  # AMBER first
    assert [(e.line, e.reason.split(":")[0]) for e in report.errors] == [
        (5, "unknown NCIC list code 'Q'"),
        (6, "row has 2 characters; an NCIC row has at least 39"),
        (7, "date '2026XX26' is not YYYY-MM-DD, YYYYMMDD or MM/DD/YYYY"),
    ]
    assert (report.rows, report.loaded) == (6, 3)


def test_ncic_strict_refuses_at_first_bad_row() -> None:
    data = b"HDR\n" + ncic_row("Z", "1", "X", "20260101", "ABC", "CA").encode() + b"\n"
    with pytest.raises(HotlistFileError) as caught:
        list(read_ncic(data, "ncic", LoadReport(), strict=True))
    assert caught.value.line == 2


@pytest.mark.parametrize("delimiter", [",", ";", ":", "\t"])
def test_csv_delimiters_bom_blank_lines_and_annotations(delimiter: str) -> None:
    header = delimiter.join(["PlateNumber", "PlateState", "Category", "ExpiryDate", "Officer", "Unit"])
    rows = [
        header,
        delimiter.join(["7abc-123", "ca", "stolen", "2030-01-31", "Smith", "12"]),
        "",
        delimiter.join(["", "CA", "stolen", "", "", ""]),
        delimiter.join(["8XYZ", "NV", "", "", "", ""]),
        delimiter.join(["9Q", "CAL", "", "", "", ""]),
    ]
    data = ("\ufeff" + "\r\n".join(rows)).encode()
    report = LoadReport()
    entries = list(read_csv(data, "bolo", report))
    assert [(e.plate, e.state, e.category) for e in entries] == [
        ("7ABC123", "CA", "stolen"),
        ("8XYZ", "NV", ""),
    ]
    assert entries[0].annotations == (("Officer", "Smith"), ("Unit", "12"))
    assert entries[0].expiry == 1896134400  # 2030-02-01T00:00Z: the expiry day is included
    assert entries[1].expiry == FOREVER
    assert [e.line for e in report.errors] == [4, 6]


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [
        ("2030-01-31", 1896048000, 1896134400),  # a date: the whole day, the expiry through its end
        ("01/31/2030", 1896048000, 1896134400),
        ("2030-01-31T00:00:00", 1896048000, 1896134400),  # midnight: still a date, as before
        ("2030-01-31 00:00:00-08:00", 1896048000, 1896134400),
        ("2030-01-31T17:30:05Z", 1896111005, 1896111005),  # another time: that instant
        ("2030-01-31T09:30:05-08:00", 1896111005, 1896111005),
        ("2030-01-31T17:30:05", 1896111005, 1896111005),  # no offset: UTC
        ("2030-01-31T17:30:05.250Z", 1896111005, 1896111006),  # whole seconds, inwards
    ],
)
def test_dates_and_times(text: str, start: int, end: int) -> None:
    assert (parse_time(text), parse_time(text, end=True)) == (start, end)


def test_csv_quoted_cells_keep_delimiters_quotes_and_line_breaks() -> None:
    data = (
        b'Plate;"List Id";Note;Expiry Date;"Seen (a,b,c,d,e)"\r\n'  # commas in quotes do not count
        b'ABC1;bolo;"one; ""two""\r\nthree\nfour";2030-01-31T17:30:05Z;x\r\n'
        b"ABC2;other;skipped: another list's row;;\r\n"
        b"ABC3;;no list: this one's;2030-13-01;\r\n"
    )
    report = LoadReport()
    entries = list(read_csv(data, "bolo", report))
    assert [(e.plate, e.note, e.expiry, e.annotations) for e in entries] == [
        ("ABC1", 'one; "two"\r\nthree\nfour', 1896111005, (("Seen (a,b,c,d,e)", "x"),))
    ]
    assert [e.line for e in report.errors] == [6]  # rows numbered by the line they start on
    assert report.summary() == "3 rows, 1 entries loaded, 1 rejected, 1 of other lists skipped"


def test_csv_without_plate_column_is_refused_with_its_line() -> None:
    with pytest.raises(HotlistFileError, match="line 1: header has no plate column"):
        list(read_csv(b"State,Category\nCA,x\n", "x", LoadReport()))


def test_format_detection(tmp_path: Path) -> None:
    ncic = b"HDR\nV123456789LA057020020190509AB123456  CA2009MC2009YAMACYLMCBLK\n"
    assert detect_format(tmp_path / "extract.dat", ncic) == "ncic"
    assert detect_format(tmp_path / "list.csv", b"PlateNumber\nABC\n") == "csv"
    assert detect_format(tmp_path / "list", b"PlateNumber;State\nABC;CA\n") == "csv"


def test_loaded_file_matches_in_the_index() -> None:
    report = LoadReport()
    index = HotlistIndex()
    index.define_list(HotlistInfo("bolo", "Local BOLO"))
    index.load_entries(read_csv(b"Plate,State\n7ABC123,CA\n", "bolo", report), replace_lists=["bolo"])
    assert [h.entry.plate for h in index.match_reads([MatchQuery("r", "7ABC123", "CA", 1)])] == ["7ABC123"]


def test_update_record_round_trip_schema_and_tombstone() -> None:
    schema = json.loads((SCHEMAS / "hotlist-update.schema.json").read_text())
    info = HotlistInfo("amber", "AMBER", priority=0, ocr_tolerance=2)
    entry = HotlistEntry(
        "amber",
        "7XYZ123",
        "CA",
        category="amber_alert",
        case_number="A-1",
        expiry=2_000_000_000,
        vehicle=Vehicle(year="2019", make="TOYT"),
        annotations=(("child", "J. Doe"),),
    )
    key, value = encode_upsert(entry, info)
    assert key == b"amber|CA|7XYZ123"
    jsonschema.validate(orjson.loads(value), schema)
    _, decoded, decoded_info = decode_update(key, value)
    assert decoded == entry
    assert decoded_info == info

    index = HotlistIndex()
    apply_update(index, key, value)
    assert index.list_info("amber") == info
    assert len(index.match_reads([MatchQuery("r", "7XYZ123", "CA", 1)])) == 1
    apply_update(index, *encode_tombstone("amber", "CA", "7XYZ123"))
    assert index.match_reads([MatchQuery("r", "7XYZ123", "CA", 1)]) == []


@pytest.mark.parametrize(
    ("key", "value"),
    [
        (b"no-separators", b'{"entry": {"plate": "ABC"}}'),
        (b"l|CA|ABC", b"not json"),
        (b"l|CA|ABC", b'{"entry": {"plate": "XYZ", "state": "CA"}}'),  # key and entry disagree
        (b"l|CA|ABC", b'{"entry": {"plate": "ABC", "state": "CA", "priority": 500}}'),
        (b"l|CA|AB\xd0", b'{"entry": {"plate": "ABC"}}'),
    ],
)
def test_malformed_update_is_refused_and_changes_nothing(key: bytes, value: bytes) -> None:
    index = HotlistIndex()
    with pytest.raises(UpdateError):
        apply_update(index, key, value)
    assert len(index) == 0
