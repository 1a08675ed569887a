"""The hotlist domain: lists, entries, and the hits a read produces. Plain data, no I/O."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import NamedTuple

# NCIC LPR extract list codes and the category each stands for
NCIC_CATEGORIES: dict[str, str] = {
    "A": "amber_alert",
    "F": "felony_vehicle",
    "W": "wanted_person",
    "V": "stolen_vehicle",
    "P": "stolen_plate",
    "M": "missing_person",
    "C": "supervised_release",
    "H": "protection_order",
    "K": "protective_interest",
    "L": "violent_person",
    "R": "stolen_canadian_vehicle",
    "T": "gang_terrorist_member",
    "X": "sex_offender",
}

NO_TIME = 0  # an absent effective or expiry time
FOREVER = 2**32 - 1  # expiry of an entry that never expires (seconds since the epoch, u32)


class StateMatch(enum.StrEnum):
    """How a list treats a read whose plate state differs from the entry's."""

    FLAG = "flag"  # report the hit with state_mismatch set (default: a misread state is common)
    REQUIRE = "require"  # no hit unless the states agree (or either is unknown)
    IGNORE = "ignore"  # never compare states


class MatchKind(enum.StrEnum):
    EXACT = "exact"
    EQUIVALENT = "equivalent"


@dataclass(frozen=True, slots=True)
class HotlistInfo:
    """A named list and its matching settings."""

    list_id: str
    name: str
    owner_ori: str = ""
    priority: int = 50
    ocr_tolerance: int = 1
    state_match: StateMatch = StateMatch.FLAG
    category: str = ""

    def __post_init__(self) -> None:
        if not self.list_id or "|" in self.list_id:
            raise ValueError("list id must be non-empty and must not contain '|'")
        if not 0 <= self.priority <= 100:
            raise ValueError(f"list priority must be 0..100, got {self.priority}")
        if not 0 <= self.ocr_tolerance <= 2:
            raise ValueError(f"OCR tolerance must be 0..2, got {self.ocr_tolerance}")


class Vehicle(NamedTuple):
    year: str = ""
    make: str = ""
    model: str = ""
    style: str = ""
    colour: str = ""


class HotlistEntry(NamedTuple):
    """One wanted plate on one list. Its key is (list_id, state, plate).

    A NamedTuple rather than a frozen dataclass: one is built per hit, and a frozen dataclass's
    __init__ (a setattr per field) costs several times as much.
    """

    list_id: str
    plate: str
    state: str = ""
    category: str = ""
    ncic_code: str = ""
    priority: int | None = None  # None: the list's priority
    owner_ori: str = ""
    case_number: str = ""
    effective: int = NO_TIME  # seconds since the epoch; NO_TIME: always
    expiry: int = FOREVER  # seconds since the epoch, exclusive
    vehicle: Vehicle = Vehicle()
    note: str = ""
    annotations: tuple[tuple[str, str], ...] = ()

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.list_id, self.state, self.plate)

    def active_at(self, t: int) -> bool:
        return self.effective <= t < self.expiry


@dataclass(frozen=True, slots=True)
class MatchQuery:
    """A read as the matcher sees it (`platewatch match`, tests): a plate, its state and time, candidates."""

    read_id: str
    plate: str  # as read, before normalisation
    state: str = ""
    time: int = 0  # seconds since the epoch
    candidates: tuple[str, ...] = ()  # further OCR candidates, each a chance to match


class Hit(NamedTuple):
    """A read that matched an entry."""

    read_index: int  # position of the read in the batch
    matched_plate: str  # the candidate that matched, canonical
    entry: HotlistEntry
    kind: MatchKind
    differing_positions: tuple[int, ...]
    state_mismatch: bool
    priority: int
