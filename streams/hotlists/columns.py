"""The hotlist column store: bit filters, interned values, entry columns and the sorted base segment.

A `HotlistIndex` (index.py, its state in state.py) keeps its entries here: a base segment of numpy
columns sorted by plate code, built by bulk loads, with shared low-cardinality parts interned.
Nothing here matches.
"""

from __future__ import annotations

import ctypes
from array import array
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any, Generic, NamedTuple, TypeVar

import numpy as np
import numpy.typing as npt

from streams.plates.codes import Codes, encode_canonical

T = TypeVar("T")

_FILTER_BITS = 27  # 2**27 bits = 16 MiB per filter
_HASH_MUL = np.uint64(0x9E3779B97F4A7C15)
_WORD_SHIFT = np.uint64(64 - _FILTER_BITS + 6)  # the top bits of the hash choose the word
# three of the hash's middle 6-bit fields choose the bits in it (the low bits of a multiplicative hash mix least)
_BIT_SHIFTS = (np.uint64(22), np.uint64(28), np.uint64(34))
_LOW6 = np.uint64(63)
_ONE = np.uint64(1)
# codes hashed or folded at once in a bulk load: a 10M-code array's temporaries took up to 1.1 GB
CODE_CHUNK = 1 << 18


class BitFilter:
    """A blocked bit filter over uint64 codes: no false negatives, some false positives.

    Each code sets three bits of one 64-bit word: a test reads one word, as a one-bit filter does,
    and with 10M codes in 16 MiB lets through about 1.1% of codes not in the set, against 6.8% with
    one bit a code (the camera feed's reads against a 10M-entry list; docs/performance.md). Every
    code that passes goes on to a binary search of the sorted codes, which costs far more.
    """

    def __init__(self) -> None:
        self.words = np.zeros(1 << (_FILTER_BITS - 6), np.uint64)

    @staticmethod
    def _word_and_mask(codes: Codes) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.uint64]]:
        h = codes * _HASH_MUL
        a, b, c = ((h >> shift) & _LOW6 for shift in _BIT_SHIFTS)
        mask: npt.NDArray[np.uint64] = (_ONE << a) | (_ONE << b) | (_ONE << c)
        return (h >> _WORD_SHIFT).astype(np.intp), mask

    def add_many(self, codes: Codes) -> None:
        """A chunk at a time: the hashes' temporaries of 10M codes at once took 530 MB."""
        for start in range(0, len(codes), CODE_CHUNK):
            word, mask = self._word_and_mask(codes[start : start + CODE_CHUNK])
            np.bitwise_or.at(self.words, word, mask)

    def add(self, code: int) -> None:
        self.add_many(np.array([code], np.uint64))

    def maybe(self, codes: Codes) -> npt.NDArray[np.bool_]:
        word, mask = self._word_and_mask(codes)
        found: npt.NDArray[np.bool_] = (self.words[word] & mask) == mask
        return found


