"""Catch-up: a replay of the hotlist-updates topic staged into entry columns, many records at a time.

A fresh replica replays every record of the topic (10 million for a national list) before it takes a
read, so the per-record work here is what a worker's start-up costs. A record takes the fast path
when it is an upsert without list settings whose key and entry agree: one regex, one msgspec decode,
and one cached lookup of its interned column values (entries of a list share a handful of details,
vehicles and validity windows). Anything else (tombstones, list settings, a cache miss, any error)
takes `decode_update`, the path of a live update, so both paths accept and refuse the same records.
Column values are buffered per batch and appended as arrays: plates as their codes, case numbers in
fixed width (10 million Python strings would take a gigabyte while the replica catches up).
"""

from __future__ import annotations

import re
from array import array
from collections.abc import Sequence
from typing import Any

import msgspec
import numpy as np
import numpy.typing as npt

from streams.hotlists.columns import ColumnIds, EntryColumns
from streams.hotlists.index import HotlistIndex
from streams.hotlists.updates import CANONICAL_KEY, UPDATE_DECODER, UpdateError, decode_update, entry_of, update_key
from streams.plates.codes import encode_canonical

Key = tuple[str, str, str]
_CACHE_LIMIT = 100_000  # distinct (list, state, details, vehicle, window, priority) combinations kept


_KEY_LINES = re.compile(rb"(?:[^|\n]+\|(?:[A-Z]{2})?\|[A-Z0-9]{1,10}\n)*")


def _all_canonical(records: Sequence[tuple[bytes | None, bytes | None]]) -> bool:
    """Whether every key is list|state|plate with a canonical state and plate (one C pass)."""
    keys = [key for key, _ in records]
    if None in keys:
        return False
    joined = b"\n".join(keys) + b"\n"  # type: ignore[arg-type]
    # a key holding a newline would pass as two canonical lines
    return joined.count(b"\n") == len(keys) and _KEY_LINES.fullmatch(joined) is not None


def _match(key: bytes) -> re.Match[str] | None:
    try:
        return CANONICAL_KEY.fullmatch(key.decode())
    except UnicodeDecodeError:
        return None


class UpdateStager:
    """Stages record batches (`stage`), then loads them into the index in one go (`finish`).

    Arrival order is kept: a later record of a key replaces an earlier one, and a tombstone removes
    the entry unless a later record brings it back.
    """

    def __init__(self, index: HotlistIndex) -> None:
        self.index = index
        self.cols = index.columns()
        self.tombstoned: set[Key] = set()
        self.staged = 0
        self._ids: dict[tuple[Any, ...], int] = {}  # the shared parts of an entry: their row in _combos
        self._combos: list[ColumnIds] = []
        self._cases: list[npt.NDArray[np.bytes_]] = []  # a batch's case numbers at a time

    def stage(self, records: Sequence[tuple[bytes | None, bytes | None]]) -> list[tuple[int, UpdateError]]:
        """Stage `records` (key, value); return the position and reason of each refused one."""
        refused: list[tuple[int, UpdateError]] = []
        plates: list[str] = []
        combos = array("I")  # per staged entry: its row in self._combos
        cases: list[bytes] = []
        cache, tombstoned = self._ids, self.tombstoned
        decode = UPDATE_DECODER.decode
        # one regex over the whole batch's keys; each key is then checked against its entry
        keys_canonical = _all_canonical(records)
        list_id = ""
        for pos, (key, value) in enumerate(records):
            try:
                doc = decode(value) if key is not None and value is not None else None
            except msgspec.DecodeError:
                doc = None
            verified = False
            if doc is not None and doc.list is None and key is not None:
                body = doc.entry
                state, plate = body.state, body.plate
                if keys_canonical and key == update_key(list_id, state, plate):
                    verified = True  # the key is canonical and names this entry
                else:
                    match = _match(key)
                    if match is not None and match[2] == state and match[3] == plate:
                        list_id, verified = match[1], True
            if not verified:  # the slow path decides, with decode_update's reasons
                found = self._slow(pos, key, value, refused)
                if found is not None:
                    plates.append(found[0])
                    combos.append(self._combo(found[1]))
                    cases.append(found[2])
                continue
            annotations = body.annotations
            shared = (
                list_id,
                state,
                body.priority,
                body.effective,
                body.expiry,
                body.category,
                body.ncic_code,
                body.owner_ori,
                body.note,
                body.vehicle,
                tuple(annotations.items()) if annotations else (),
            )
            combo = cache.get(shared)
            if combo is None:
                try:
                    combo = cache[shared] = self._combo(self.index.column_ids(entry_of(list_id, state, plate, body)))
                except ValueError as exc:
                    refused.append((pos, UpdateError(f"hotlist update for {list_id}|{state}|{plate}: {exc}")))
                    continue
            if tombstoned:
                tombstoned.discard((list_id, state, plate))
            plates.append(plate)
            combos.append(combo)
            cases.append(body.case_number.encode())
        self._append(plates, combos, cases)
        if len(self._combos) >= _CACHE_LIMIT:  # entries that share little: start afresh
            self._combos, self._ids = [], {}
        return refused

    def _combo(self, column_ids: ColumnIds) -> int:
        self._combos.append(column_ids)
        return len(self._combos) - 1

    def _slow(
        self, pos: int, key: bytes | None, value: bytes | None, refused: list[tuple[int, UpdateError]]
    ) -> tuple[str, ColumnIds, bytes] | None:
        """One record the way a live update takes it: (plate, column ids, case) for an upsert,
        None for a tombstone or a refused record."""
        try:
            (list_id, state, plate), entry, info = decode_update(key or b"", value)
            if entry is None:
                self.tombstoned.add((list_id, state, plate))
                return None
            if info is not None:
                self.index.define_list(info)
            column_ids = self.index.column_ids(entry)
        except UpdateError as exc:
            refused.append((pos, exc))
            return None
        except ValueError as exc:
            refused.append((pos, UpdateError(f"hotlist update refused: {exc}")))
            return None
        self.tombstoned.discard((list_id, state, plate))
        return plate, column_ids, entry.case_number.encode()

    def _append(self, plates: list[str], combos: array[int], cases: list[bytes]) -> None:
        if not plates:
            return
        cols = self.cols
        combo_table = np.array(self._combos, np.uint32).reshape(-1, len(ColumnIds._fields))
        table = combo_table[np.frombuffer(combos, np.uint32)]
        for column, j, dtype in (
            (cols.lists, 0, np.uint16),
            (cols.states, 1, np.uint8),
            (cols.priorities, 2, np.uint8),
            (cols.windows, 3, np.uint32),
            (cols.details, 4, np.uint32),
            (cols.vehicles, 5, np.uint32),
        ):
            column.frombytes(table[:, j].astype(dtype).tobytes())
        cols.codes.frombytes(encode_canonical(plates).tobytes())  # 8 bytes a plate, not a str
        self._cases.append(np.array(cases, np.bytes_))  # fixed width: the batch's longest case number
        self.staged += len(plates)

    def finish(self) -> int:
        """Load what was staged into the index and apply the tombstones; return the entries loaded."""
        cols: EntryColumns = self.cols
        if self._cases:
            cols.cases = np.concatenate(self._cases)
            self._cases = []  # the batches' arrays, copied: not kept beside the index while it is built
        loaded = len(cols)
        self.index.load(cols)
        for key in self.tombstoned:
            self.index.remove(*key)
        self.cols, self._ids, self._combos, self._cases = self.index.columns(), {}, [], []
        self.tombstoned = set()
        return loaded
