"""A deliberately simple reference matcher: a dict of entries and a brute-force equivalence check."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from streams.hotlists.model import HotlistEntry, HotlistInfo, MatchKind, MatchQuery, StateMatch
from streams.plates.codes import OcrClasses
from streams.plates.normalise import PlateError, normalise_plate

HitKey = tuple[int, tuple[str, str, str], MatchKind, tuple[int, ...], bool]


class ReferenceIndex:
    def __init__(self, ocr: OcrClasses) -> None:
        self.ocr = ocr
        self.lists: dict[str, HotlistInfo] = {}
        self.entries: dict[tuple[str, str, str], HotlistEntry] = {}

    def define_list(self, info: HotlistInfo) -> None:
        self.lists[info.list_id] = info

    def upsert(self, entry: HotlistEntry) -> None:
        self.lists.setdefault(entry.list_id, HotlistInfo(entry.list_id, entry.list_id))
        self.entries[entry.key] = entry

    def remove(self, list_id: str, state: str, plate: str) -> None:
        self.entries.pop((list_id, state, plate), None)

    def load(self, entries: Iterable[HotlistEntry], replace_lists: Iterable[str] = ()) -> None:
        drop = set(replace_lists)
        self.entries = {k: e for k, e in self.entries.items() if e.list_id not in drop}
        for e in entries:
            self.upsert(e)

    def diff(self, a: str, b: str) -> tuple[int, ...] | None:
        if len(a) != len(b):
            return None
        positions = tuple(i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y)
        if any(self.ocr.fold_char(a[i]) != self.ocr.fold_char(b[i]) for i in positions):
            return None
        return positions

    def match(self, reads: Sequence[MatchQuery]) -> set[HitKey]:
        best: dict[tuple[int, tuple[str, str, str]], HitKey] = {}
        for r, read in enumerate(reads):
            for raw in (read.plate, *read.candidates):
                try:
                    plate = normalise_plate(raw)
                except PlateError:
                    continue
                for entry in self.entries.values():
                    info = self.lists[entry.list_id]
                    positions = self.diff(plate, entry.plate)
                    if positions is None or len(positions) > info.ocr_tolerance:
                        continue
                    if not entry.active_at(read.time):
                        continue
                    mismatch = bool(read.state and entry.state and read.state != entry.state)
                    if info.state_match is StateMatch.IGNORE:
                        mismatch = False
                    elif info.state_match is StateMatch.REQUIRE and mismatch:
                        continue
                    kind = MatchKind.EQUIVALENT if positions else MatchKind.EXACT
                    hit = (r, entry.key, kind, positions, mismatch)
                    prior = best.get((r, entry.key))
                    if prior is None or len(positions) < len(prior[3]):
                        best[(r, entry.key)] = hit
        return set(best.values())
