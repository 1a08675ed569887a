"""Realistic synthetic data for the demo, the simulator, tests and benchmarks (seeded, repeatable)."""

from __future__ import annotations

from array import array
from collections.abc import Iterator

import numpy as np
import numpy.typing as npt
import orjson

from streams.hotlists.columns import EntryColumns
from streams.hotlists.index import HotlistIndex
from streams.hotlists.model import HotlistEntry, HotlistInfo, Vehicle
from streams.hotlists.updates import list_to_json
from streams.plates.codes import ALPHABET, codes_to_digits, digits_to_codes

# plate shapes seen across US states and provinces: L = letter, D = digit, X = either
PLATE_SHAPES = (
    "DLLLDDD", "LLLDDDD", "DLLDDDD", "LLLDDD", "DDDLLL", "LLDDDDD", "DLLLDD", "LLLLDDD",
    "DDDLLLL", "LDDLLL", "LLDLDDD", "DDDDLL", "LLDDLL", "DLDDDDD", "DDLLDDD", "LLLDDDL",
    "XXXXXXX", "XXXXXX", "XXXXX", "XXXXXXXX", "DDDDDDD", "LDDDDDD", "DDLDDLL", "LLLXXXX",
)  # fmt: skip
VEHICLES = (
    Vehicle("2018", "TOYT", "CAM", "4D", "SIL"),
    Vehicle("2020", "HOND", "CIV", "4D", "BLK"),
    Vehicle("2016", "FORD", "F15", "PK", "WHI"),
    Vehicle("2019", "CHEV", "SIL", "PK", "RED"),
    Vehicle("2021", "TSMR", "M3", "4D", "BLU"),
    Vehicle("2009", "YAMA", "CYL", "MC", "BLK"),
    Vehicle("2015", "NISS", "ALT", "4D", "GRY"),
    Vehicle("2022", "JEEP", "WRA", "UT", "GRN"),
)
STATES = ("CA", "CA", "CA", "CA", "NV", "AZ", "OR", "VA", "TX", "WA")


def random_plate_codes(
    n: int, rng: np.random.Generator, *, uniform: bool = False
) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.uint64]]:
    """`n` plates as a digit matrix (values 1..36, 0 padded) and codes.

    By default in the shapes of `PLATE_SHAPES` (as real plates: dense within each format, so a random
    read is now and then one look-alike away from a listed plate of a big list); `uniform` draws 6 to
    8 characters from A-Z0-9 anywhere, a sparse space that real plates do not fill.
    """
    if uniform:
        lengths = rng.integers(6, 9, n)
        digits = rng.integers(1, 37, (n, 10), dtype=np.uint8)
        digits[np.arange(10)[None, :] >= lengths[:, None]] = 0
        return digits, digits_to_codes(digits, lengths)
    shapes = rng.integers(0, len(PLATE_SHAPES), n)
    digits = np.zeros((n, 10), np.uint8)
    letters = rng.integers(1, 27, (n, 10), dtype=np.uint8)
    numbers = rng.integers(27, 37, (n, 10), dtype=np.uint8)
    either = rng.integers(1, 37, (n, 10), dtype=np.uint8)
    pick = {"L": letters, "D": numbers, "X": either}
    for s, shape in enumerate(PLATE_SHAPES):
        rows = shapes == s
        for p, kind in enumerate(shape):
            digits[rows, p] = pick[kind][rows, p]
    return digits, digits_to_codes(digits, (digits != 0).sum(axis=1))


def plates_from_digits(digits: npt.NDArray[np.uint8]) -> list[str]:
    table = np.frombuffer(b"\0" + ALPHABET.encode(), np.uint8)
    raw = table[digits].view("S10").ravel()
    return [p.decode() for p in raw.tolist()]


_NCIC_MIX = "VVVVVPPFWA"  # list codes of the synthetic entries, stolen vehicles most common


