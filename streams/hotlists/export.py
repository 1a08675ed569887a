"""Writing hotlist entries out as files the loaders (loaders.py) read back to the same entries.

In: an index (or any entries) and a text stream opened with `newline=""` (UTF-8 for a file).
Out: the file, and an `ExportReport`: entries written, and per field what a load of the file would not
give back: each row, as it is written, is parsed back with the loader's own row parser and compared.

CSV: the headers of `CSV_HEADER` (AutoVu-style, one per entry field: list id, plate, state, category,
NCIC code, priority, ORI, case number, effective and expiry date, vehicle year, make, model, style,
colour, note), then one column per annotation name. A time at a UTC midnight is written as a date
(an expiry as the last day it holds), any other time as ISO 8601 UTC with seconds; an empty priority
is the list's. The header line is quoted whole, so the loader's delimiter guess sees only commas.

NCIC: the fixed-width LPR extract, a header line first; see `ncic_line` for the columns. It holds the
list code, record number, ORI, incident date, plate, state, tag year, plate type and vehicle; the
loader derives category and priority from the list code, and the list id is given at load time.
"""

from __future__ import annotations

import csv
import datetime as dt
import heapq
import itertools
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from typing import TextIO

from streams.hotlists.index import HotlistIndex
from streams.hotlists.loaders import csv_columns, csv_entry, ncic_entry, parse_date
from streams.hotlists.model import FOREVER, NCIC_CATEGORIES, NO_TIME, HotlistEntry
from streams.plates.normalise import PlateError

CSV_HEADER = (
    "ListId",
    "PlateNumber",
    "PlateState",
    "Category",
    "NCIC",
    "Priority",
    "ORI",
    "CaseNumber",
    "EffectiveDate",
    "ExpiryDate",
    "VehicleYear",
    "VehicleMake",
    "VehicleModel",
    "VehicleStyle",
    "VehicleColor",
    "Note",
)
_DAY = 86_400


@dataclass
class ExportReport:
    """What an export wrote, and what of it a load of the file would not give back."""

    written: int = 0
    lossy: int = 0  # entries written that a load would not give back exactly
    losses: Counter[str] = field(default_factory=Counter)  # field (or reason) -> entries
    not_written: Counter[str] = field(default_factory=Counter)  # reason -> entries

    def summary(self) -> str:
        text = f"exported {self.written} entries"
        if self.lossy:
            fields = ", ".join(f"{n} {name}" for name, n in self.losses.most_common())
            text += f"; {self.lossy} will not load back whole ({fields})"
        if self.not_written:
            reasons = ", ".join(f"{n} {why}" for why, n in self.not_written.most_common())
            text += f"; not written: {reasons}"
        return text

    def check(self, entry: HotlistEntry, parse_back: Callable[[], HotlistEntry | None]) -> None:
        """Count what of `entry` its written row, parsed back by the loader's row parser, loses."""
        try:
            loaded = parse_back()
        except (PlateError, ValueError) as exc:
            self.lossy += 1
            self.losses[f"row refused on load: {exc}"] += 1
            return
        if loaded == entry:
            return
        self.lossy += 1
        if loaded is None:  # read as a row of another list
            self.losses["list_id"] += 1
            return
        for name in HotlistEntry._fields:
            if getattr(loaded, name) != getattr(entry, name):
                self.losses[name] += 1


def export(index: HotlistIndex, out: TextIO, fmt: str = "csv", *, list_id: str | None = None) -> ExportReport:
    """Write the index's entries (of one list, if named) to `out` as CSV or an NCIC extract."""
    if fmt == "csv":
        return write_csv(out, index.entries(list_id), annotation_columns(index.entries(list_id)))
    if fmt == "ncic":
        return write_ncic(out, index.entries(list_id))
    raise ValueError(f"unknown export format {fmt!r} (csv or ncic)")


# ---- CSV -------------------------------------------------------------------------------------


def annotation_columns(entries: Iterable[HotlistEntry]) -> list[str]:
    """Annotation names in an order that keeps every entry's annotations in its own order, when one
    exists (first seen breaks ties), without names the loader would read as another column."""
    first_seen: dict[str, int] = {}
    after: dict[str, set[str]] = {}
    sequences: set[tuple[str, ...]] = set()
    for e in entries:
        names = tuple(name for name, _ in e.annotations)
        if names in sequences:
            continue
        sequences.add(names)
        for name in names:
            first_seen.setdefault(name, len(first_seen))
        for a, b in itertools.pairwise(names):
            after.setdefault(a, set()).add(b)
    before = Counter(b for successors in after.values() for b in successors)
    ready = [(first_seen[n], n) for n in first_seen if not before[n]]
    heapq.heapify(ready)
    order: list[str] = []
    while ready:
        _, name = heapq.heappop(ready)
        order.append(name)
        for b in after.get(name, ()):
            before[b] -= 1
            if not before[b]:
                heapq.heappush(ready, (first_seen[b], b))
    order.extend(sorted(set(first_seen) - set(order), key=first_seen.__getitem__))  # orders that conflict
    return [name for name in order if _annotation_column_ok(name)]


