"""Export then load gives back what was exported: CSV every field, NCIC every field the extract has."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from streams.cli.main import main
from streams.hotlists.export import CSV_HEADER, export, format_time, write_ncic
from streams.hotlists.index import HotlistIndex
from streams.hotlists.loaders import (
    NCIC_DEFAULT_PRIORITY,
    NCIC_PRIORITY,
    LoadReport,
    csv_columns,
    parse_time,
    read_csv,
    read_file,
    read_ncic,
)
from streams.hotlists.model import FOREVER, NCIC_CATEGORIES, NO_TIME, HotlistEntry, Vehicle

DAY = 86_400
# CASE_NUL: the index keeps case numbers as numpy fixed-width bytes, which drop trailing NULs: a case
# number ending in NUL does not survive the index itself, so no export could give it back.
NOW = dt.datetime(2026, 11, 27, 6, 0, tzinfo=dt.UTC)

# characters that trouble CSV and line splitting, mixed into otherwise arbitrary text
AWKWARD = st.sampled_from(
    [",", ";", ":", "\t", '"', "'", "\n", "\r\n", "\r", " ", "é", "中", "🚗", "\u2028", "\x85", "\0"]
)
CHAR = st.one_of(AWKWARD, st.characters(exclude_categories=["Cs"]))  # lone surrogates cannot be UTF-8


def text(max_size: int = 12, *, stripped: bool = True) -> st.SearchStrategy[str]:
    raw = st.lists(CHAR, max_size=max_size).map("".join)
    return raw.map(str.strip) if stripped else raw


plates = st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", min_size=1, max_size=10)
states = st.one_of(
    st.sampled_from(["", "CA", "CO", "OR", "OH"]), st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=2, max_size=2)
)
list_ids = st.one_of(st.sampled_from(["bolo", "ncic", "amber alert"]), text(8).filter(lambda s: s and "|" not in s))
priorities = st.one_of(st.none(), st.just(0), st.integers(0, 100))  # 0 is the easy one to lose
moments = st.one_of(st.integers(1, FOREVER - 1), st.integers(1, FOREVER // DAY).map(lambda d: d * DAY))
windows = st.tuples(st.one_of(st.just(NO_TIME), moments), st.one_of(st.just(FOREVER), moments))
annotation_names = st.one_of(
    st.sampled_from(["Officer", "Unit", "incident_date", "Bemerkung, ja", 'say "hi"']), text(10)
)


def column_ok(name: str) -> bool:
    """A name the loader reads back as an annotation of that name (see the CSV property's docstring)."""
    return name == name.strip() and "\n" not in name and "\r" not in name and csv_columns([name]) == [""]


@st.composite
def entry_sets(draw: st.DrawFn, *, valid: bool = True) -> list[HotlistEntry]:
    """Entries with distinct keys. `valid`: every one a loader could have produced (see below);
    otherwise also padded text, names the loader reads as columns, repeated or empty annotations,
    annotations in orders no one column order keeps, and windows that end before they start."""
    names = draw(st.lists(annotation_names.filter(column_ok) if valid else annotation_names, unique=True, max_size=4))
    lists = draw(st.lists(list_ids, min_size=1, max_size=3, unique=True))
    field = text(10, stripped=valid)
    out: dict[tuple[str, str, str], HotlistEntry] = {}
    for _ in range(draw(st.integers(0, 8))):
        if valid:
            picked = sorted(draw(st.lists(st.sampled_from(names), unique=True)), key=names.index) if names else []
            annotations = tuple((n, draw(field.filter(bool))) for n in picked)
            effective, expiry = draw(windows.filter(lambda w: w[0] < w[1]))
        else:
            annotations = tuple(draw(st.lists(st.tuples(st.sampled_from(names), field), max_size=4))) if names else ()
            effective, expiry = draw(windows)
        e = HotlistEntry(
            list_id=draw(st.sampled_from(lists)),
            plate=draw(plates),
            state=draw(states),
            category=draw(field),
            ncic_code=draw(st.one_of(st.just(""), st.sampled_from(sorted(NCIC_CATEGORIES)))),
            priority=draw(priorities),
            owner_ori=draw(field),
            case_number=draw(field.filter(lambda c: not c.endswith("\0"))),  # see CASE_NUL
            effective=effective,
            expiry=expiry,
            vehicle=Vehicle(*(draw(field) for _ in Vehicle._fields)),
            note=draw(text(40, stripped=valid)),
            annotations=annotations,
        )
        out[e.key] = e
    return list(out.values())


def index_of(entries: list[HotlistEntry]) -> HotlistIndex:
    index = HotlistIndex()
    index.load_entries(entries)
    return index


def csv_export(index: HotlistIndex) -> tuple[bytes, int]:
    buf = io.StringIO(newline="")
    report = export(index, buf, "csv")
    assert report.written == len(index)
    return buf.getvalue().encode(), report.lossy


def load_back(data: bytes, lists: set[str]) -> dict[tuple[str, str, str], HotlistEntry]:
    """Every list of a CSV export, loaded as `hotlist load --list L` would, keyed."""
    loaded: dict[tuple[str, str, str], HotlistEntry] = {}
    for list_id in sorted(lists):
        loaded.update((e.key, e) for e in read_csv(data, list_id, LoadReport()))
    return loaded


def by_key(entries: list[HotlistEntry]) -> list[HotlistEntry]:
    return sorted(entries, key=lambda e: e.key)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(entries=entry_sets())
@example(entries=[HotlistEntry("bolo", "ABC1", annotations=((":" * 20, ";" * 20),))])  # outnumbers the commas
def test_csv_export_then_load_gives_every_entry_back_whole(entries: list[HotlistEntry]) -> None:
    """Any entries a loader could have produced come back equal, field for field.

    "Could have produced" restricts three things, each because the CSV loader cannot carry it:
    text has no white space at either end (the loader strips every cell, as hand-made files need);
    an annotation has a non-empty value, a name unique in its entry that is not a known column header
    (`Plate`, `Note`, ...) and has no line break (a header is one line; a value may hold line breaks),
    and the annotations of all entries fit one column order (a file has one). The other entries are
    the next property's. Texts mix commas, quotes, semicolons, colons, tabs, CR/LF, NUL and non-ASCII.
    """
    index = index_of(entries)
    assert by_key(list(index.entries())) == by_key(entries)
    data, lossy = csv_export(index)
    assert lossy == 0
    loaded = load_back(data, {e.list_id for e in entries})
    assert by_key(list(loaded.values())) == by_key(entries)
    assert by_key(list(index_of(list(loaded.values())).entries())) == by_key(entries)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(entries=entry_sets(valid=False))
def test_csv_export_counts_exactly_the_entries_a_load_would_not_give_back(entries: list[HotlistEntry]) -> None:
    """For any entries, the export's count of entries that will not load back whole is the truth."""
    index = index_of(entries)
    data, lossy = csv_export(index)
    loaded = load_back(data, {e.list_id for e in entries})
    assert lossy == sum(loaded.get(e.key) != e for e in index.entries())


# ---- NCIC --------------------------------------------------------------------------------------

NCIC_CHAR = st.characters(exclude_categories=["Cs"], exclude_characters="\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")


def fixed(width: int) -> st.SearchStrategy[str]:
    """Text that fits an NCIC column: no line break (a row is a line), no padding (cells are stripped)."""
    return st.text(NCIC_CHAR, max_size=width).map(str.strip)


@st.composite
def ncic_entries(draw: st.DrawFn) -> HotlistEntry:
    """An entry holding only what the NCIC extract has; category and priority follow the list code."""
    code = draw(st.sampled_from(sorted(NCIC_CATEGORIES)))
    incident = draw(st.one_of(st.just(""), st.dates(dt.date(1000, 1, 1)).map(dt.date.isoformat)))
    annotations = tuple(
        (name, value)
        for name, value in (("incident_date", incident), ("tag_year", draw(fixed(4))), ("plate_type", draw(fixed(2))))
        if value
    )
    return HotlistEntry(
        list_id="ncic",
        plate=draw(plates),
        state=draw(states),
        category=NCIC_CATEGORIES[code],
        ncic_code=code,
        priority=NCIC_PRIORITY.get(code, NCIC_DEFAULT_PRIORITY),
        owner_ori=draw(fixed(9)),
        case_number=draw(fixed(9).filter(lambda c: not c.endswith("\0"))),  # see CASE_NUL
        vehicle=Vehicle(draw(fixed(4)), draw(fixed(4)), draw(fixed(3)), draw(fixed(2)), draw(fixed(30))),
        annotations=annotations,
    )


@settings(max_examples=150, deadline=None)
@given(entries=st.lists(ncic_entries(), max_size=8, unique_by=lambda e: e.key))
def test_ncic_export_then_load_keeps_every_ncic_field(entries: list[HotlistEntry]) -> None:
    """List code, record number, ORI, incident date, plate, state (O written as 0), tag year, plate
    type, vehicle year, make, model, style and colour all come back, at any width that fits."""
    buf = io.StringIO(newline="")
    report = write_ncic(buf, index_of(entries).entries(), NOW)
    assert (report.written, report.lossy, report.not_written) == (len(entries), 0, {})
    load = LoadReport()
    assert by_key(list(read_ncic(buf.getvalue().encode(), "ncic", load))) == by_key(entries)
    assert load.errors == []


def test_ncic_export_writes_the_extract_row_it_was_loaded_from() -> None:
    row = "V123456789LA057020020190509AB123456  C02009MC2009YAMACYLMCBLK"
    index = index_of(list(read_ncic(f"HEADER\r\n{row}\r\n".encode(), "ncic", LoadReport())))
    buf = io.StringIO(newline="")
    write_ncic(buf, index.entries(), NOW)
    assert buf.getvalue() == f"NCIC LPR EXTRACT 20261127 0600\r\n{row}\r\n"


def test_ncic_export_reports_what_the_extract_cannot_hold() -> None:
    full = HotlistEntry("bolo", "ABC123", "CA", "stolen_vehicle", "V", priority=0, expiry=2_000_000_000, note="n")
    report = write_ncic(
        io.StringIO(),
        [full, full._replace(plate="X1", ncic_code=""), full._replace(plate="X2", case_number="1234567890")],
        NOW,
    )
    assert report.written == 1
    assert report.losses == {"priority": 1, "expiry": 1, "note": 1}
    assert report.not_written == {"no NCIC list code": 1, "case_number is wider than its 9 NCIC characters": 1}


# ---- the pieces --------------------------------------------------------------------------------


def test_every_csv_header_reads_back_as_its_own_field() -> None:
    assert csv_columns(list(CSV_HEADER)) == [
        "list_id",
        "plate",
        "state",
        "category",
        "ncic_code",
        "priority",
        "owner_ori",
        "case_number",
        "effective",
        "expiry",
        "year",
        "make",
        "model",
        "style",
        "colour",
        "note",
    ]


@given(t=moments)
def test_times_read_back_to_the_second(t: int) -> None:
    assert parse_time(format_time(t)) == t
    assert parse_time(format_time(t, end=True), end=True) == t


# ---- through the command line ------------------------------------------------------------------


def test_cli_export_then_load_gives_the_list_back(tmp_path: Path) -> None:
    src = tmp_path / "bolo.csv"
    src.write_text(
        "Plate;State;Priority;EffectiveDate;ExpiryDate;NCIC;Category;Year;Color;Note;Officer;Unit\n"
        '7abc-123;ca;0;2026-01-01T08:30:00Z;2030-01-31;V;stolen;2019;BLK;"Armed; ""very"" fast,\nsilver";Zoë;12\n'
        "8XYZ;nv;;;2030-01-31T23:59:59Z;;;;;;;\n"
        "9Q;NV;100;2026-03-01;;;;;;;Smith;\n",
        encoding="utf-8",
    )
    first, second = tmp_path / "first.csv", tmp_path / "second.csv"
    assert main(["hotlist", "export", "--hotlist", f"bolo={src}", "--output", str(first)]) == 0
    assert main(["hotlist", "load", str(first), "--list", "bolo", "--strict"]) == 0
    assert main(["hotlist", "export", "--hotlist", f"bolo={first}", "--output", str(second)]) == 0

    original = by_key(list(read_file(src, "bolo", LoadReport())))
    assert [e.priority for e in original] == [0, None, 100]
    assert by_key(list(read_file(first, "bolo", LoadReport()))) == original
    assert first.read_bytes() == second.read_bytes()

    ncic = tmp_path / "extract.dat"
    assert main(["hotlist", "export", "--hotlist", f"bolo={src}", "--format", "ncic", "--output", str(ncic)]) == 0
    assert [(e.plate, e.ncic_code, e.vehicle) for e in read_file(ncic, "bolo", LoadReport())] == [
        ("7ABC123", "V", Vehicle(year="2019", colour="BLK"))
    ]
