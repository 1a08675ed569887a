"""A dispatch system, for the load benchmark: its own process, subscribed to every alert topic,
noting when each alert arrives.

    python -m benchmarks.dispatch_consumer --bootstrap B --alerts-prefix P --seconds N [--receipts FILE]

Prints `ready` once subscribed, then one JSON line: how many alerts arrived and the percentiles (HDR
histogram) of the latency from each alert's read time (set by the load generator just before it sent
the read) to receipt. With --receipts, FILE gets one line per alert, `read_id receipt_us`, from which
the benchmark measures from the read's broker append time (`load.fixed_rate`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import re
import time
from pathlib import Path
from typing import Any

import orjson
from hdrh.histogram import HdrHistogram

from tests.harness.worker_process import clients_for

PERCENTILES = (10, 25, 50, 75, 90, 95, 99, 99.5, 99.9, 99.99, 100)


def histogram() -> HdrHistogram:
    return HdrHistogram(1, 120_000_000, 3)  # microseconds


def percentiles(hist: HdrHistogram) -> dict[str, Any]:
    return {
        "latency_ms": {
            **{f"p{q}": hist.get_value_at_percentile(q) / 1000 for q in (50, 95, 99, 99.9)},
            "max": hist.get_max_value() / 1000,
            "mean": hist.get_mean_value() / 1000,
        },
        "latency_ms_percentiles": [(q, hist.get_value_at_percentile(q) / 1000) for q in PERCENTILES],
    }


async def run(bootstrap: str, alerts_prefix: str, seconds: float, receipts: Path | None = None) -> dict[str, Any]:
    hist = histogram()
    noted: list[tuple[str, int]] = []
    clients = clients_for(bootstrap)
    consumer = await clients.start(
        clients.consumer(
            group_id=None, auto_offset_reset="latest", metadata_max_age_ms=1000, isolation_level="read_committed"
        )
    )
    consumer.subscribe(pattern=f"^{re.escape(alerts_prefix)}.*")
    await asyncio.sleep(3)  # let the pattern subscription find every alert topic
    print("ready", flush=True)
    received = 0
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=100)
            now_us = time.time() * 1e6
            for records in batch.values():
                for r in records:
                    read = orjson.loads(r.value)["read"]
                    sent = dt.datetime.fromisoformat(read["time"]).timestamp() * 1e6
                    hist.record_value(max(1, int(now_us - sent)))
                    noted.append((read["read_id"], int(now_us)))
                    received += 1
    finally:
        # aiokafka's fetcher may be sleeping out a retry backoff as it closes, and its close then
        # raises CancelledError (seen with read_committed over SASL_SSL): the figures are complete
        with contextlib.suppress(asyncio.CancelledError):
            await consumer.stop()
    if receipts is not None:
        await asyncio.to_thread(receipts.write_text, "".join(f"{read_id} {at_us}\n" for read_id, at_us in noted))
    return {"alerts_received": received, **percentiles(hist)}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--bootstrap", required=True)
    p.add_argument("--alerts-prefix", required=True)
    p.add_argument("--seconds", type=float, required=True)
    p.add_argument("--receipts", type=Path, help="write `read_id receipt_us` of every alert here")
    a = p.parse_args()
    print(orjson.dumps(asyncio.run(run(a.bootstrap, a.alerts_prefix, a.seconds, a.receipts))).decode(), flush=True)


if __name__ == "__main__":
    main()
