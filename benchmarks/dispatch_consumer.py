"""A dispatch system, for the load benchmark: its own process, subscribed to every alert topic,
noting when each alert arrives.

    python -m benchmarks.dispatch_consumer --bootstrap B --alerts-prefix P --seconds N --receipts FILE

Prints `ready` once subscribed; writes FILE, one line per alert: `read_id receipt_us read_time_us`
(the read's own time, set by the load generator just before it sent the read); then prints one JSON
line, how many alerts arrived. The benchmark turns the receipts into latencies (`load.fixed_rate`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import re
import time
from pathlib import Path

import orjson

from tests.harness.worker_process import clients_for


async def run(bootstrap: str, alerts_prefix: str, seconds: float, receipts: Path) -> int:
    clients = clients_for(bootstrap)
    consumer = await clients.start(
        clients.consumer(
            group_id=None, auto_offset_reset="latest", metadata_max_age_ms=1000, isolation_level="read_committed"
        )
    )
    consumer.subscribe(pattern=f"^{re.escape(alerts_prefix)}.*")
    await asyncio.sleep(3)  # let the pattern subscription find every alert topic
    print("ready", flush=True)
    noted: list[str] = []
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=100)
            now_us = int(time.time() * 1e6)
            for records in batch.values():
                for r in records:
                    read = orjson.loads(r.value)["read"]
                    read_time_us = int(dt.datetime.fromisoformat(read["time"]).timestamp() * 1e6)
                    noted.append(f"{read['read_id']} {now_us} {read_time_us}\n")
    finally:
        # aiokafka's fetcher may be sleeping out a retry backoff as it closes, and its close then
        # raises CancelledError (seen with read_committed over SASL_SSL): the receipts are complete
        with contextlib.suppress(asyncio.CancelledError):
            await consumer.stop()
    await asyncio.to_thread(receipts.write_text, "".join(noted))
    return len(noted)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--bootstrap", required=True)
    p.add_argument("--alerts-prefix", required=True)
    p.add_argument("--seconds", type=float, required=True)
    p.add_argument("--receipts", type=Path, required=True, help="one line per alert: read_id receipt_us read_time_us")
    a = p.parse_args()
    received = asyncio.run(run(a.bootstrap, a.alerts_prefix, a.seconds, a.receipts))
    print(orjson.dumps({"alerts_received": received}).decode(), flush=True)


if __name__ == "__main__":
    main()
