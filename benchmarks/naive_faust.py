"""Baseline (b): the framework's default, a per-event faust agent doing a Python set lookup per read.

Run as a child process by benchmarks.load; prints one JSON line: reads, seconds, reads_per_s.
    python -m benchmarks.naive_faust --bootstrap 127.0.0.1:9092 --topic T --expect N
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
import uuid

import faust
import numpy as np
import orjson

from streams.sim.synthetic import plates_from_digits, random_plate_codes
from tests.harness.worker_process import clients_for


async def run(bootstrap: str, topic_name: str, expect: int, entries: int) -> dict[str, float]:
    digits, _ = random_plate_codes(entries, np.random.default_rng(7), uniform=True)
    listed = set(plates_from_digits(digits))
    app = faust.App(
        f"naive-{uuid.uuid4().hex[:8]}",
        **clients_for(bootstrap).faust_app_options(),
        store="memory://",
        web_enabled=False,
        datadir=tempfile.mkdtemp(),
        topic_replication_factor=1,
        consumer_auto_offset_reset="earliest",
    )
    topic = app.topic(topic_name, value_type=bytes, value_serializer="raw")
    state = {"count": 0, "hits": 0, "first": 0.0, "last": 0.0}
    done = asyncio.Event()

    @app.agent(topic)
    async def naive(stream):
        async for value in stream:
            if not state["count"]:
                state["first"] = time.perf_counter()
            doc = orjson.loads(value)
            state["hits"] += doc["plate"] in listed
            state["count"] += 1
            if state["count"] >= expect:
                state["last"] = time.perf_counter()
                done.set()

    await app.start()
    try:
        await asyncio.wait_for(done.wait(), timeout=600)
    finally:
        await app.stop()
    seconds = state["last"] - state["first"]
    return {"reads": state["count"], "seconds": seconds, "reads_per_s": state["count"] / seconds}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--bootstrap", required=True)
    p.add_argument("--topic", required=True)
    p.add_argument("--expect", type=int, required=True)
    p.add_argument("--entries", type=int, default=1_000_000)
    a = p.parse_args()
    print(orjson.dumps(asyncio.run(run(a.bootstrap, a.topic, a.expect, a.entries))).decode(), flush=True)


if __name__ == "__main__":
    main()
