"""Live updates of an index's state: one entry added, replaced or removed, and expiry.

In: an `IndexState` and an entry (`upsert`), a key (`remove`) or a time (`expire`).
Out: the state changed in place, visible to the next batch matched: no rebuild. A new or replaced
entry goes to the delta; the base row it replaces is marked dead. The bitmaps and filters gain the
entry's codes; a removal drops a code from the exact set only once no live entry has it (the filters
only need to be supersets).
"""

from __future__ import annotations

import numpy as np

from streams.hotlists.model import HotlistEntry
from streams.hotlists.state import IndexState, Key
from streams.plates.codes import encode_plate


def upsert(s: IndexState, entry: HotlistEntry) -> None:
    """Add an entry or replace the one with the same key."""
    list_ix = s.ensure_list(entry.list_id)
    code = encode_plate(entry.plate)
    _kill_base_row(s, entry.key, code)
    s.delta[entry.key] = entry
    s.delta_by_code.setdefault(code, set()).add(entry.key)
    folded = encode_plate(s.ocr.fold(entry.plate))
    s.exact.add(code)
    s.exact_filter.add(code)
    s.folded_filter.add(folded)
    if s.infos[list_ix].ocr_tolerance >= 2:
        s.folded_tol2.add(folded)


def remove(s: IndexState, list_id: str, state: str, plate: str) -> bool:
    """Remove the entry with this key; False when there was none."""
    key = (list_id, state, plate)
    code = encode_plate(plate)
    found = _kill_base_row(s, key, code)
    if s.delta.pop(key, None) is not None:
        found = True
        keys = s.delta_by_code[code]
        keys.discard(key)
        if not keys:
            del s.delta_by_code[code]
    if found and not s.has_code(code):
        s.exact.discard(code)
    return found


def expire(s: IndexState, now: int) -> int:
    """Drop every entry whose expiry has passed; return how many. (Matching already skips them.)"""
    base = s.base
    expiry = np.array([w[1] for w in s.windows.values], np.int64)
    gone = np.flatnonzero(base.alive & (expiry[base.windows] <= now))
    base.alive[gone] = False
    removed = len(gone)
    stale = [e for e in s.delta.values() if e.expiry <= now]
    for e in stale:
        remove(s, *e.key)
    removed += len(stale)
    for code in np.unique(base.codes[gone]).tolist():
        if not s.has_code(code):
            s.exact.discard(code)
    return removed


def _kill_base_row(s: IndexState, key: Key, code: int) -> bool:
    """Mark the live base row with this key dead; False when there is none."""
    list_ix = s.list_ix.get(key[0])
    state_ix = s.states.ids.get(key[1])
    if list_ix is None or state_ix is None or code not in s.exact:
        return False
    base = s.base
    for row in base.rows_for(code):
        if base.alive[row] and base.lists[row] == list_ix and base.states[row] == state_ix:
            base.alive[row] = False
            return True
    return False
