"""The hotlist index: many named lists of wanted plates, matched a batch of reads at a time.

In: list settings, entries in bulk (`load_entries`, or `load` of columns a loader filled with
`add_to_columns`) and one at a time (`upsert`, `remove`, `expire`), and batches of reads.
Out: hits (`match_reads`, `match`), and the live entries and counts per list.

`HotlistIndex` is the front door and does the bulk loads itself; the rest is composed from modules of
one responsibility each, all working on one `IndexState` (state.py: lists, entry store, bitmaps and
filters): matching.py matches batches, live.py applies live updates and expiry, views.py lists entries
and counts them. Live updates touch the delta, the bitmaps and the filters only: no rebuild, visible to
the next batch. Bulk loads build a new base off to the side and swap it in with a few assignments.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

import numpy as np
import numpy.typing as npt

from streams.hotlists import live, views
from streams.hotlists.columns import (
    BaseSegment,
    BitFilter,
    CodeSet,
    ColumnIds,
    Detail,
    EntryColumns,
    concat_segments,
    release_free_memory,
    take_rows,
)
from streams.hotlists.matching import Matcher
from streams.hotlists.model import Hit, HotlistEntry, HotlistInfo, MatchQuery
from streams.hotlists.state import LIST_PRIORITY, IndexState
from streams.hotlists.views import ListStats
from streams.plates.codes import EncodedPlates, OcrClasses

__all__ = ["HotlistIndex", "ListStats"]


class HotlistIndex:
    """All hotlists of a worker, matched in batches. Not thread-safe: one owner applies updates."""

    def __init__(self, ocr: OcrClasses | None = None) -> None:
        self.ocr = ocr or OcrClasses()
        self._state = IndexState(self.ocr)
        self._matcher = Matcher(self._state)

    # ---- lists -------------------------------------------------------------------------------

    def define_list(self, info: HotlistInfo) -> None:
        """Add a list or change its settings (entries stay)."""
        self._state.define_list(info)

    def list_info(self, list_id: str) -> HotlistInfo | None:
        return self._state.list_info(list_id)

    # ---- bulk loads --------------------------------------------------------------------------

    def columns(self) -> EntryColumns:
        return EntryColumns()

    def add_to_columns(self, cols: EntryColumns, entry: HotlistEntry) -> None:
        """Append one entry to `cols` (a loader's batch), interning its shared parts."""
        list_ix, state, priority, window, detail, vehicle = self.column_ids(entry)
        cols.plates.append(entry.plate)
        cols.lists.append(list_ix)
        cols.states.append(state)
        cols.priorities.append(priority)
        cols.windows.append(window)
        cols.details.append(detail)
        cols.vehicles.append(vehicle)
        assert isinstance(cols.cases, list), "entries cannot be appended to array-built columns"
        cols.cases.append(entry.case_number.encode())

    def column_ids(self, entry: HotlistEntry) -> ColumnIds:
        """The entry's column values but plate and case: list, state, priority and interned ids.
        Raises ValueError for a priority out of range or a 256th state."""
        s = self._state
        if entry.priority is not None and not 0 <= entry.priority <= 100:
            raise ValueError(f"entry priority must be 0..100, got {entry.priority}")
        detail = Detail(entry.category, entry.ncic_code, entry.owner_ori, entry.note, entry.annotations)
        return ColumnIds(
            s.ensure_list(entry.list_id),
            s.state_id(entry.state),
            LIST_PRIORITY if entry.priority is None else entry.priority,
            s.windows.id_of((entry.effective, entry.expiry)),
            s.details.id_of(detail),
            s.vehicles.id_of(entry.vehicle),
        )

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
        s = self._state
        dropped = {s.list_ix[name] for name in replace_lists if name in s.list_ix}
        old = s.base
        keep = old.alive.copy()
        if dropped:
            keep &= ~np.isin(old.lists, np.array(sorted(dropped), np.uint16))
        delta = EntryColumns()
        for entry in s.delta.values():
            if s.list_ix[entry.list_id] not in dropped:
                self.add_to_columns(delta, entry)
        # arrival order: old base, then live updates, then the load itself (newest wins below)
        base = concat_segments(
            concat_segments(take_rows(old, np.flatnonzero(keep)), BaseSegment.from_columns(delta)),
            BaseSegment.from_columns(cols),
        )
        # one entry per key, the newest winning: sort by key, then by arrival, keep each key's last
        n = len(base.codes)
        order = np.argsort(base.codes, kind="stable")  # rows are in arrival order: stable keeps it
        sorted_codes = base.codes[order]
        shared = sorted_codes[1:] == sorted_codes[:-1]
        if shared.any():  # the few runs of one code: order them by list, state, arrival
            in_run = np.zeros(n, np.bool_)
            in_run[1:] |= shared
            in_run[:-1] |= shared
            span = np.flatnonzero(in_run)
            rows = order[span]
            order[span] = rows[np.lexsort((rows, base.states[rows], base.lists[rows], base.codes[rows]))]
            # (within runs of one code: sorted_codes stays as it is)
        last = np.ones(n, np.bool_)
        if n > 1:  # a key's last row: the next row has another key (column by column, no wide copy)
            last[:-1] = sorted_codes[1:] != sorted_codes[:-1]
            for column in (base.lists[order], base.states[order]):
                last[:-1] |= column[1:] != column[:-1]
        final = order[last]
        del order, sorted_codes, shared, last
        base = take_rows(base, final)
        exact = CodeSet(base.codes)  # sorted by code above: the column is the set
        folded_all = s.fold_codes(base.codes)
        tol2 = s.tol2_bitmap(base, folded_all)
        exact_filter, folded_filter = BitFilter(), BitFilter()
        exact_filter.add_many(base.codes)
        folded_filter.add_many(folded_all)
        # swap: from here on every lookup sees the new state
        s.base, s.exact = base, exact
        s.exact_filter, s.folded_filter = exact_filter, folded_filter
        s.folded_tol2 = tol2
        s.delta, s.delta_by_code = {}, {}
        del old, tol2
        release_free_memory()

    # ---- live updates (live.py) --------------------------------------------------------------

    def upsert(self, entry: HotlistEntry) -> None:
        """Add an entry or replace the one with the same key. Visible to the next match."""
        live.upsert(self._state, entry)

    def remove(self, list_id: str, state: str, plate: str) -> bool:
        """Remove the entry with this key; False when there was none."""
        return live.remove(self._state, list_id, state, plate)

    def expire(self, now: int) -> int:
        """Drop every entry whose expiry has passed; return how many. (Matching already skips them.)"""
        return live.expire(self._state, now)

    # ---- entries and counts (views.py) -------------------------------------------------------

    def entries(self, list_id: str | None = None) -> Iterator[HotlistEntry]:
        """Every live entry (of one list, if named), base first, in plate-code order."""
        return views.entries(self._state, list_id)

    def sample(self, k: int, rng: np.random.Generator) -> list[HotlistEntry]:
        """Up to `k` live entries picked at random (for simulators and benchmarks)."""
        return views.sample(self._state, k, rng)

    def stats(self) -> list[ListStats]:
        return views.stats(self._state)

    def __len__(self) -> int:
        return views.count(self._state)

    def memory(self) -> dict[str, int]:
        """Bytes held by each part (see `views.memory`)."""
        return views.memory(self._state)

    # ---- matching (matching.py) --------------------------------------------------------------

    def match_reads(self, reads: Sequence[MatchQuery]) -> list[Hit]:
        """Match reads, each with its OCR candidates; see `match`."""
        return self._matcher.match_reads(reads)

    def match(
        self,
        plates: EncodedPlates,
        read_index: npt.NDArray[np.intp],
        states: Sequence[str],
        times: Sequence[int],
    ) -> list[Hit]:
        """See `Matcher.match`."""
        return self._matcher.match(plates, read_index, states, times)
