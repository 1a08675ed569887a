"""Hotlist engine at scale: load time, resident memory, batch match rate, update latency.

    python -m benchmarks.hotlist_bench --entries 10000000 --verify 100000

`--verify N` compares the index's answers on N reads with a reference that shares none of its
machinery: a dict of plates and a brute-force enumeration of look-alike variants.
"""

from __future__ import annotations

import argparse
import itertools
import time
from typing import Any

import numpy as np
import orjson

from benchmarks.timing import machine, measure, peak_rss_bytes, rss_bytes
from streams.hotlists.index import HotlistIndex
from streams.hotlists.model import HotlistEntry, HotlistInfo, MatchQuery
from streams.plates.codes import OcrClasses, codes_to_digits, decode_plate, encode_plates
from streams.sim.synthetic import plates_from_digits, random_plate_codes, synthetic_hotlist


def reads_with_hits(
    codes: np.ndarray, n: int, hit_rate: float, ocr: OcrClasses, seed: int = 3, *, uniform: bool = True
) -> tuple[list[str], int]:
    """`n` random plates of which `hit_rate` are listed (a quarter of those misread by one look-alike)."""
    rng = np.random.default_rng(seed)
    digits, _ = random_plate_codes(n, rng, uniform=uniform)
    plates = plates_from_digits(digits)
    hits = rng.choice(n, int(n * hit_rate), replace=False)
    for k, i in enumerate(hits):
        plate = decode_plate(int(codes[rng.integers(len(codes))]))
        if k % 4 == 0:
            spots = [j for j, ch in enumerate(plate) if ch in ocr.members]
            if spots:
                j = spots[0]
                plate = plate[:j] + next(c for c in ocr.members[plate[j]] if c != plate[j]) + plate[j + 1 :]
        plates[i] = plate
    return plates, len(hits)


class DictReference:
    """Plate → listed states, and look-alike variants enumerated by brute force."""

    def __init__(self, codes: np.ndarray, ocr: OcrClasses, tolerance: int) -> None:
        self.plates = set(plates_from_digits(_digits_of(codes)))
        self.ocr = ocr
        self.tolerance = tolerance

    def hits(self, plate: str) -> set[tuple[str, tuple[int, ...]]]:
        found: set[tuple[str, tuple[int, ...]]] = set()
        if plate in self.plates:
            found.add((plate, ()))
        for changes in range(1, self.tolerance + 1):
            for positions in itertools.combinations(range(len(plate)), changes):
                choices = [[c for c in self.ocr.members.get(plate[p], "") if c != plate[p]] for p in positions]
                for combo in itertools.product(*choices):
                    variant = list(plate)
                    for p, c in zip(positions, combo, strict=True):
                        variant[p] = c
                    v = "".join(variant)
                    if v in self.plates:
                        found.add((v, positions))
        return found


def _digits_of(codes: np.ndarray) -> np.ndarray:
    return codes_to_digits(codes)[0]


