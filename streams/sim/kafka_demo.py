"""`platewatch demo --kafka`: the demo through the local broker, with a real worker process.

Topics get a fresh prefix, the sample hotlists are published to hotlist-updates, a worker is started
as a child process, simulated cameras produce reads, and every alert topic is tailed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import tempfile
import time
from pathlib import Path

import orjson

from streams.hotlists.index import HotlistIndex
from streams.kafka.clients import KafkaClients
from streams.kafka.hotlist_publish import publish_list_async
from streams.kafka.tail_alerts import format_alert
from streams.kafka.topic_setup import create_topics, topic_specs
from streams.ops.settings import settings_from
from streams.pipeline.topics import TopicNames
from streams.policy.store import load_policy
from streams.sim.camera_feed import FeedSettings
from streams.sim.sample_hotlists import load_sample_hotlists
from streams.sim.simulate import simulate
from streams.sim.worker_child import WorkerChild, WorkerNotReadyError


def run_demo_on_kafka(args: argparse.Namespace) -> int:
    return asyncio.run(_run(args))


async def _run(args: argparse.Namespace) -> int:
    prefix = f"demo-{int(time.time())}."
    settings = settings_from(args).model_copy(update={"topic_prefix": prefix})
    clients = KafkaClients(settings)
    names = TopicNames.with_prefix(prefix)
    policy = load_policy(settings.policy_file, settings.registry_file)
    print(f"demo on Kafka at {settings.bootstrap_servers}, topics {prefix}*")
    created, _ = await create_topics(clients, settings, topic_specs(settings, names, policy))
    print(f"created {len(created)} topics")
    index = HotlistIndex()
    size = min(args.hotlist_size, 50_000)
    load_sample_hotlists(index, size)
    for stats in index.stats():
        entries = list(index.entries(stats.info.list_id))
        await publish_list_async(clients, stats.info, entries, replace=False, topic=names.hotlist_updates)
        print(f"published hotlist {stats.info.list_id}: {len(entries):,} entries")
    log = Path(tempfile.mkdtemp(prefix="platewatch-demo-")) / "worker.log"
    worker = WorkerChild(settings.bootstrap_servers, prefix, log, "--log-level", "WARNING")
    worker.start(env={**os.environ, **settings.as_environment()})
    try:
        try:
            await worker.wait_ready(timeout=120)
        except WorkerNotReadyError as exc:
            print(f"the worker did not become ready: {exc}")
            return 1
        print(f"worker ready: http://127.0.0.1:{worker.port}/metrics (log {log})\n")
        tail = asyncio.create_task(_tail_all(clients, names, args.max_alerts_shown))
        feed = FeedSettings(hit_rate=args.hit_rate, bad_rate=args.bad_rate, seed=11)
        await simulate(settings, index, feed, rate=args.rate, seconds=args.seconds)
        await asyncio.sleep(2)
        tail.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await tail
        _, body = worker.get("/metrics")
        print("\nworker metrics:")
        for line in body.decode().splitlines():
            if re.match(r"platewatch_(reads_consumed|alerts_emitted|shares_denied|dead_letters)_total", line):
                print(f"  {line}")
    finally:
        worker.terminate()
    return 0


async def _tail_all(clients: KafkaClients, names: TopicNames, max_shown: int) -> None:
    consumer = await clients.start(
        clients.consumer(
            group_id=None, auto_offset_reset="earliest", metadata_max_age_ms=2000, isolation_level="read_committed"
        )
    )
    consumer.subscribe(pattern=f"^{re.escape(names.alerts_prefix)}.*")
    shown = 0
    try:
        while True:
            batch = await consumer.getmany(timeout_ms=500)
            for tp, records in batch.items():
                for r in records:
                    if shown < max_shown:
                        recipient = tp.topic.removeprefix(names.alerts_prefix)
                        print(f"{recipient} <- {format_alert(orjson.loads(r.value))}")
                    shown += 1
    finally:
        await consumer.stop()
