"""Hotlist file loaders: the NCIC LPR extract (fixed width) and AutoVu-style CSV.

Each loader yields entries and collects row errors with their line numbers; a bad row never stops
a load unless `strict` is set, in which case the first one raises `HotlistFileError`.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from streams.hotlists.model import FOREVER, NCIC_CATEGORIES, NO_TIME, HotlistEntry, Vehicle
from streams.plates.normalise import PlateError, normalise_plate, normalise_state

R = TypeVar("R")

# priority of NCIC entries by list code (0 highest): people at risk first
NCIC_PRIORITY = {"A": 0, "M": 5, "L": 5, "W": 10, "F": 10, "T": 15, "H": 20, "K": 20, "V": 20}
NCIC_DEFAULT_PRIORITY = 30
_NCIC_MIN_WIDTH = 39  # through the plate state


class HotlistFileError(ValueError):
    def __init__(self, line: int, reason: str) -> None:
        super().__init__(f"line {line}: {reason}")
        self.line = line
        self.reason = reason


@dataclass
class LoadReport:
    rows: int = 0
    loaded: int = 0
    errors: list[HotlistFileError] = field(default_factory=list)

    def summary(self) -> str:
        return f"{self.rows} rows, {self.loaded} entries loaded, {len(self.errors)} rejected"


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


def _parse_rows(
    rows: Iterable[tuple[int, R]], parse: Callable[[R], HotlistEntry], report: LoadReport, strict: bool
) -> Iterator[HotlistEntry]:
    """Parse numbered rows; a bad row is reported with its line number (or raised, when strict)."""
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
        report.loaded += 1
        yield entry


def read_ncic(data: bytes, list_id: str, report: LoadReport, *, strict: bool = False) -> Iterator[HotlistEntry]:
    """Entries of an NCIC LPR extract. The first line is a header and is skipped."""
    rows = ((n, line) for n, line in enumerate(_text_lines(data), start=1) if n > 1 and line.strip())
    return _parse_rows(rows, lambda line: _ncic_entry(line, list_id), report, strict)


def _ncic_entry(line: str, list_id: str) -> HotlistEntry:
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


def read_csv(data: bytes, list_id: str, report: LoadReport, *, strict: bool = False) -> Iterator[HotlistEntry]:
    """Entries of an AutoVu-style CSV: a header row, delimiter `,` `;` `:` or tab."""
    lines = _text_lines(data)
    header_at = next((i for i, line in enumerate(lines) if line.strip()), None)
    if header_at is None:
        return
    header_line = lines[header_at]
    delimiter = max(_DELIMITERS, key=header_line.count)
    header = next(csv.reader([header_line], delimiter=delimiter))
    columns = [_ALIASES.get(_header_key(h), "") for h in header]
    if "plate" not in columns:
        error = HotlistFileError(header_at + 1, "header has no plate column (PlateNumber, Plate, ...)")
        raise error
    body = io.StringIO("\n".join(lines[header_at + 1 :]))
    rows = (
        (header_at + 2 + offset, row)
        for offset, row in enumerate(csv.reader(body, delimiter=delimiter))
        if any(cell.strip() for cell in row)
    )
    yield from _parse_rows(rows, lambda row: _csv_entry(row, header, columns, list_id), report, strict)


def _csv_entry(row: list[str], header: list[str], columns: list[str], list_id: str) -> HotlistEntry:
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
    priority = None
    if known.get("priority"):
        priority = int(known["priority"])
        if not 0 <= priority <= 100:
            raise ValueError(f"priority {priority} is outside 0..100")
    effective = _epoch(parse_date(known["effective"])) if known.get("effective") else NO_TIME
    # an expiry date is the last day the entry holds: it ends at the following midnight (UTC)
    expiry = _epoch(parse_date(known["expiry"]) + dt.timedelta(days=1)) if known.get("expiry") else FOREVER
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
