"""Matching a batch of reads against an index's state.

In: the `IndexState` an index keeps, and a batch: `MatchQuery`s (`match_reads`), or already encoded plates
(`match`: codes, OCR-folded codes and digits of every plate, several plates possibly per read, with
the read each belongs to and each read's state and time).
Out: `Hit`s, one per (read, entry), ordered by read then priority. Nothing here changes the state.

The steps: a bit filter then the exact code set find plates listed exactly; a second bit filter, of
OCR-folded codes, finds plates whose folded form may be listed (a superset: about 1% false
candidates with 10M entries); for those, the index codes one look-alike change away are computed for
the whole batch at once (numpy) and looked up in the exact set, and two changes away one plate at a
time (a slow path gated by a bitmap of lists that allow it); every entry under a found code is then
judged against its list's settings.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence

import numpy as np
import numpy.typing as npt

from streams.hotlists.columns import CodeSet
from streams.hotlists.model import Hit, HotlistEntry, HotlistInfo, MatchKind, MatchQuery, StateMatch
from streams.hotlists.state import IndexState, Key
from streams.plates.codes import BASE, DIGIT, POWERS, EncodedPlates, OcrClasses, encode_plates
from streams.plates.normalise import MAX_PLATE_LENGTH

_POWERS_I64 = POWERS.astype(np.int64)

Found = tuple[int, int, tuple[int, ...]]  # (plate row in the batch, listed code, differing positions)


class Matcher:
    """Matches batches against one `IndexState`; holds the look-alike tables of its OCR classes."""

    def __init__(self, state: IndexState) -> None:
        self._state = state
        self._delta_by_class = class_deltas(state.ocr)
        self._delta_table = np.zeros((BASE, 3), np.int64)
        for d, alternatives in self._delta_by_class.items():
            self._delta_table[d, : len(alternatives)] = alternatives

    def match_reads(self, reads: Sequence[MatchQuery]) -> list[Hit]:
        """Match reads, each with its OCR candidates; see `match`."""
        raw: list[str] = []
        read_of_plate: list[int] = []
        for i, read in enumerate(reads):
            raw.append(read.plate)
            read_of_plate.append(i)
            for candidate in read.candidates:
                raw.append(candidate)
                read_of_plate.append(i)
        plates = encode_plates(raw, self._state.ocr)
        return self.match(plates, np.array(read_of_plate, np.intp), [r.state for r in reads], [r.time for r in reads])

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
        s = self._state
        max_tolerance = s.max_tolerance
        codes, folded = plates.codes, plates.folded
        good = plates.good
        exact_set = s.exact
        exact_rows = np.flatnonzero(s.exact_filter.maybe(codes) & good)
        exact_rows = exact_rows[exact_set.contains_many(codes[exact_rows])]
        rows = exact_rows
        if max_tolerance:
            # the folded filter alone gates the look-alike search: its false candidates only cost a
            # vectorised variant lookup, and a sorted set of 10M folded codes would hold 78 MB
            rows = np.union1d(rows, np.flatnonzero(s.folded_filter.maybe(folded) & good))
        if not len(rows):
            return []
        found: list[Found] = [(i, c, ()) for i, c in zip(exact_rows.tolist(), codes[exact_rows].tolist(), strict=True)]
        rows = rows.astype(np.intp, copy=False)
        if max_tolerance:
            found.extend(self._one_change_variants(plates, rows))
        if max_tolerance >= 2:
            tol2 = s.folded_tol2
            for i in rows.tolist():
                if int(folded[i]) in tol2:
                    found.extend((i, v, pos) for v, pos in self._variants(plates, i, exact_set, 2))
        infos, list_ix = s.infos, s.list_ix
        best: dict[tuple[int, Key], Hit] = {}
        entries_of = s.entries_for_codes([variant for _, variant, _ in found])
        for (i, _, positions), entries in zip(found, entries_of, strict=True):
            read = int(read_index[i])
            for entry in entries:
                info = infos[list_ix[entry.list_id]]
                hit = judge(info, entry, read, positions, states[read], times[read], plates.plate(i))
                if hit is None:
                    continue
                key = (read, entry.key)
                prior = best.get(key)
                if prior is None or len(hit.differing_positions) < len(prior.differing_positions):
                    best[key] = hit
        return sorted(best.values(), key=lambda h: (h.read_index, h.priority, h.entry.list_id))

    def _one_change_variants(self, plates: EncodedPlates, rows: npt.NDArray[np.intp]) -> Iterator[Found]:
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
        maybe = np.flatnonzero(self._state.exact_filter.maybe(variants))
        listed = maybe[self._state.exact.contains_many(variants[maybe])]
        for k, v in zip(listed.tolist(), variants[listed].tolist(), strict=True):
            yield int(rows[row_ix[k]]), v, (int(pos_ix[k]),)

    def _variants(
        self, plates: EncodedPlates, i: int, exact_set: CodeSet, changes: int
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


def class_deltas(ocr: OcrClasses) -> dict[int, tuple[int, ...]]:
    """For each digit value, the value changes that turn it into another member of its class."""
    out: dict[int, tuple[int, ...]] = {}
    for cls in ocr.classes:
        for ch in cls:
            out[DIGIT[ch]] = tuple(DIGIT[o] - DIGIT[ch] for o in cls if o != ch)
    return out


def judge(
    info: HotlistInfo,
    entry: HotlistEntry,
    read: int,
    positions: tuple[int, ...],
    read_state: str,
    time: int,
    plate: str,
) -> Hit | None:
    """The hit of a read on an entry of list `info` differing at `positions`, or None if the list's
    settings (OCR tolerance, state match) or the entry's window rule it out."""
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
