"""What a hotlist index is made of, and the lookups every part of it shares.

In: list settings (`define_list`) and entries, put here by the bulk loader (index.py) as a base segment
of numpy columns and by live updates (live.py) as a delta of `HotlistEntry` objects.
Out: for plate codes, the live entries listed under each (`entries_for_codes`) and whether any is left
(`has_code`); base rows as `HotlistEntry`s (`entries_at`); a list's settings; the OCR-folded codes
used to gate look-alike searches. Nothing here matches reads or changes entries.

Layout (see docs/architecture.md for the reasoning):
- exact membership lives in a code set (`CodeSet`): the base segment's own sorted code column and
  the live changes since; in front of it sits a blocked bit filter in a numpy array, so a whole
  batch is tested in a few vectorised steps and only its few candidates pay a binary search;
- OCR-folded codes live only in a second bit filter: a superset that gates the look-alike search;
- entry details live in a *base* segment of numpy columns sorted by plate code (bulk loads build it)
  and a small *delta* of live updates held as objects; a removed base entry is marked dead.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from pyroaring import BitMap64

from streams.hotlists.columns import CODE_CHUNK, BaseSegment, BitFilter, CodeSet, Detail, Interned, distinct_sorted
from streams.hotlists.model import FOREVER, NO_TIME, HotlistEntry, HotlistInfo, Vehicle
from streams.plates.codes import Codes, OcrClasses, codes_to_digits, decode_plate, digits_to_codes, encode_plate

LIST_PRIORITY = 255  # priority column value meaning "the list's priority"

Key = tuple[str, str, str]  # (list id, state, plate)


class IndexState:
    """The lists, the entry store, and the membership bitmaps and filters in front of it.

    Its parts are read and replaced by the index's modules (bulk load, live updates, matching,
    statistics); a bulk load swaps whole parts in by assignment, so readers look them up per batch.
    """

    def __init__(self, ocr: OcrClasses) -> None:
        self.ocr = ocr
        self.infos: list[HotlistInfo] = []
        self.list_ix: dict[str, int] = {}
        self.states: Interned[str] = Interned("")
        self.details: Interned[Detail] = Interned(Detail("", "", "", "", ()))
        self.vehicles: Interned[Vehicle] = Interned(Vehicle())
        self.windows: Interned[tuple[int, int]] = Interned((NO_TIME, FOREVER))
        self.base = BaseSegment.empty()
        self.delta: dict[Key, HotlistEntry] = {}
        self.delta_by_code: dict[int, set[Key]] = {}
        self.exact = CodeSet()
        self.exact_filter = BitFilter()
        self.folded_filter = BitFilter()
        self.max_tolerance = 0
        # folded codes of entries on lists that allow two changes: gates the slow two-change search
        self.folded_tol2 = BitMap64()

    # ---- lists -------------------------------------------------------------------------------

    def define_list(self, info: HotlistInfo) -> None:
        """Add a list or change its settings (entries stay)."""
        ix = self.list_ix.get(info.list_id)
        if ix is None:
            if len(self.infos) >= 2**16:
                raise ValueError("at most 65536 lists")
            self.list_ix[info.list_id] = len(self.infos)
            self.infos.append(info)
        else:
            old, self.infos[ix] = self.infos[ix], info
            if info.ocr_tolerance >= 2 > old.ocr_tolerance:
                self.folded_tol2 = self.tol2_bitmap(self.base, self.fold_codes(self.base.codes))
        self.max_tolerance = max(i.ocr_tolerance for i in self.infos)

    def list_info(self, list_id: str) -> HotlistInfo | None:
        ix = self.list_ix.get(list_id)
        return None if ix is None else self.infos[ix]

    def ensure_list(self, list_id: str) -> int:
        """The list's position, defining it with default settings when it is new."""
        if list_id not in self.list_ix:
            self.define_list(HotlistInfo(list_id=list_id, name=list_id))
        return self.list_ix[list_id]

    def state_id(self, state: str) -> int:
        i = self.states.id_of(state)
        if i > 255:
            raise ValueError("more than 255 distinct plate states")
        return i

    # ---- folded codes ------------------------------------------------------------------------

    def fold_codes(self, codes: Codes) -> Codes:
        """Each code's OCR-folded code, a chunk at a time: the digit matrices of 10M codes at once took
        1.1 GB more while a replica loaded its index (as 64-bit digits for the powers' product)."""
        out = np.empty(len(codes), np.uint64)
        for start in range(0, len(codes), CODE_CHUNK):
            digits, lengths = codes_to_digits(codes[start : start + CODE_CHUNK])
            out[start : start + len(digits)] = digits_to_codes(self.ocr.fold_lut[digits], lengths)
        return out

    def tol2_bitmap(self, base: BaseSegment, folded_all: Codes) -> BitMap64:
        """Folded codes of `base`'s live rows and the delta's entries on lists allowing two changes."""
        tol2_lists = [ix for ix, info in enumerate(self.infos) if info.ocr_tolerance >= 2]
        if not tol2_lists:
            return BitMap64()
        rows = base.alive & np.isin(base.lists, np.array(tol2_lists, np.uint16))
        out = BitMap64(distinct_sorted(np.sort(folded_all[rows])))
        for e in self.delta.values():
            if self.infos[self.list_ix[e.list_id]].ocr_tolerance >= 2:
                out.add(encode_plate(self.ocr.fold(e.plate)))
        return out

    # ---- lookups -----------------------------------------------------------------------------

    def entries_for_codes(self, codes: list[int]) -> list[list[HotlistEntry]]:
        """The live entries listed under each code (the base segment searched for all codes at once,
        and their rows read a column at a time, then the delta)."""
        base = self.base
        first, end = base.rows_for_many(np.array(codes, np.uint64))
        counts = end - first
        rows = np.repeat(first - np.cumsum(counts) + counts, counts) + np.arange(int(counts.sum()))
        live = base.alive[rows]
        entries = iter(self.entries_at(rows[live]))
        delta, delta_by_code = self.delta, self.delta_by_code
        out = []
        at = 0
        for code, n in zip(codes, counts.tolist(), strict=True):
            found = [next(entries) for alive in live[at : at + n].tolist() if alive]
            at += n
            if delta_by_code:
                found.extend(delta[k] for k in delta_by_code.get(code, ()))
            out.append(found)
        return out

    def has_code(self, code: int) -> bool:
        if code in self.delta_by_code:
            return True
        base = self.base
        return any(base.alive[r] for r in base.rows_for(code))

    def entries_at(self, rows: npt.NDArray[np.intp]) -> list[HotlistEntry]:
        """Base rows as `HotlistEntry`s: each column read for all rows at once, then one object a row."""
        b = self.base
        details, vehicles, windows = self.details.values, self.vehicles.values, self.windows.values
        states, infos = self.states.values, self.infos
        out = []
        for code, lst, state, prio, window, detail_ix, vehicle_ix, case in zip(
            b.codes[rows].tolist(), b.lists[rows].tolist(), b.states[rows].tolist(), b.priorities[rows].tolist(),
            b.windows[rows].tolist(), b.details[rows].tolist(), b.vehicles[rows].tolist(), b.cases[rows].tolist(),
            strict=True,
        ):  # fmt: skip
            detail = details[detail_ix]
            effective, expiry = windows[window]
            out.append(
                HotlistEntry(
                    list_id=infos[lst].list_id,
                    plate=decode_plate(code),
                    state=str(states[state]),
                    category=detail.category,
                    ncic_code=detail.ncic_code,
                    priority=None if prio == LIST_PRIORITY else prio,
                    owner_ori=detail.owner_ori,
                    case_number=case.decode(),
                    effective=effective,
                    expiry=expiry,
                    vehicle=vehicles[vehicle_ix],
                    note=detail.note,
                    annotations=detail.annotations,
                )
            )
        return out