def _annotation_column_ok(name: str) -> bool:
    """Whether a column of this name reads back as an annotation of this name."""
    return name == name.strip() and "\n" not in name and "\r" not in name and not csv_columns([name])[0]


def write_csv(out: TextIO, entries: Iterable[HotlistEntry], annotations: list[str]) -> ExportReport:
    """Write `entries` as CSV with the given annotation columns (see `annotation_columns`)."""
    header = [*CSV_HEADER, *annotations]
    columns = csv_columns(header)
    csv.writer(out, quoting=csv.QUOTE_ALL).writerow(header)
    writer = csv.writer(out)
    report = ExportReport()
    for e in entries:
        row = csv_row(e, annotations)
        writer.writerow(row)
        report.written += 1
        report.check(e, partial(csv_entry, row, header, columns, e.list_id))
    return report


def csv_row(e: HotlistEntry, annotations: list[str]) -> list[str]:
    v = e.vehicle
    extra = dict(e.annotations)
    return [
        e.list_id,
        e.plate,
        e.state,
        e.category,
        e.ncic_code,
        "" if e.priority is None else str(e.priority),
        e.owner_ori,
        e.case_number,
        "" if e.effective == NO_TIME else format_time(e.effective),
        "" if e.expiry == FOREVER else format_time(e.expiry, end=True),
        v.year,
        v.make,
        v.model,
        v.style,
        v.colour,
        e.note,
        *(extra.get(name, "") for name in annotations),
    ]


def format_time(t: int, *, end: bool = False) -> str:
    """A time as `loaders.parse_time` reads it back: a UTC midnight as a date (an end as the day
    before, its last day), any other time as ISO 8601 UTC with seconds."""
    if t % _DAY == 0:
        return dt.datetime.fromtimestamp(t - _DAY if end else t, dt.UTC).date().isoformat()
    return dt.datetime.fromtimestamp(t, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# ---- NCIC ------------------------------------------------------------------------------------

# (field, width) of the fixed columns after the list code; the colour takes the rest of the line
NCIC_COLUMNS = (
    ("case_number", 9),
    ("owner_ori", 9),
    ("incident_date", 8),
    ("plate", 10),
    ("state", 2),
    ("tag_year", 4),
    ("plate_type", 2),
    ("year", 4),
    ("make", 4),
    ("model", 3),
    ("style", 2),
)


def write_ncic(out: TextIO, entries: Iterable[HotlistEntry], now: dt.datetime | None = None) -> ExportReport:
    """Write `entries` as an NCIC LPR extract; an entry the format cannot hold is counted, not written."""
    now = now or dt.datetime.now(dt.UTC)
    out.write(f"NCIC LPR EXTRACT {now:%Y%m%d %H%M}\r\n")
    report = ExportReport()
    for e in entries:
        try:
            line = ncic_line(e)
        except ValueError as exc:
            report.not_written[str(exc)] += 1
            continue
        out.write(line + "\r\n")
        report.written += 1
        report.check(e, partial(ncic_entry, line, e.list_id))
    return report


def ncic_line(e: HotlistEntry) -> str:
    """One extract row; raises ValueError when the entry has no NCIC list code or a field does not fit."""
    if e.ncic_code not in NCIC_CATEGORIES:
        raise ValueError("no NCIC list code")
    extra = dict(e.annotations)
    incident = extra.get("incident_date", "")
    try:
        incident = parse_date(incident).strftime("%Y%m%d") if incident else ""
    except ValueError:
        raise ValueError("incident_date is not a date") from None
    v = e.vehicle
    values = {
        "case_number": e.case_number,
        "owner_ori": e.owner_ori,
        "incident_date": incident,
        "plate": e.plate,
        "state": e.state.replace("O", "0"),  # the extract writes a zero for the letter O in states
        "tag_year": extra.get("tag_year", ""),
        "plate_type": extra.get("plate_type", ""),
        "year": v.year,
        "make": v.make,
        "model": v.model,
        "style": v.style,
    }
    cells = [e.ncic_code]
    for name, width in NCIC_COLUMNS:
        if len(values[name]) > width:
            raise ValueError(f"{name} is wider than its {width} NCIC characters")
        cells.append(values[name].ljust(width))
    line = "".join(cells) + v.colour
    if len(line.splitlines()) != 1:
        raise ValueError("a field holds a line break")
    return line