def _draw(
    n: int, seed: int, uniform: bool
) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Plate codes, a template pick (list code, state, vehicle) and a record number per entry."""
    rng = np.random.default_rng(seed)
    _, codes = random_plate_codes(n, rng, uniform=uniform)
    pick = rng.integers(0, len(_NCIC_MIX), n)
    record = rng.integers(100_000_000, 999_999_999, n)
    return codes, pick, record


def _template(i: int, list_id: str, owner_ori: str) -> HotlistEntry:
    return HotlistEntry(
        list_id,
        "A",
        STATES[i % len(STATES)],
        ncic_code=_NCIC_MIX[i],
        owner_ori=owner_ori,
        vehicle=VEHICLES[i % len(VEHICLES)],
    )


def synthetic_hotlist(
    index: HotlistIndex,
    n: int,
    *,
    seed: int = 7,
    list_id: str = "ncic",
    owner_ori: str = "CA0000000",
    uniform: bool = False,
) -> npt.NDArray[np.uint64]:
    """Load `n` random NCIC-like entries into `index` (one list, replaced whole); return their codes.

    Built column-wise, so 10 million entries load in seconds rather than minutes.
    """
    if index.list_info(list_id) is None:
        index.define_list(HotlistInfo(list_id, "NCIC extract", owner_ori=owner_ori, priority=10))
    template = index.columns()
    for i in range(len(_NCIC_MIX)):
        index.add_to_columns(template, _template(i, list_id, owner_ori))
    codes, pick, record = _draw(n, seed, uniform)
    cols = EntryColumns()
    cols.codes = array("Q", codes.tobytes())
    cols.lists = array("H", np.full(n, template.lists[0], np.uint16).tobytes())
    cols.states = array("B", np.frombuffer(template.states, np.uint8)[pick].tobytes())
    cols.priorities = array("B", np.full(n, template.priorities[0], np.uint8).tobytes())
    cols.windows = array("I", np.frombuffer(template.windows, np.uint32)[pick].tobytes())
    cols.details = array("I", np.frombuffer(template.details, np.uint32)[pick].tobytes())
    cols.vehicles = array("I", np.frombuffer(template.vehicles, np.uint32)[pick].tobytes())
    cols.cases = record.astype("S9")
    index.load(cols, replace_lists=[list_id])
    return codes


def synthetic_update_records(
    n: int,
    *,
    seed: int = 7,
    list_id: str = "ncic",
    owner_ori: str = "CA0000000",
    uniform: bool = False,
    info: HotlistInfo | None = None,
    chunk: int = 500_000,
) -> Iterator[list[tuple[bytes, bytes | None]]]:
    """The same entries as `synthetic_hotlist` with the same arguments, as hotlist-update records,
    `chunk` records at a time (10 million records at once would take many GB as Python objects)."""
    codes, pick, record = _draw(n, seed, uniform)
    templates = [_template(i, list_id, owner_ori) for i in range(len(_NCIC_MIX))]
    dumps = orjson.dumps
    for start in range(0, n, chunk):
        stop = min(n, start + chunk)
        plates = plates_from_digits(codes_to_digits(codes[start:stop])[0])
        out: list[tuple[bytes, bytes | None]] = []
        for plate, k, rec in zip(plates, pick[start:stop].tolist(), record[start:stop].tolist(), strict=True):
            t = templates[k]
            out.append((
                f"{list_id}|{t.state}|{plate}".encode(),
                dumps({"entry": {
                    "plate": plate, "state": t.state, "ncic_code": t.ncic_code, "owner_ori": owner_ori,
                    "case_number": str(rec), "vehicle": {"year": t.vehicle.year, "make": t.vehicle.make},
                }}),
            ))  # fmt: skip
        if info is not None and start == 0 and out:
            key, value = out[0]
            assert value is not None
            out[0] = (key, dumps({**orjson.loads(value), "list": list_to_json(info)}))
        yield out
