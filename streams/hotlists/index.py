"""The hotlist index: many named lists of wanted plates, matched a batch of reads at a time.

Layout (see docs/architecture.md for the reasoning):
- membership lives in two roaring bitmaps (`BitMap64`): plate codes, and OCR-folded codes;
- in front of each sits a one-hash bit filter in a numpy array, so a whole batch is tested in a few
  vectorised steps and only its few candidates pay a per-element bitmap test;
- entry details live in a *base* segment of numpy columns sorted by plate code (bulk loads build it)
  and a small *delta* of live updates held as objects; a removed base entry is marked dead.
Live updates touch the delta, the bitmaps and the filters only: no rebuild, visible to the next batch.
Bulk loads build a new base off to the side and swap it in with one assignment.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import numpy.typing as npt
from pyroaring import BitMap64

from streams.hotlists.columns import (
    BaseSegment,
    BitFilter,
    Detail,
    EntryColumns,
    Interned,
    concat_segments,
    release_free_memory,
    take_rows,
)
from streams.hotlists.model import (
    FOREVER,
    NO_TIME,
    Hit,
    HotlistEntry,
    HotlistInfo,
    MatchKind,
    Read,
    StateMatch,
    Vehicle,
)
from streams.plates.codes import (
    BASE,
    DIGIT,
    POWERS,
    Codes,
    EncodedPlates,
    OcrClasses,
    codes_to_digits,
    decode_plate,
    digits_to_codes,
    encode_plate,
    encode_plates,
)
from streams.plates.normalise import MAX_PLATE_LENGTH

T = TypeVar("T")

_LIST_PRIORITY = 255  # priority column value meaning "the list's priority"
_POWERS_I64 = POWERS.astype(np.int64)


@dataclass(frozen=True, slots=True)
class ListStats:
    info: HotlistInfo
    entries: int


class HotlistIndex:
    """All hotlists of a worker, matched in batches. Not thread-safe: one owner applies updates."""

    def __init__(self, ocr: OcrClasses | None = None) -> None:
        self.ocr = ocr or OcrClasses()
        self._infos: list[HotlistInfo] = []
        self._list_ix: dict[str, int] = {}
        self._states: Interned[str] = Interned("")
        self._details: Interned[Detail] = Interned(Detail("", "", "", "", ()))
        self._vehicles: Interned[Vehicle] = Interned(Vehicle())
        self._windows: Interned[tuple[int, int]] = Interned((NO_TIME, FOREVER))
        self._base = BaseSegment.empty()
        self._delta: dict[tuple[str, str, str], HotlistEntry] = {}
        self._delta_by_code: dict[int, set[tuple[str, str, str]]] = {}
        self._exact = BitMap64()
        self._folded = BitMap64()
        self._exact_filter = BitFilter()
        self._folded_filter = BitFilter()
        self._max_tolerance = 0
        self._delta_by_class = self._class_deltas()
        self._delta_table = np.zeros((BASE, 3), np.int64)
        for d, alternatives in self._delta_by_class.items():
            self._delta_table[d, : len(alternatives)] = alternatives
        # folded codes of entries on lists that allow two changes: gates the slow two-change search
        self._folded_tol2 = BitMap64()

    # ---- lists -------------------------------------------------------------------------------

    def define_list(self, info: HotlistInfo) -> None:
        """Add a list or change its settings (entries stay)."""
        ix = self._list_ix.get(info.list_id)
        if ix is None:
            if len(self._infos) >= 2**16:
                raise ValueError("at most 65536 lists")
            self._list_ix[info.list_id] = len(self._infos)
            self._infos.append(info)
        else:
            old, self._infos[ix] = self._infos[ix], info
            if info.ocr_tolerance >= 2 > old.ocr_tolerance:
                self._folded_tol2 = self._tol2_bitmap(self._base, self._fold_codes(self._base.codes))
        self._max_tolerance = max(i.ocr_tolerance for i in self._infos)

    def list_info(self, list_id: str) -> HotlistInfo | None:
        ix = self._list_ix.get(list_id)
        return None if ix is None else self._infos[ix]

    def _ensure_list(self, list_id: str) -> int:
        if list_id not in self._list_ix:
            self.define_list(HotlistInfo(list_id=list_id, name=list_id))
        return self._list_ix[list_id]

    # ---- bulk loads --------------------------------------------------------------------------

    def columns(self) -> EntryColumns:
        return EntryColumns()

    def add_to_columns(self, cols: EntryColumns, entry: HotlistEntry) -> None:
        """Append one entry to `cols` (a loader's batch), interning its shared parts."""
        cols.plates.append(entry.plate)
        cols.lists.append(self._ensure_list(entry.list_id))
        cols.states.append(self._state_id(entry.state))
        if entry.priority is not None and not 0 <= entry.priority <= 100:
            raise ValueError(f"entry priority must be 0..100, got {entry.priority}")
        cols.priorities.append(_LIST_PRIORITY if entry.priority is None else entry.priority)
        cols.windows.append(self._windows.id_of((entry.effective, entry.expiry)))
        detail = Detail(entry.category, entry.ncic_code, entry.owner_ori, entry.note, entry.annotations)
        cols.details.append(self._details.id_of(detail))
        cols.vehicles.append(self._vehicles.id_of(entry.vehicle))
        assert isinstance(cols.cases, list), "entries cannot be appended to array-built columns"
        cols.cases.append(entry.case_number.encode())

    def _state_id(self, state: str) -> int:
        i = self._states.id_of(state)
        if i > 255:
            raise ValueError("more than 255 distinct plate states")
        return i

    def load_entries(self, entries: Iterable[HotlistEntry], *, replace_lists: Iterable[str] = ()) -> None:
        """Bulk-load entries (a loader's output); see `load`."""
        cols = self.columns()
        for entry in entries:
            self.add_to_columns(cols, entry)
        self.load(cols, replace_lists=replace_lists)

    def load(self, cols: EntryColumns, *, replace_lists: Iterable[str] = ()) -> None:
        """Bulk-load `cols`. Lists named in `replace_lists` lose every entry not in `cols`.

        A key present before and in `cols` takes the new entry. The new base is built aside and
        swapped in at the end, so a batch matched meanwhile sees the old state or the new, whole.
        """
        dropped = {self._list_ix[name] for name in replace_lists if name in self._list_ix}
        old = self._base
        keep = old.alive.copy()
        if dropped:
            keep &= ~np.isin(old.lists, np.array(sorted(dropped), np.uint16))
        delta = EntryColumns()
        for entry in self._delta.values():
            if self._list_ix[entry.list_id] not in dropped:
                self.add_to_columns(delta, entry)
        # arrival order: old base, then live updates, then the load itself (newest wins below)
        base = concat_segments(
            concat_segments(take_rows(old, np.flatnonzero(keep)), BaseSegment.from_columns(delta)),
            BaseSegment.from_columns(cols),
        )
        # one entry per key, the newest winning: sort by key, then by arrival, keep each key's last
        n = len(base.codes)
        arrival = np.arange(n)
        order = np.lexsort((arrival, base.states, base.lists, base.codes))
        sorted_key = np.stack([base.codes[order], base.lists[order], base.states[order]])
        last = np.ones(n, np.bool_)
        if n > 1:
            last[:-1] = (sorted_key[:, 1:] != sorted_key[:, :-1]).any(axis=0)
        final = order[last]
        base = take_rows(base, final)
        exact = BitMap64(np.unique(base.codes))
        folded_all = self._fold_codes(base.codes)
        folded_codes = np.unique(folded_all)
        folded = BitMap64(folded_codes)
        tol2 = self._tol2_bitmap(base, folded_all)
        exact_filter, folded_filter = BitFilter(), BitFilter()
        exact_filter.add_many(base.codes)
        folded_filter.add_many(folded_codes)
        # swap: from here on every lookup sees the new state
        self._base, self._exact, self._folded = base, exact, folded
        self._exact_filter, self._folded_filter = exact_filter, folded_filter
        self._folded_tol2 = tol2
        self._delta, self._delta_by_code = {}, {}
        del old, tol2
        release_free_memory()

    def _tol2_bitmap(self, base: BaseSegment, folded_all: Codes) -> BitMap64:
        tol2_lists = [ix for ix, info in enumerate(self._infos) if info.ocr_tolerance >= 2]
        if not tol2_lists:
            return BitMap64()
        rows = base.alive & np.isin(base.lists, np.array(tol2_lists, np.uint16))
        out = BitMap64(np.unique(folded_all[rows]))
        for e in self._delta.values():
            if self._infos[self._list_ix[e.list_id]].ocr_tolerance >= 2:
                out.add(encode_plate(self.ocr.fold(e.plate)))
        return out

    def _fold_codes(self, codes: Codes) -> Codes:
        digits, lengths = codes_to_digits(codes)
        return digits_to_codes(self.ocr.fold_lut[digits], lengths)

    # ---- live updates ------------------------------------------------------------------------

    def upsert(self, entry: HotlistEntry) -> None:
        """Add an entry or replace the one with the same key. Visible to the next match."""
        self._ensure_list(entry.list_id)
        code = encode_plate(entry.plate)
        self._kill_base_row(entry.key, code)
        self._delta[entry.key] = entry
        self._delta_by_code.setdefault(code, set()).add(entry.key)
        folded = encode_plate(self.ocr.fold(entry.plate))
        self._exact.add(code)
        self._folded.add(folded)
        self._exact_filter.add(code)
        self._folded_filter.add(folded)
        if self._infos[self._list_ix[entry.list_id]].ocr_tolerance >= 2:
            self._folded_tol2.add(folded)

    def remove(self, list_id: str, state: str, plate: str) -> bool:
        """Remove the entry with this key; False when there was none."""
        key = (list_id, state, plate)
        code = encode_plate(plate)
        found = self._kill_base_row(key, code)
        if self._delta.pop(key, None) is not None:
            found = True
            keys = self._delta_by_code[code]
            keys.discard(key)
            if not keys:
                del self._delta_by_code[code]
        if found and not self._has_code(code):
            # the folded bitmap and both filters keep the code: they only need to be supersets
            self._exact.discard(code)
        return found

    def expire(self, now: int) -> int:
        """Drop every entry whose expiry has passed; return how many. (Matching already skips them.)"""
        base = self._base
        expiry = np.array([w[1] for w in self._windows.values], np.int64)
        gone = np.flatnonzero(base.alive & (expiry[base.windows] <= now))
        base.alive[gone] = False
        removed = len(gone)
        stale = [e for e in self._delta.values() if e.expiry <= now]
        for e in stale:
            self.remove(*e.key)
        removed += len(stale)
        for code in np.unique(base.codes[gone]).tolist():
            if not self._has_code(code):
                self._exact.discard(code)
        return removed

    def _kill_base_row(self, key: tuple[str, str, str], code: int) -> bool:
        list_ix = self._list_ix.get(key[0])
        state_ix = self._states.ids.get(key[1])
        if list_ix is None or state_ix is None or code not in self._exact:
            return False
        base = self._base
        for row in base.rows_for(code):
            if base.alive[row] and base.lists[row] == list_ix and base.states[row] == state_ix:
                base.alive[row] = False
                return True
        return False

    def _has_code(self, code: int) -> bool:
        if code in self._delta_by_code:
            return True
        base = self._base
        return any(base.alive[r] for r in base.rows_for(code))

    # ---- lookups -----------------------------------------------------------------------------

    def _entries_for_code(self, code: int) -> list[HotlistEntry]:
        base = self._base
        found = [self._entry_at(r) for r in base.rows_for(code) if base.alive[r]]
        found.extend(self._delta[k] for k in self._delta_by_code.get(code, ()))
        return found

    def _entry_at(self, row: int) -> HotlistEntry:
        b = self._base
        detail = self._details.values[int(b.details[row])]
        vehicle = self._vehicles.values[int(b.vehicles[row])]
        prio = int(b.priorities[row])
        effective, expiry = self._windows.values[int(b.windows[row])]

        return HotlistEntry(
            list_id=self._infos[int(b.lists[row])].list_id,
            plate=decode_plate(int(b.codes[row])),
            state=str(self._states.values[int(b.states[row])]),
            category=detail.category,
            ncic_code=detail.ncic_code,
            priority=None if prio == _LIST_PRIORITY else prio,
            owner_ori=detail.owner_ori,
            case_number=b.case(row),
            effective=effective,
            expiry=expiry,
            vehicle=vehicle,
            note=detail.note,
            annotations=detail.annotations,
        )

    def entries(self, list_id: str | None = None) -> Iterator[HotlistEntry]:
        """Every live entry (of one list, if named), base first, in plate-code order."""
        base = self._base
        rows = np.flatnonzero(base.alive)
        if list_id is not None:
            ix = self._list_ix.get(list_id)
            if ix is None:
                return
            rows = rows[base.lists[rows] == ix]
        for r in rows.tolist():
            yield self._entry_at(r)
        for e in self._delta.values():
            if list_id is None or e.list_id == list_id:
                yield e

    def sample(self, k: int, rng: np.random.Generator) -> list[HotlistEntry]:
        """Up to `k` live entries picked at random (for simulators and benchmarks)."""
        alive = np.flatnonzero(self._base.alive)
        picked = (
            [self._entry_at(int(r)) for r in rng.choice(alive, min(k, len(alive)), replace=False)] if len(alive) else []
        )
        picked.extend(list(self._delta.values())[: max(0, k - len(picked))])
        return picked

    def stats(self) -> list[ListStats]:
        base = self._base
        counts = np.bincount(base.lists[base.alive], minlength=len(self._infos))
        per_list = {info.list_id: int(counts[i]) for i, info in enumerate(self._infos)}
        for e in self._delta.values():
            per_list[e.list_id] += 1
        return [ListStats(info, per_list[info.list_id]) for info in self._infos]

    def __len__(self) -> int:
        return int(self._base.alive.sum()) + len(self._delta)

    # ---- matching ----------------------------------------------------------------------------

    def match_reads(self, reads: Sequence[Read]) -> list[Hit]:
        """Match reads, each with its OCR candidates; see `match`."""
        raw: list[str] = []
        owner: list[int] = []
        for i, read in enumerate(reads):
            raw.append(read.plate)
            owner.append(i)
            for candidate in read.candidates:
                raw.append(candidate)
                owner.append(i)
        plates = encode_plates(raw, self.ocr)
        return self.match(plates, np.array(owner, np.intp), [r.state for r in reads], [r.time for r in reads])

    def match(
        self,
        plates: EncodedPlates,
        read_index: npt.NDArray[np.intp],
        states: Sequence[str],
        times: Sequence[int],
    ) -> list[Hit]:
        """Match a batch of encoded plates; several plates may belong to one read (OCR candidates).

        `read_index[i]` is the read plate i belongs to; `states` and `times` are indexed by read.
        Returns hits ordered by read, then priority (0 first); one hit per (read, entry), the
        closest match winning when several candidates hit the same entry.
        """
        codes, folded = plates.codes, plates.folded
        good = plates.good
        exact_rows = np.flatnonzero(self._exact_filter.maybe(codes) & good)
        exact_set = self._exact
        exact_hit = {i for i, c in zip(exact_rows.tolist(), codes[exact_rows].tolist(), strict=True) if c in exact_set}
        candidates = set(exact_hit)
        if self._max_tolerance:
            folded_rows = np.flatnonzero(self._folded_filter.maybe(folded) & good)
            folded_set = self._folded
            candidates.update(
                i for i, c in zip(folded_rows.tolist(), folded[folded_rows].tolist(), strict=True) if c in folded_set
            )
        if not candidates:
            return []
        found: list[tuple[int, int, tuple[int, ...]]] = [(i, int(codes[i]), ()) for i in sorted(exact_hit)]
        rows = np.array(sorted(candidates), np.intp)
        if self._max_tolerance:
            found.extend(self._one_change_variants(plates, rows))
        if self._max_tolerance >= 2:
            tol2 = self._folded_tol2
            for i in rows.tolist():
                if int(folded[i]) in tol2:
                    found.extend((i, v, pos) for v, pos in self._variants(plates, i, exact_set, 2))
        best: dict[tuple[int, tuple[str, str, str]], Hit] = {}
        for i, variant, positions in found:
            read = int(read_index[i])
            for entry in self._entries_for_code(variant):
                hit = self._judge(entry, read, positions, states[read], times[read], plates.plate(i))
                if hit is None:
                    continue
                key = (read, entry.key)
                prior = best.get(key)
                if prior is None or len(hit.differing_positions) < len(prior.differing_positions):
                    best[key] = hit
        return sorted(best.values(), key=lambda h: (h.read_index, h.priority, h.entry.list_id))

    def _one_change_variants(
        self, plates: EncodedPlates, rows: npt.NDArray[np.intp]
    ) -> Iterator[tuple[int, int, tuple[int, ...]]]:
        """Index codes one look-alike change away from each row's plate, found a batch at a time."""
        deltas = self._delta_table[plates.digits[rows]]  # (rows, positions, alternatives)
        valid = deltas != 0
        if not valid.any():
            return
        row_ix, pos_ix, _ = np.nonzero(valid)
        # position p of a plate of length n weighs 37**(n-1-p) in its code
        shift = MAX_PLATE_LENGTH - plates.lengths[rows][row_ix]
        weights = _POWERS_I64[pos_ix + shift]
        variants = (plates.codes[rows].astype(np.int64)[row_ix] + deltas[valid] * weights).astype(np.uint64)
        maybe = np.flatnonzero(self._exact_filter.maybe(variants))
        exact_set = self._exact
        for k in maybe.tolist():
            v = int(variants[k])
            if v in exact_set:
                yield int(rows[row_ix[k]]), v, (int(pos_ix[k]),)

    def _variants(
        self, plates: EncodedPlates, i: int, exact_set: BitMap64, changes: int
    ) -> Iterator[tuple[int, tuple[int, ...]]]:
        """Index codes exactly `changes` look-alike changes away from plate i (a slow, rare path)."""
        code = int(plates.codes[i])
        length = int(plates.lengths[i])
        digits = plates.digits[i, :length].tolist()
        options = [(p, self._delta_by_class.get(d, ())) for p, d in enumerate(digits)]
        options = [(p, deltas) for p, deltas in options if deltas]
        for chosen in itertools.combinations(options, changes):
            positions = tuple(p for p, _ in chosen)
            for deltas in itertools.product(*(d for _, d in chosen)):
                variant = code + sum(
                    delta * int(POWERS[p + MAX_PLATE_LENGTH - length])
                    for p, delta in zip(positions, deltas, strict=True)
                )
                if variant in exact_set:
                    yield variant, positions

    def _class_deltas(self) -> dict[int, tuple[int, ...]]:
        """For each digit value, the value changes that turn it into another member of its class."""
        out: dict[int, tuple[int, ...]] = {}
        for cls in self.ocr.classes:
            for ch in cls:
                out[DIGIT[ch]] = tuple(DIGIT[o] - DIGIT[ch] for o in cls if o != ch)
        return out

    def _judge(
        self,
        entry: HotlistEntry,
        read: int,
        positions: tuple[int, ...],
        read_state: str,
        time: int,
        plate: str,
    ) -> Hit | None:
        info = self._infos[self._list_ix[entry.list_id]]
        if len(positions) > info.ocr_tolerance or not entry.active_at(time):
            return None
        mismatch = bool(read_state and entry.state and read_state != entry.state)
        if info.state_match is StateMatch.IGNORE:
            mismatch = False
        elif info.state_match is StateMatch.REQUIRE and mismatch:
            return None
        return Hit(
            read_index=read,
            matched_plate=plate,
            entry=entry,
            kind=MatchKind.EQUIVALENT if positions else MatchKind.EXACT,
            differing_positions=positions,
            state_mismatch=mismatch,
            priority=info.priority if entry.priority is None else entry.priority,
        )