class CodeSet:
    """A set of uint64 codes: a sorted array built by a bulk load, a mark for each of its codes
    discarded since, and the codes added since (live updates) in a small Python set.

    It replaces roaring's `BitMap64` for plate codes: codes spread over 2**42 values leave about one
    per roaring container, and 10M codes took 213 MB (exact) and 112 MB (folded) there, against
    8 bytes a code here (none at all for the exact codes, whose array is the base segment's own).
    A batch's candidates are tested together (`contains_many`: one binary search each, in C). A
    discarded code is marked at its first position in the array (a byte per position, made on the
    first discard): a list replaced or expired in bulk costs no Python object per code.
    """

    __slots__ = ("added", "codes", "removed")

    def __init__(self, sorted_codes: Codes | None = None) -> None:
        self.codes: Codes = np.zeros(0, np.uint64) if sorted_codes is None else sorted_codes  # ascending
        self.added: set[int] = set()  # codes not in `codes`, added since
        self.removed: npt.NDArray[np.bool_] | None = None  # at a code's first position: discarded since

    def _position(self, code: int) -> int | None:
        """Where `code` first is in `codes`, or None."""
        i = int(np.searchsorted(self.codes, np.uint64(code)))
        return i if i < len(self.codes) and int(self.codes[i]) == code else None

    def __contains__(self, code: int) -> bool:
        if code in self.added:
            return True
        i = self._position(code)
        return i is not None and (self.removed is None or not self.removed[i])

    def add(self, code: int) -> None:
        i = self._position(code)
        if i is None:
            self.added.add(code)
        elif self.removed is not None:
            self.removed[i] = False

    def discard(self, code: int) -> None:
        i = self._position(code)
        if i is None:
            self.added.discard(code)
            return
        if self.removed is None:
            self.removed = np.zeros(len(self.codes), np.bool_)
        self.removed[i] = True

    def contains_many(self, codes: Codes) -> npt.NDArray[np.bool_]:
        """Which of `codes` are in the set."""
        base = self.codes
        if len(base) and len(codes):
            at = np.minimum(np.searchsorted(base, codes), len(base) - 1)
            found: npt.NDArray[np.bool_] = base[at] == codes
            if self.removed is not None:
                found &= ~self.removed[at]
        else:
            found = np.zeros(len(codes), np.bool_)
        if self.added:
            found |= np.fromiter((c in self.added for c in codes.tolist()), np.bool_, len(codes))
        return found

    @property
    def nbytes(self) -> int:
        """Bytes held besides `codes` (which may be another column's array): the changes since the load."""
        return 72 * len(self.added) + (0 if self.removed is None else self.removed.nbytes)


class Interned(Generic[T]):
    """Append-only table of distinct values with a dense integer id each."""

    def __init__(self, first: T) -> None:
        self.values: list[T] = [first]
        self.ids: dict[T, int] = {first: 0}

    def id_of(self, value: T) -> int:
        i = self.ids.get(value)
        if i is None:
            i = self.ids[value] = len(self.values)
            self.values.append(value)
        return i


class Detail(NamedTuple):
    """The low-cardinality part of an entry, shared by many entries."""

    category: str
    ncic_code: str
    owner_ori: str
    note: str
    annotations: tuple[tuple[str, str], ...]


class ColumnIds(NamedTuple):
    """An entry's column values other than its plate and case number."""

    list_ix: int
    state: int
    priority: int
    window: int
    detail: int
    vehicle: int


class EntryColumns:
    """Entries in column form: what loaders fill and a base segment is built from."""

    def __init__(self) -> None:
        self.codes = array("Q")  # or, filled entry by entry, the plates: encoded a batch at a time
        self.plates: list[str] = []
        self.lists = array("H")
        self.states = array("B")
        self.priorities = array("B")
        self.windows = array("I")  # interned (effective, expiry) pairs: nearly all entries share one
        self.details = array("I")
        self.vehicles = array("I")
        self.cases: list[bytes] | npt.NDArray[np.bytes_] = []  # a bulk generator may give an array

    def __len__(self) -> int:
        return len(self.codes) or len(self.plates)


