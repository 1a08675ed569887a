"""Micro benchmarks of the core: plate encoding, batch match, policy decision, read decoding.

Each figure is paired with a baseline measured in the same run on the same data, so the ratio holds
on a noisy shared machine even when absolute times drift.

    python -m benchmarks.micro [--entries 1000000] [--runs 15]
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np
import orjson

from benchmarks.hotlist_bench import reads_with_hits
from benchmarks.timing import Timing, machine, measure
from streams.hotlists.index import HotlistIndex
from streams.pipeline.read_decoder import decode_batch
from streams.plates.codes import codes_to_digits, encode_plate, encode_plates
from streams.plates.normalise import normalise_plate
from streams.policy.store import DEFAULT_POLICY, DEFAULT_REGISTRY, load_policy
from streams.sim.camera_feed import CameraFeed, FeedSettings
from streams.sim.synthetic import plates_from_digits, random_plate_codes, synthetic_hotlist


def pair(name: str, subject: Timing, baseline: Timing, unit: str) -> dict[str, Any]:
    print(subject.line(name, unit))
    print(baseline.line("  baseline", unit))
    ratio = subject.rate / baseline.rate if baseline.rate else 0.0
    print(f"  ratio {ratio:.2f}x")
    return {"subject": subject.to_json(), "baseline": baseline.to_json(), "ratio": ratio}


def run(entries: int, batch: int, runs: int) -> dict[str, Any]:
    results: dict[str, Any] = {
        "machine": machine(),
        "parameters": {"entries": entries, "batch": batch, "runs": runs},
    }
    rng = np.random.default_rng(5)
    digits, _ = random_plate_codes(batch, rng)
    raw = [p[:3] + "-" + p[3:] if i % 10 == 0 else p for i, p in enumerate(plates_from_digits(digits))]
    index = HotlistIndex()
    ocr = index.ocr
    results["encode_plates"] = pair(
        "encode plates (vectorised)",
        measure(lambda: encode_plates(raw, ocr), batch, runs=runs),
        measure(lambda: [encode_plate(normalise_plate(p)) for p in raw], batch, runs=runs),
        "plates",
    )

    codes = synthetic_hotlist(index, entries, seed=7)
    plates, _ = reads_with_hits(codes, batch, 0.01, ocr)
    owner, states, times = np.arange(batch), ["CA"] * batch, [1_800_000_000] * batch
    listed = set(plates_from_digits(_left_digits(codes[: min(entries, 1_000_000)])))
    results["batch_match"] = pair(
        f"batch match, {entries:,} entries, 1% hits, OCR on",
        measure(lambda: index.match(encode_plates(plates, ocr), owner, states, times), batch, runs=runs),
        measure(lambda: [p in listed for p in plates], batch, runs=runs),
        "reads",
    )

    policy = load_policy(DEFAULT_POLICY, DEFAULT_REGISTRY)
    n = 100_000
    results["policy_decision"] = pair(
        "policy decision, repeated pair (cached)",
        measure(lambda: [policy.decide("CA0194200", "DCICE0000") for _ in range(n)], n, runs=runs),
        measure(
            lambda: [policy._decide("CA0194200", "DCICE0000", "hotlist_alert") for _ in range(n)],
            n,
            runs=runs,
        ),
        "decisions",
    )

    feed = CameraFeed(index, policy.registry, FeedSettings(seed=3))
    values = [v for _, v in feed.batch(batch)]
    results["read_decode"] = pair(
        "decode + validate a batch of reads",
        measure(lambda: decode_batch(values), batch, runs=runs),
        measure(lambda: [orjson.loads(v) for v in values], batch, runs=runs),
        "reads",
    )
    return results


def _left_digits(codes: np.ndarray) -> np.ndarray:
    return codes_to_digits(codes)[0]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--entries", type=int, default=1_000_000)
    p.add_argument("--batch", type=int, default=10_000)
    p.add_argument("--runs", type=int, default=15)
    p.add_argument("--json")
    a = p.parse_args()
    result = run(a.entries, a.batch, a.runs)
    if a.json:
        with open(a.json, "wb") as f:
            f.write(orjson.dumps(result, option=orjson.OPT_INDENT_2))


if __name__ == "__main__":
    main()