def run(entries: int, batch: int, hit_rate: float, verify: int, runs: int, uniform: bool) -> dict[str, Any]:
    index = HotlistIndex()
    rss_before = rss_bytes()
    t0 = time.perf_counter()
    codes = synthetic_hotlist(index, entries, seed=7, uniform=uniform)
    load_s = time.perf_counter() - t0
    rss_loaded = rss_bytes()
    parts = index.memory()
    plates, planted = reads_with_hits(codes, batch, hit_rate, index.ocr, uniform=uniform)
    states = ["CA"] * batch
    times = [1_800_000_000] * batch
    owner = np.arange(batch)

    def match_batch() -> object:
        return index.match(encode_plates(plates, index.ocr), owner, states, times)

    hits = len(match_batch())  # type: ignore[arg-type]
    match = measure(match_batch, batch, runs=runs)
    # baseline in the same run: a Python set lookup per read, exact only (what a naive agent does)
    listed = set(plates_from_digits(_digits_of(codes[: min(len(codes), 2_000_000)])))
    naive = measure(lambda: [p in listed for p in plates], batch, runs=runs)
    encode = measure(lambda: encode_plates(plates, index.ocr), batch, runs=runs)
    index.define_list(HotlistInfo("live", "Live updates"))
    update_samples = []
    for i in range(2000):
        t = time.perf_counter()
        index.upsert(HotlistEntry("live", f"LIVE{i:05d}", "CA"))
        update_samples.append(time.perf_counter() - t)
    removal_samples = []
    for i in range(2000):
        t = time.perf_counter()
        index.remove("live", "CA", f"LIVE{i:05d}")
        removal_samples.append(time.perf_counter() - t)
    result: dict[str, Any] = {
        "machine": machine(),
        "parameters": {
            "entries": entries,
            "batch": batch,
            "planted_hit_rate": hit_rate,
            "plates": "uniform" if uniform else "us-shapes",
            "ocr_tolerance": 1,
        },
        "hit_rate_measured": hits / batch,
        "codes_array_bytes": int(codes.nbytes),
        "load_seconds": load_s,
        "rss_bytes_with_index": rss_loaded,
        "rss_bytes_before_load": rss_before,
        "index_bytes_by_part": parts,
        "peak_rss_bytes": peak_rss_bytes(),
        "hits_per_batch": hits,
        "planted_hits_per_batch": planted,
        "match": match.to_json(),
        "encode": encode.to_json(),
        "naive_set_exact_only": naive.to_json(),
        "upsert_ms_median": 1e3 * float(np.median(update_samples)),
        "upsert_ms_p99": 1e3 * float(np.percentile(update_samples, 99)),
        "remove_ms_median": 1e3 * float(np.median(removal_samples)),
    }
    print(
        f"load {entries:,} entries: {load_s:.1f}s; process RSS with index {rss_loaded / 2**20:,.0f} MiB "
        f"(of which the benchmark's own code array {codes.nbytes / 2**20:,.0f} MiB)"
    )
    print(f"the index holds {sum(parts.values()) / 1e6:,.0f} MB: " + ", ".join(
        f"{name} {size / 1e6:,.0f}" for name, size in sorted(parts.items(), key=lambda p: -p[1]) if size >= 5e5
    ))  # fmt: skip
    print(f"hits per batch {hits} of {batch} reads ({100 * hits / batch:.2f}%), {planted} planted")
    print(match.line("batch match (encode + match, OCR on)", "reads"))
    print(encode.line("  of which encode", "reads"))
    print(naive.line("baseline: Python set, exact only", "reads"))
    print(f"upsert median {result['upsert_ms_median']:.3f} ms, p99 {result['upsert_ms_p99']:.3f} ms")
    if verify:
        result["verify"] = verify_against_reference(index, codes, verify, uniform)
    return result


def verify_against_reference(index: HotlistIndex, codes: np.ndarray, n: int, uniform: bool) -> dict[str, Any]:
    plates, _ = reads_with_hits(codes, n, 0.05, index.ocr, seed=99, uniform=uniform)
    reference = DictReference(codes, index.ocr, tolerance=1)
    t = time.perf_counter()
    got: dict[int, set[tuple[str, tuple[int, ...]]]] = {}
    for start in range(0, n, 10_000):
        chunk = [MatchQuery(str(i), p, "", 1_800_000_000) for i, p in enumerate(plates[start : start + 10_000])]
        for h in index.match_reads(chunk):
            if h.entry.list_id == "ncic":
                got.setdefault(start + h.read_index, set()).add((h.entry.plate, h.differing_positions))
    mismatches = 0
    for i, plate in enumerate(plates):
        if got.get(i, set()) != reference.hits(plate):
            mismatches += 1
    seconds = time.perf_counter() - t
    print(f"verify: {n:,} reads, {sum(len(v) for v in got.values()):,} hits, {mismatches} disagreements")
    return {
        "reads": n,
        "hits": sum(len(v) for v in got.values()),
        "disagreements": mismatches,
        "seconds": seconds,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--entries", type=int, default=10_000_000)
    p.add_argument("--batch", type=int, default=10_000)
    p.add_argument("--hit-rate", type=float, default=0.01)
    p.add_argument("--verify", type=int, default=0)
    p.add_argument("--runs", type=int, default=15)
    p.add_argument("--us-shapes", action="store_true", help="plates in dense US shapes instead of uniform")
    p.add_argument("--json", help="write the result here")
    a = p.parse_args()
    result = run(a.entries, a.batch, a.hit_rate, a.verify, a.runs, uniform=not a.us_shapes)
    if a.json:
        with open(a.json, "wb") as f:
            f.write(orjson.dumps(result, option=orjson.OPT_INDENT_2))


if __name__ == "__main__":
    main()