@dataclass
class BaseSegment:
    codes: Codes
    lists: npt.NDArray[np.unsignedinteger[Any]]  # narrowest type: see from_columns
    states: npt.NDArray[np.uint8]
    priorities: npt.NDArray[np.uint8]
    windows: npt.NDArray[np.unsignedinteger[Any]]
    details: npt.NDArray[np.unsignedinteger[Any]]
    vehicles: npt.NDArray[np.unsignedinteger[Any]]
    cases: npt.NDArray[np.bytes_]  # fixed width: the longest case number of the segment
    alive: npt.NDArray[np.bool_]

    @staticmethod
    def empty() -> BaseSegment:
        return BaseSegment.from_columns(EntryColumns())

    @staticmethod
    def from_columns(cols: EntryColumns) -> BaseSegment:
        def arr(a: array[int], dtype: type) -> npt.NDArray[Any]:
            return np.frombuffer(a, dtype).copy() if len(a) else np.zeros(0, dtype)

        def narrow(values: npt.NDArray[Any]) -> npt.NDArray[Any]:
            """Interned ids in the narrowest type that holds them: 10M entries, 20 MB less each."""
            top = int(values.max()) if len(values) else 0
            return values.astype(np.uint8 if top < 2**8 else np.uint16 if top < 2**16 else np.uint32)

        return BaseSegment(
            codes=arr(cols.codes, np.uint64) if len(cols.codes) else encode_canonical(cols.plates),
            lists=narrow(arr(cols.lists, np.uint16)),
            states=arr(cols.states, np.uint8),
            priorities=arr(cols.priorities, np.uint8),
            windows=narrow(arr(cols.windows, np.uint32)),
            details=narrow(arr(cols.details, np.uint32)),
            vehicles=narrow(arr(cols.vehicles, np.uint32)),
            cases=np.asarray(cols.cases, np.bytes_) if len(cols.cases) else np.zeros(0, "S1"),
            alive=np.ones(len(cols), np.bool_),
        )

    def rows_for(self, code: int) -> range:
        lo = int(np.searchsorted(self.codes, np.uint64(code), "left"))
        hi = int(np.searchsorted(self.codes, np.uint64(code), "right"))
        return range(lo, hi)

    def rows_for_many(self, codes: Codes) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
        """`rows_for` of each code, as (first rows, ends): one search of the sorted codes for all."""
        first = np.searchsorted(self.codes, codes, "left")
        return first, first + self._run_lengths(first, codes)

    def _run_lengths(self, first: npt.NDArray[np.intp], codes: Codes) -> npt.NDArray[np.intp]:
        """How many rows from `first` on hold each code. A code is on one row as a rule (one per list
        and state): a step or two settles it, where a second binary search would cost each code as
        much as the first; a code still running after a few steps is searched for its end."""
        n = len(self.codes)
        count = np.zeros(len(codes), np.intp)
        running = np.ones(len(codes), np.bool_)
        for _ in range(4):
            at = first + count
            running &= at < n
            running[running] = self.codes[at[running]] == codes[running]
            if not running.any():
                return count
            count += running
        count[running] = np.searchsorted(self.codes, codes[running], "right") - first[running]
        return count


def distinct_sorted(codes: Codes) -> Codes:
    """The distinct values of a sorted array (numpy's `unique` hashes: ten times slower on 10M codes)."""
    if len(codes) < 2:
        return codes.copy()
    return codes[np.concatenate(([True], codes[1:] != codes[:-1]))]


def take_rows(b: BaseSegment, rows: npt.NDArray[np.intp]) -> BaseSegment:
    return BaseSegment(**{f.name: getattr(b, f.name)[rows] for f in fields(BaseSegment)})


def concat_segments(a: BaseSegment, b: BaseSegment) -> BaseSegment:
    """`a`'s rows, then `b`'s; one of them itself when the other is empty (a replica's first load: no
    copy of 10M rows)."""
    if not len(a.codes):
        return b
    if not len(b.codes):
        return a
    return BaseSegment(
        **{f.name: np.concatenate([getattr(a, f.name), getattr(b, f.name)]) for f in fields(BaseSegment)}
    )


def _malloc_trim() -> Callable[[int], int] | None:
    try:
        trim: Callable[[int], int] = ctypes.CDLL(None).malloc_trim  # the C library the process runs on
    except (OSError, AttributeError):  # no glibc (musl, macOS)
        return None
    return trim


_MALLOC_TRIM = _malloc_trim()


def release_free_memory() -> bool:
    """Hand the heap's free pages back to the OS: glibc keeps what a process frees and returns only the
    top of its heap, so a bulk load (and, in a worker, every batch) leaves RSS high. Blocking, a few
    ms (ctypes releases the GIL meanwhile); False where the C library cannot."""
    if _MALLOC_TRIM is None:
        return False
    _MALLOC_TRIM(0)
    return True
