"""Read-only views of an index's state: its live entries, a random sample, counts per list.

In: an `IndexState`. Out: `HotlistEntry`s (base rows first, in plate-code order, then live updates),
`ListStats` per list, the number of live entries, the bytes each part holds. Nothing here changes the state or matches.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, fields

import numpy as np

from streams.hotlists.model import HotlistEntry, HotlistInfo
from streams.hotlists.state import IndexState


@dataclass(frozen=True, slots=True)
class ListStats:
    info: HotlistInfo
    entries: int


def entries(s: IndexState, list_id: str | None = None) -> Iterator[HotlistEntry]:
    """Every live entry (of one list, if named), base first, in plate-code order."""
    base = s.base
    rows = np.flatnonzero(base.alive)
    if list_id is not None:
        ix = s.list_ix.get(list_id)
        if ix is None:
            return
        rows = rows[base.lists[rows] == ix]
    for start in range(0, len(rows), 10_000):  # a column at a time for a slice of rows
        yield from s.entries_at(rows[start : start + 10_000])
    for e in s.delta.values():
        if list_id is None or e.list_id == list_id:
            yield e


def sample(s: IndexState, k: int, rng: np.random.Generator) -> list[HotlistEntry]:
    """Up to `k` live entries picked at random (for simulators and benchmarks)."""
    alive = np.flatnonzero(s.base.alive)
    picked = s.entries_at(rng.choice(alive, min(k, len(alive)), replace=False)) if len(alive) else []
    picked.extend(list(s.delta.values())[: max(0, k - len(picked))])
    return picked


def stats(s: IndexState) -> list[ListStats]:
    """Live entries per list, in the order the lists were defined."""
    base = s.base
    counts = np.bincount(base.lists[base.alive], minlength=len(s.infos))
    per_list = {info.list_id: int(counts[i]) for i, info in enumerate(s.infos)}
    for e in s.delta.values():
        per_list[e.list_id] += 1
    return [ListStats(info, per_list[info.list_id]) for info in s.infos]


def memory(s: IndexState) -> dict[str, int]:
    """Bytes held by each part of the index: the base segment's columns, the code sets, the two-change
    bitmap (its serialised size), the bit filters, and an estimate for the live-update delta."""
    parts = {f"base.{f.name}": getattr(s.base, f.name).nbytes for f in fields(s.base)}
    parts["set.exact"] = s.exact.nbytes  # the live changes only: its sorted codes are base.codes
    parts["bitmap.folded_tol2"] = len(s.folded_tol2.serialize())
    parts["filter.exact"], parts["filter.folded"] = s.exact_filter.words.nbytes, s.folded_filter.words.nbytes
    parts["delta (estimate)"] = 400 * len(s.delta)
    return parts


def count(s: IndexState) -> int:
    """The number of live entries."""
    return int(s.base.alive.sum()) + len(s.delta)
