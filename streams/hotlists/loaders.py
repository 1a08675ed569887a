"""Hotlist file loaders: the NCIC LPR extract (fixed width) and AutoVu-style CSV.

Each loader yields entries and collects row errors with their line numbers; a bad row never stops
a load unless `strict` is set, in which case the first one raises `HotlistFileError`.
What export.py writes, these read back to the same entries (tests/test_hotlist_roundtrip.py).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from streams.errors import InputRefusedError
from streams.hotlists.model import FOREVER, NCIC_CATEGORIES, NO_TIME, HotlistEntry, Vehicle
from streams.plates.normalise import PlateError, normalise_plate, normalise_state

R = TypeVar("R")

# priority of NCIC entries by list code (0 highest): people at risk first
NCIC_PRIORITY = {"A": 0, "M": 5, "L": 5, "W": 10, "F": 10, "T": 15, "H": 20, "K": 20, "V": 20}
NCIC_DEFAULT_PRIORITY = 30
_NCIC_MIN_WIDTH = 39  # through the plate state


class HotlistFileError(InputRefusedError, ValueError):
    """A hotlist file row that refuses the whole file (--strict)."""

    def __init__(self, line: int, reason: str) -> None:
        super().__init__(f"line {line}: {reason}")
        self.line = line
        self.reason = reason


@dataclass
class LoadReport:
    rows: int = 0
    loaded: int = 0
    errors: list[HotlistFileError] = field(default_factory=list)
    other_lists: int = 0  # CSV rows whose ListId column names another list: skipped

    def summary(self) -> str:
        text = f"{self.rows} rows, {self.loaded} entries loaded, {len(self.errors)} rejected"
        return text + (f", {self.other_lists} of other lists skipped" if self.other_lists else "")


def _text_lines(data: bytes) -> list[str]:
    text = data.decode("utf-8-sig")  # a byte-order mark is dropped
    return text.splitlines()  # CRLF, LF and CR alike


def _epoch(day: dt.date) -> int:
    return int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp())


def parse_date(text: str) -> dt.date:
    text = text.strip()
    for fmt in ("%Y-%m-%d", "%Y%m%d", "%m/%d/%Y", "%Y/%m/%d"):
        try:
            return dt.datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    try:
        return dt.datetime.fromisoformat(text).date()
    except ValueError:
        raise ValueError(f"date {text!r} is not YYYY-MM-DD, YYYYMMDD or MM/DD/YYYY") from None


def parse_time(text: str, *, end: bool = False) -> int:
    """Seconds since the epoch of a date, or of an ISO 8601 date and time.

    A date, or a date and time at midnight (many systems write dates so), stands for a whole UTC day:
    its start, or with `end` (an expiry date is the last day an entry holds) the following midnight.
    A date and time at another time of day is that instant (UTC unless it carries an offset), rounded
    to whole seconds inwards; export.py writes a time that is not a midnight so, e.g. 2030-01-31T17:30:00Z.
    """
    moment = None
    if "T" in text or ":" in text:
        try:
            moment = dt.datetime.fromisoformat(text.strip())
        except ValueError:
            moment = None
    if moment is None or moment.time() == dt.time():
        day = parse_date(text)
        return _epoch(day + dt.timedelta(days=1) if end else day)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    seconds = moment.timestamp()
    return math.ceil(seconds) if end else math.floor(seconds)


def _parse_rows(
    rows: Iterable[tuple[int, R]], parse: Callable[[R], HotlistEntry | None], report: LoadReport, strict: bool
) -> Iterator[HotlistEntry]:
    """Parse numbered rows; a bad row is reported with its line number (or raised, when strict).
    A row `parse` returns None for belongs to another list: it is counted and skipped."""
    for number, row in rows:
        report.rows += 1
        try:
            entry = parse(row)
        except (PlateError, ValueError) as exc:
            error = HotlistFileError(number, str(exc))
            if strict:
                raise error from None
            report.errors.append(error)
            continue
        if entry is None:
            report.other_lists += 1
            continue
        report.loaded += 1
        yield entry


def read_ncic(data: bytes, list_id: str, report: LoadReport, *, strict: bool = False) -> Iterator[HotlistEntry]:
    """Entries of an NCIC LPR extract. The first line is a header and is skipped."""
    rows = ((n, line) for n, line in enumerate(_text_lines(data), start=1) if n > 1 and line.strip())
    return _parse_rows(rows, lambda line: ncic_entry(line, list_id), report, strict)


def ncic_entry(line: str, list_id: str) -> HotlistEntry:
    """The entry of one NCIC extract row; raises PlateError or ValueError saying why there is none."""
    if len(line) < _NCIC_MIN_WIDTH:
        raise ValueError(f"row has {len(line)} characters; an NCIC row has at least {_NCIC_MIN_WIDTH}")
    code = line[0]
    category = NCIC_CATEGORIES.get(code)
    if category is None:
        raise ValueError(f"unknown NCIC list code {code!r}")
    plate = normalise_plate(line[27:37])
    state = normalise_state(line[37:39].replace("0", "O"))
    incident = line[19:27].strip()
    annotations: list[tuple[str, str]] = []
    if incident:
        annotations.append(("incident_date", parse_date(incident).isoformat()))
    for name, text in (("tag_year", line[39:43]), ("plate_type", line[43:45])):
        if text.strip():
            annotations.append((name, text.strip()))
    return HotlistEntry(
        list_id=list_id,
        plate=plate,
        state=state,
        category=category,
        ncic_code=code,
        priority=NCIC_PRIORITY.get(code, NCIC_DEFAULT_PRIORITY),
        owner_ori=line[10:19].strip(),
        case_number=line[1:10].strip(),
        vehicle=Vehicle(
            year=line[45:49].strip(),
            make=line[49:53].strip(),
            model=line[53:56].strip(),
            style=line[56:58].strip(),
            colour=line[58:].strip(),
        ),
        annotations=tuple(annotations),
    )


# CSV header aliases (compared lower-case with spaces, dashes and underscores removed)
_CSV_FIELDS = {
    "list_id": ("listid", "hotlistid"),  # a row naming another list is skipped: see csv_entry
    "plate": ("platenumber", "plate", "licenseplate", "lpn", "tag"),
    "state": ("platestate", "state", "platestatecode", "jurisdiction"),
    "category": ("category", "reason", "listtype", "alerttype"),
    "effective": ("effectivedate", "startdate", "effective"),
    "expiry": ("expirydate", "expirationdate", "enddate", "expiry", "expires"),
    "priority": ("priority",),
    "case_number": ("casenumber", "case", "caseno", "incidentnumber", "recordnumber"),
    "owner_ori": ("ori", "ownerori", "agencyori", "agency"),
    "ncic_code": ("ncic", "ncic_code", "ncicode", "listcode"),
    "year": ("vehicleyear", "year"),
    "make": ("vehiclemake", "make"),
    "model": ("vehiclemodel", "model"),
    "style": ("vehiclestyle", "style"),
    "colour": ("vehiclecolor", "vehiclecolour", "color", "colour"),
    "note": ("note", "notes", "comment", "comments", "description"),
}
_ALIASES = {alias: name for name, aliases in _CSV_FIELDS.items() for alias in aliases}
_DELIMITERS = ",;:\t"


def _header_key(text: str) -> str:
    return text.strip().lower().replace(" ", "").replace("-", "").replace("_", "")


def csv_columns(header: list[str]) -> list[str]:
    """The entry field each header cell fills ("" for an annotation column)."""
    return [_ALIASES.get(_header_key(h), "") for h in header]


_QUOTED = re.compile(r'"(?:[^"]|"")*"')


def read_csv(data: bytes, list_id: str, report: LoadReport, *, strict: bool = False) -> Iterator[HotlistEntry]:
    """Entries of an AutoVu-style CSV: a header row, delimiter `,` `;` `:` or tab.

    The delimiter is the one the header line holds most of outside quotes. A quoted cell may hold line
    breaks (kept as written); lines end in CRLF, LF or CR. Rows are numbered by the line they start on.
    """
    stream = io.StringIO(data.decode("utf-8-sig"), newline="")  # a byte-order mark is dropped
    header_number, header_line = 0, ""
    while not header_line.strip():
        header_line = stream.readline()
        header_number += 1
        if not header_line:
            return
    unquoted = _QUOTED.sub("", header_line)
    delimiter = max(_DELIMITERS, key=unquoted.count)
    header = next(csv.reader([header_line], delimiter=delimiter))
    columns = csv_columns(header)
    if "plate" not in columns:
        error = HotlistFileError(header_number, "header has no plate column (PlateNumber, Plate, ...)")
        raise error
    reader = csv.reader(stream, delimiter=delimiter)

    def rows() -> Iterator[tuple[int, list[str]]]:
        start = header_number + 1
        for row in reader:
            if any(cell.strip() for cell in row):
                yield start, row
            start = header_number + reader.line_num + 1

    yield from _parse_rows(rows(), lambda row: csv_entry(row, header, columns, list_id), report, strict)


def csv_entry(row: list[str], header: list[str], columns: list[str], list_id: str) -> HotlistEntry | None:
    """The entry of one CSV row (`columns` from `csv_columns(header)`), or None when the row's ListId
    names another list; raises PlateError or ValueError saying why there is none."""
    if len(row) > len(header):
        raise ValueError(f"row has {len(row)} fields, the header {len(header)}")
    known: dict[str, str] = {}
    annotations: list[tuple[str, str]] = []
    for name, column, cell in zip(header, columns, row, strict=False):
        value = cell.strip()
        if column:
            known[column] = value
        elif value:
            annotations.append((name.strip(), value))
    if known.get("list_id", list_id) not in ("", list_id):
        return None
    priority = None
    if known.get("priority"):
        priority = int(known["priority"])
        if not 0 <= priority <= 100:
            raise ValueError(f"priority {priority} is outside 0..100")
    effective = parse_time(known["effective"]) if known.get("effective") else NO_TIME
    # an expiry date is the last day the entry holds: it ends at the following midnight (UTC)
    expiry = parse_time(known["expiry"], end=True) if known.get("expiry") else FOREVER
    if expiry <= effective:
        raise ValueError("expiry date is before the effective date")
    return HotlistEntry(
        list_id=list_id,
        plate=normalise_plate(known.get("plate", "")),
        state=normalise_state(known.get("state", "")),
        category=known.get("category", ""),
        ncic_code=known.get("ncic_code", ""),
        priority=priority,
        owner_ori=known.get("owner_ori", ""),
        case_number=known.get("case_number", ""),
        effective=effective,
        expiry=expiry,
        vehicle=Vehicle(
            known.get("year", ""),
            known.get("make", ""),
            known.get("model", ""),
            known.get("style", ""),
            known.get("colour", ""),
        ),
        note=known.get("note", ""),
        annotations=tuple(annotations),
    )


def detect_format(path: Path, data: bytes) -> str:
    """'ncic' or 'csv', from the extension, else from the first data row's shape."""
    suffix = path.suffix.lower()
    if suffix in {".csv", ".tsv", ".txt"} and suffix != ".txt":
        return "csv"
    lines = _text_lines(data[:4096])
    sample = lines[1] if len(lines) > 1 else ""
    if len(sample) >= _NCIC_MIN_WIDTH and sample[0] in NCIC_CATEGORIES and not any(d in sample for d in ",;\t"):
        return "ncic"
    return "csv"


def read_file(
    path: Path, list_id: str, report: LoadReport, *, fmt: str = "auto", strict: bool = False
) -> Iterator[HotlistEntry]:
    data = path.read_bytes()
    if fmt == "auto":
        fmt = detect_format(path, data)
    if fmt == "ncic":
        return read_ncic(data, list_id, report, strict=strict)
    if fmt == "csv":
        return read_csv(data, list_id, report, strict=strict)
    raise ValueError(f"unknown hotlist format {fmt!r} (ncic or csv)")
