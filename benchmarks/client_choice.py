"""Which Kafka client for the worker's hot path: aiokafka or confluent-kafka (librdkafka)? Measured.

    .venv/bin/python -m benchmarks.client_choice --reads 1000000      # results/client_choice.json
    .venv/bin/python -m benchmarks.client_choice --smoke --bootstrap HOST:PORT   # CI: small, checks outputs

One topic of simulated plate reads (3 partitions, 1% hits) is read from the start by four variants,
each in a fresh process, interleaved round by round (aiokafka, librdkafka, aiokafka, librdkafka, ...):

  raw       consume only: aiokafka `getmany` vs librdkafka `consume(5000, timeout)` run in a thread
  pipeline  consume, `Pipeline.process`, and every output (alerts, audits, dead letters) produced with
            acks=all, one batch's acknowledgement awaited while the next is fetched and processed (the
            worker's structure): aiokafka through `batch_send.enqueue_all`, librdkafka with `produce`
            and delivery callbacks served by `poll` in a thread

Each variant is timed from its first batch in hand to its last read done (consumed, or its outputs
acknowledged), and charged the CPU time of its whole process in that window (librdkafka's threads
included). Outputs are checked: the alerts acknowledged, and the records that reached each output
topic (end offsets), must equal what the pipeline returned, and every run of either client must
return the same alerts (a digest of their ids). A run that differs fails the benchmark.

Both clients are built by `KafkaClients`, so PLATEWATCH_* security settings apply to them.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import hashlib
import os
import platform
import statistics
import subprocess
import sys
import time
import timeit
import uuid
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson

from benchmarks.peers.common import peak_rss_mb, threads
from streams.kafka.batch_send import OutRecord, enqueue_all, send_keyed
from streams.kafka.clients import KafkaClients
from streams.kafka.processor_base import freeze_long_lived
from streams.kafka.rd_records import RdRecord
from streams.kafka.topic_setup import create_topics, topic_specs
from streams.ops.settings import Settings, build_settings
from streams.pipeline.batch import Pipeline, SimulatedRecord
from streams.pipeline.outputs import BatchResult
from streams.pipeline.topics import TopicNames
from streams.policy.store import DEFAULT_POLICY, DEFAULT_REGISTRY, load_policy

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "client_choice.json"
COMMAND = ".venv/bin/python -m benchmarks.client_choice --reads 1000000"
VARIANTS = ("aiokafka-raw", "rdkafka-raw", "aiokafka-pipeline", "rdkafka-pipeline")
# two settings, probed on the raw consumers: librdkafka with its default fetch.queue.backoff.ms (1000 ms,
# against the 10 ms used above), and aiokafka without its CRC check (on by default; librdkafka's is off)
DEFAULT_BACKOFF = "rdkafka-raw-default-backoff"
NO_CRC = "aiokafka-raw-no-crc-check"
ALL_VARIANTS = (*VARIANTS, DEFAULT_BACKOFF, NO_CRC)
BATCH = 5000  # reads per batch: the worker's batch_max_reads
WAIT_MS = 5  # longest wait for a batch to fill: the worker's batch_wait_ms
STALL_S = 120.0  # a run that makes no progress for this long fails

# the aiokafka consumer and producer the at-least-once worker used before it moved to librdkafka, and the
# same in librdkafka's words
AIOKAFKA_CONSUMER: dict[str, Any] = {
    "group_id": None,  # assigned, not subscribed: no group join inside the timed window
    "enable_auto_commit": False,
    "auto_offset_reset": "earliest",
    "max_poll_records": BATCH,
    "fetch_max_wait_ms": WAIT_MS,
    "max_partition_fetch_bytes": 4 * 1024 * 1024,
    "isolation_level": "read_uncommitted",
}
AIOKAFKA_PRODUCER: dict[str, Any] = {
    "acks": "all",
    "enable_idempotence": True,
    "linger_ms": 2,
    "max_batch_size": 512 * 1024,
}
RDKAFKA_CONSUMER: dict[str, Any] = {
    "enable.auto.commit": False,
    "enable.auto.offset.store": False,
    "auto.offset.reset": "earliest",
    "fetch.wait.max.ms": WAIT_MS,
    "max.partition.fetch.bytes": 4 * 1024 * 1024,
    # the prefetch queue's backoff when full; librdkafka's default (1000 ms) stalls a fast consumer
    "fetch.queue.backoff.ms": 10,
    "isolation.level": "read_uncommitted",
}
RDKAFKA_PRODUCER: dict[str, Any] = {
    "acks": "all",
    "enable.idempotence": True,
    "linger.ms": 2,
    "batch.size": 512 * 1024,
    # the Java client's partitioner, as batch_send uses: a key lands where any standard producer puts it
    "partitioner": "murmur2_random",
}


def _progress(text: str) -> None:
    print(f"  [{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


# ---- confluent-kafka: what the pipeline reads of a Message, and acknowledgements ---------------------


def adapt(messages: Sequence[Any]) -> list[RdRecord]:
    """The batch's records; a message carrying an error (consume returns those too) stops the run."""
    for m in messages:
        if m.error() is not None:
            raise RuntimeError(f"consume error: {m.error()}")
    return list(map(RdRecord, messages))


class Acks:
    """Delivery reports of one batch's outputs (served by `poll` in whichever thread calls it)."""

    __slots__ = ("by_topic", "errors", "pending")

    def __init__(self) -> None:
        self.pending = 0
        self.by_topic: Counter[str] = Counter()
        self.errors: list[str] = []

    def __call__(self, err: Any, msg: Any) -> None:
        self.pending -= 1
        if err is None:
            self.by_topic[msg.topic()] += 1
        else:
            self.errors.append(str(err))


def wait_acked(producer: Any, acks: Acks, timeout_s: float = 60.0) -> Acks:
    """Serve delivery reports until every output of the batch is acknowledged (run in a thread)."""
    end = time.monotonic() + timeout_s
    while acks.pending > 0:
        if time.monotonic() > end:
            raise TimeoutError(f"{acks.pending} outputs unacknowledged after {timeout_s:g}s")
        producer.poll(0.05)
    if acks.errors:
        raise RuntimeError(f"{len(acks.errors)} outputs failed: {acks.errors[0]}")
    return acks


# ---- one variant, in its own process -------------------------------------------------------------


class Timer:
    """From the first batch in hand to the end: wall time and the whole process's CPU time. Also from
    the assignment (built just before `assign`), which counts every fetch: a client that prefetches
    before handing out its first batch gains nothing there."""

    def __init__(self) -> None:
        self.t0 = self.c0 = 0.0
        self.started = False
        self.first_batch = 0
        self.since = self.a0 = time.perf_counter()
        self.ca0 = time.process_time()

    def start(self, first_batch: int) -> None:
        """Start the clock (once): `first_batch` reads are already in hand and are not timed."""
        if not self.started:
            self.started = True
            self.first_batch = first_batch
            self.t0, self.c0 = time.perf_counter(), time.process_time()

    def progressed(self) -> None:
        self.since = time.perf_counter()

    def check_stall(self, count: int, expect: int) -> None:
        if time.perf_counter() - self.since > STALL_S:
            raise TimeoutError(f"no progress for {STALL_S:g}s at {count:,} of {expect:,} reads")

    def figures(self, reads: int) -> dict[str, float]:
        now, cpu_now = time.perf_counter(), time.process_time()
        seconds, cpu = now - self.t0, cpu_now - self.c0
        timed = reads - self.first_batch
        return {
            "reads": reads,
            "timed_reads": timed,
            "seconds": seconds,
            "reads_per_s": timed / seconds,
            "cpu_s": cpu,
            "cpu_s_per_100k": cpu / timed * 100_000,
            "seconds_from_assign": now - self.a0,
            "reads_per_s_from_assign": reads / (now - self.a0),
            "cpu_s_per_100k_from_assign": (cpu_now - self.ca0) / reads * 100_000,
            "threads": threads(),  # while the clients are open: librdkafka's own threads show here
        }


async def aiokafka_raw(clients: KafkaClients, topic: str, expect: int, *, check_crcs: bool = True) -> dict[str, Any]:
    consumer = await clients.start(clients.consumer(**AIOKAFKA_CONSUMER, check_crcs=check_crcs))
    try:
        partitions = await clients.topic_partitions(topic, wait_s=10)
        freeze_long_lived()
        timer, count = Timer(), 0
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        while count < expect:
            batch = await consumer.getmany(timeout_ms=WAIT_MS, max_records=BATCH)
            n = sum(len(rs) for rs in batch.values())
            if n:
                timer.start(n)
                timer.progressed()
                count += n
            timer.check_stall(count, expect)
        figures = timer.figures(count)
    finally:
        await consumer.stop()
    return figures


async def rdkafka_raw(clients: KafkaClients, topic: str, expect: int, *, default_backoff: bool = False,
                      ) -> dict[str, Any]:  # fmt: skip
    import confluent_kafka  # noqa: PLC0415

    conf = {k: v for k, v in RDKAFKA_CONSUMER.items() if not (default_backoff and k == "fetch.queue.backoff.ms")}
    consumer = clients.rdkafka_consumer(**conf, **{"group.id": f"client-choice-{uuid.uuid4().hex}"})
    loop = asyncio.get_running_loop()
    # one thread for librdkafka's blocking calls: the event loop stays free, as in the worker
    pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="rdkafka")
    try:
        partitions = _rd_partitions(consumer, topic)
        freeze_long_lived()
        timer, count = Timer(), 0
        consumer.assign(
            [confluent_kafka.TopicPartition(topic, p, confluent_kafka.OFFSET_BEGINNING) for p in partitions]
        )
        while count < expect:
            messages = await loop.run_in_executor(pool, consumer.consume, BATCH, WAIT_MS / 1000)
            n = len(adapt(messages))
            if n:
                timer.start(n)
                timer.progressed()
                count += n
            timer.check_stall(count, expect)
        figures = timer.figures(count)
    finally:
        await loop.run_in_executor(pool, consumer.close)
        pool.shutdown()
    return figures


def _rd_partitions(consumer: Any, topic: str) -> list[int]:
    deadline = time.monotonic() + 10
    while True:
        meta = consumer.list_topics(topic, timeout=5).topics.get(topic)
        if meta is not None and meta.error is None and meta.partitions:
            return sorted(meta.partitions)
        if time.monotonic() > deadline:
            raise RuntimeError(f"topic {topic} has no partitions")
        time.sleep(0.2)


class Outputs:
    """What the pipeline returned over the run, and what the broker acknowledged."""

    def __init__(self) -> None:
        self.returned: Counter[str] = Counter()  # alerts, audits, dead_letters
        self.acked: Counter[str] = Counter()
        self.alert_ids: list[bytes] = []
        self.pipeline_s = self.adapt_s = self.send_s = 0.0

    def add(self, result: BatchResult) -> None:
        self.returned["alerts"] += len(result.alerts)
        self.returned["audits"] += len(result.audits)
        self.returned["dead_letters"] += len(result.dead_letters)
        self.alert_ids.extend(a.key or b"" for a in result.alerts)

    def acknowledged(self, by_topic: Counter[str], names: TopicNames) -> None:
        for topic, n in by_topic.items():
            if topic.startswith(names.alerts_prefix):
                self.acked["alerts"] += n
            elif topic == names.share_audit:
                self.acked["audits"] += n
            elif topic == names.dlq:
                self.acked["dead_letters"] += n
            else:
                raise RuntimeError(f"an output went to an unexpected topic: {topic}")

    def figures(self) -> dict[str, Any]:
        digest = hashlib.sha256(b"\n".join(sorted(self.alert_ids))).hexdigest()
        return {
            "returned": dict(self.returned),
            "acknowledged": dict(self.acked),
            "alert_ids_sha256": digest,
            "in_pipeline_s": self.pipeline_s,
            "in_adapter_s": self.adapt_s,
            "in_send_s": self.send_s,
        }


def _pipeline(entries: int, names: TopicNames) -> Pipeline:
    from streams.hotlists.index import HotlistIndex  # noqa: PLC0415
    from streams.sim.synthetic import synthetic_hotlist  # noqa: PLC0415

    index = HotlistIndex()
    synthetic_hotlist(index, entries, list_id="ncic")
    policy = load_policy(DEFAULT_POLICY, DEFAULT_REGISTRY)
    return Pipeline(index, lambda: policy, names)


async def aiokafka_pipeline(clients: KafkaClients, names: TopicNames, expect: int, entries: int) -> dict[str, Any]:
    pipeline = _pipeline(entries, names)
    outputs = Outputs()
    consumer = await clients.start(clients.consumer(**AIOKAFKA_CONSUMER))
    producer = await clients.start(clients.producer(**AIOKAFKA_PRODUCER))
    try:
        partitions = await clients.topic_partitions(names.plate_reads, wait_s=10)
        for topic in {names.share_audit, names.dlq, *(names.alerts(a.ori) for a in _registry())}:
            await producer.partitions_for(topic)  # metadata before the clock starts, as librdkafka has it
        freeze_long_lived()
        timer, count = Timer(), 0
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        in_flight: asyncio.Future[Counter[str]] | None = None
        while count < expect:
            batch = await consumer.getmany(timeout_ms=WAIT_MS, max_records=BATCH)
            records = [r for rs in batch.values() for r in rs]
            if not records:
                timer.check_stall(count, expect)
                continue
            timer.start(0)
            t = time.perf_counter()
            result = pipeline.process(records)
            outputs.add(result)
            t1 = time.perf_counter()
            by_topic: dict[str, list[OutRecord]] = {}
            for out in result.outbound():
                by_topic.setdefault(out.topic, []).append((out.key, out.value, out.headers))
            futures = await enqueue_all(producer, by_topic)
            sent = Counter({topic: len(rs) for topic, rs in by_topic.items()})
            outputs.pipeline_s += t1 - t
            outputs.send_s += time.perf_counter() - t1
            count += len(records)
            if in_flight is not None:  # at most one batch awaits its acknowledgement, as in the worker
                outputs.acknowledged(await in_flight, names)
            in_flight = asyncio.ensure_future(_all_acked(futures, sent))
            timer.progressed()
        if in_flight is not None:
            outputs.acknowledged(await in_flight, names)
        figures = timer.figures(count)
    finally:
        await consumer.stop()
        await producer.stop()
    return {**figures, **outputs.figures()}


async def _all_acked(futures: list[asyncio.Future[Any]], sent: Counter[str]) -> Counter[str]:
    await asyncio.gather(*futures)  # raises when any batch was refused
    return sent


async def rdkafka_pipeline(clients: KafkaClients, names: TopicNames, expect: int, entries: int) -> dict[str, Any]:
    import confluent_kafka  # noqa: PLC0415

    pipeline = _pipeline(entries, names)
    outputs = Outputs()
    consumer = clients.rdkafka_consumer(**RDKAFKA_CONSUMER, **{"group.id": f"client-choice-{uuid.uuid4().hex}"})
    producer = clients.rdkafka_producer(**RDKAFKA_PRODUCER)
    loop = asyncio.get_running_loop()
    # librdkafka's blocking calls off the event loop: one thread consumes, one serves delivery reports,
    # so a batch's acknowledgement is awaited while the next is fetched and processed (as in the worker)
    pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="rdkafka-consume")
    acks_pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="rdkafka-acks")
    last: list[Any] = []
    try:
        partitions = _rd_partitions(consumer, names.plate_reads)
        for topic in {names.share_audit, names.dlq, *(names.alerts(a.ori) for a in _registry())}:
            _rd_partitions(producer, topic)  # metadata before the clock starts
        freeze_long_lived()
        timer, count = Timer(), 0
        consumer.assign(
            [confluent_kafka.TopicPartition(names.plate_reads, p, confluent_kafka.OFFSET_BEGINNING) for p in partitions]
        )
        in_flight: asyncio.Future[Acks] | None = None
        while count < expect:
            messages = await loop.run_in_executor(pool, consumer.consume, BATCH, WAIT_MS / 1000)
            if not messages:
                timer.check_stall(count, expect)
                continue
            timer.start(0)
            t = time.perf_counter()
            records = adapt(messages)
            t1 = time.perf_counter()
            result = pipeline.process(records)
            outputs.add(result)
            t2 = time.perf_counter()
            acks = Acks()
            for out in result.outbound():
                _produce(producer, out.topic, out.key, out.value, out.headers, acks)
            producer.poll(0)  # serve the reports already in: callbacks, not waiting
            outputs.adapt_s += t1 - t
            outputs.pipeline_s += t2 - t1
            outputs.send_s += time.perf_counter() - t2
            count += len(records)
            if in_flight is not None:
                outputs.acknowledged((await in_flight).by_topic, names)
            in_flight = loop.run_in_executor(acks_pool, wait_acked, producer, acks)
            timer.progressed()
            last = messages
        if in_flight is not None:
            outputs.acknowledged((await in_flight).by_topic, names)
        figures = timer.figures(count)
    finally:
        await loop.run_in_executor(pool, consumer.close)
        await loop.run_in_executor(acks_pool, producer.flush, 10)
        pool.shutdown()
        acks_pool.shutdown()
    return {**figures, **outputs.figures(), "adapter": adapter_cost(last)}


def _produce(producer: Any, topic: str, key: bytes | None, value: bytes, headers: Any, acks: Acks) -> None:
    acks.pending += 1
    while True:
        try:
            producer.produce(topic, value, key, headers=list(headers) if headers else None, on_delivery=acks)
            return
        except BufferError:  # the local queue is full: serve reports until there is room
            producer.poll(0.05)


def _read_every(records: Sequence[Any]) -> None:
    """What the pipeline reads of every record: its value (decoding) and its topic (whose agency)."""
    for r in records:
        _value, _topic = r.value, r.topic


def adapter_cost(messages: Sequence[Any]) -> dict[str, float]:
    """ns per read of making Messages the pipeline's records and reading what the pipeline reads of
    every one, against the same reads of plain attributes (what aiokafka's records give)."""
    if not messages:
        return {}
    plain = [
        SimulatedRecord(m.value(), m.key(), m.topic(), m.partition(), m.offset(), m.timestamp()[1]) for m in messages
    ]
    n = 50
    adapted = min(timeit.repeat(lambda: _read_every(adapt(messages)), number=n, repeat=5)) / n
    direct = min(timeit.repeat(lambda: _read_every(plain), number=n, repeat=5)) / n
    per = 1e9 / len(messages)
    return {
        "batch": len(messages),
        "adapted_ns_per_read": adapted * per,
        "plain_ns_per_read": direct * per,
        "overhead_ns_per_read": (adapted - direct) * per,
        "overhead_cpu_s_per_100k": (adapted - direct) / len(messages) * 100_000,
    }


def _registry() -> Any:
    return load_policy(DEFAULT_POLICY, DEFAULT_REGISTRY).registry


async def run_child(variant: str, bootstrap: str, prefix: str, expect: int, entries: int) -> dict[str, Any]:
    clients = KafkaClients(build_settings({"bootstrap_servers": bootstrap}))
    names = TopicNames.with_prefix(prefix)
    if variant == "aiokafka-raw":
        figures = await aiokafka_raw(clients, names.plate_reads, expect)
    elif variant == "rdkafka-raw":
        figures = await rdkafka_raw(clients, names.plate_reads, expect)
    elif variant == NO_CRC:
        figures = await aiokafka_raw(clients, names.plate_reads, expect, check_crcs=False)
    elif variant == DEFAULT_BACKOFF:
        figures = await rdkafka_raw(clients, names.plate_reads, expect, default_backoff=True)
    elif variant == "aiokafka-pipeline":
        figures = await aiokafka_pipeline(clients, names, expect, entries)
    elif variant == "rdkafka-pipeline":
        figures = await rdkafka_pipeline(clients, names, expect, entries)
    else:
        raise ValueError(f"unknown variant {variant}")
    return {"variant": variant, **figures, "max_rss_mb": peak_rss_mb()}


# ---- the benchmark: one topic, the variants interleaved, outputs checked -------------------------


async def setup(
    clients: KafkaClients, settings: Settings, names: TopicNames, reads: int, entries: int, hit_rate: float
) -> dict[str, Any]:
    from streams.hotlists.index import HotlistIndex  # noqa: PLC0415
    from streams.sim.camera_feed import CameraFeed, FeedSettings  # noqa: PLC0415
    from streams.sim.synthetic import synthetic_hotlist  # noqa: PLC0415

    policy = load_policy(DEFAULT_POLICY, DEFAULT_REGISTRY)
    await create_topics(clients, settings, topic_specs(settings, names, policy))
    index = HotlistIndex()
    synthetic_hotlist(index, entries, list_id="ncic")
    feed = CameraFeed(index, policy.registry, FeedSettings(hit_rate=hit_rate, seed=5))
    producer = await clients.start(clients.producer(acks="all", max_batch_size=512 * 1024, linger_ms=5))
    size = 0
    try:
        for start in range(0, reads, 100_000):
            chunk = feed.batch(min(100_000, reads - start))
            size += sum(len(v) for _, v in chunk)
            await send_keyed(producer, names.plate_reads, chunk)
    finally:
        await producer.stop()
    return {"mean_value_bytes": size / reads, "topic": names.plate_reads}


async def output_offsets(clients: KafkaClients, settings: Settings, names: TopicNames) -> dict[str, int]:
    """Records in each kind of output topic now (the sum of their end offsets)."""
    from aiokafka import TopicPartition  # noqa: PLC0415

    def kind(topic: str) -> str | None:
        if topic.startswith(names.alerts_prefix):
            return "alerts"
        return {names.share_audit: "audits", names.dlq: "dead_letters"}.get(topic)

    specs = topic_specs(settings, names, load_policy(DEFAULT_POLICY, DEFAULT_REGISTRY))
    tps = [TopicPartition(s.name, p) for s in specs if kind(s.name) for p in range(s.partitions)]
    consumer = await clients.start(clients.consumer(group_id=None, enable_auto_commit=False))
    try:
        ends = await consumer.end_offsets(tps)
    finally:
        await consumer.stop()
    out = dict.fromkeys(("alerts", "audits", "dead_letters"), 0)
    for tp, end in ends.items():
        out[kind(tp.topic) or ""] += end
    return out


def child(variant: str, bootstrap: str, prefix: str, expect: int, entries: int) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.client_choice", "--child", variant, "--bootstrap", bootstrap,
         "--prefix", prefix, "--reads", str(expect), "--entries", str(entries)],
        cwd=ROOT, capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"{variant} failed:\n{done.stderr[-4000:]}")
    result: dict[str, Any] = orjson.loads(done.stdout.strip().splitlines()[-1])
    return result


def verify(run: dict[str, Any], expect: int, landed: dict[str, int] | None) -> list[str]:
    """What is wrong with a run's outputs ([] when nothing)."""
    problems = []
    if run["reads"] != expect:
        problems.append(f"{run['variant']} consumed {run['reads']:,} reads, not {expect:,}")
    if landed is not None:
        returned, acked = run["returned"], run["acknowledged"]
        for kind in ("alerts", "audits", "dead_letters"):
            r, a, got = returned.get(kind, 0), acked.get(kind, 0), landed.get(kind, 0)
            if not r == a == got:
                problems.append(f"{run['variant']}: {kind} returned {r:,}, acknowledged {a:,}, on the topics {got:,}")
    return problems


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    def spread(values: list[float]) -> dict[str, float]:
        return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}

    out: dict[str, Any] = {}
    for variant in ALL_VARIANTS:
        mine = [r for r in runs if r["variant"] == variant]
        if mine:
            out[variant] = {
                key: spread([r[key] for r in mine])
                for key in ("reads_per_s", "cpu_s_per_100k", "reads_per_s_from_assign", "cpu_s_per_100k_from_assign",
                            "max_rss_mb", "threads")
            }  # fmt: skip
    for stage in ("raw", "pipeline"):
        a = {r["round"]: r for r in runs if r["variant"] == f"aiokafka-{stage}"}
        b = {r["round"]: r for r in runs if r["variant"] == f"rdkafka-{stage}"}
        rounds = sorted(a.keys() & b.keys())
        if rounds:  # paired within a round: drift of the shared machine cancels out
            out[f"{stage}_rdkafka_over_aiokafka"] = {
                key: spread([b[k][key] / a[k][key] for k in rounds])
                for key in ("reads_per_s", "cpu_s_per_100k", "reads_per_s_from_assign", "cpu_s_per_100k_from_assign")
            }
    return out


def environment() -> dict[str, Any]:
    import aiokafka  # noqa: PLC0415
    import confluent_kafka  # noqa: PLC0415

    return {
        "python": platform.python_version(),
        "aiokafka": aiokafka.__version__,
        "confluent_kafka": confluent_kafka.__version__,
        "librdkafka": confluent_kafka.libversion()[0],
        "cpus": os.cpu_count(),
        "machine": platform.machine(),
        "load_average_at_start": os.getloadavg()[0],
    }


async def benchmark(args: argparse.Namespace) -> dict[str, Any]:
    prefix = f"choice-{uuid.uuid4().hex[:8]}."
    # the single development topic (as benchmarks.load): one topic that every variant reads
    settings = build_settings(
        {
            "bootstrap_servers": args.bootstrap,
            "topic_prefix": prefix,
            "read_partitions": args.partitions,
            "ingest": "single_topic",
        }
    )
    clients = KafkaClients(settings)
    names = TopicNames.with_prefix(prefix)
    env = environment()
    _progress(f"{args.reads:,} reads to {names.plate_reads} ({args.partitions} partitions, hit rate {args.hit_rate})")
    runs: list[dict[str, Any]] = []
    problems: list[str] = []
    try:  # the topics go whatever happens, a failed setup included
        data = await setup(clients, settings, names, args.reads, args.entries, args.hit_rate)
        for round_ in range(1, args.runs + 1):
            for variant in ALL_VARIANTS:
                before = await output_offsets(clients, settings, names) if variant.endswith("pipeline") else None
                run = child(variant, args.bootstrap, prefix, args.reads, args.entries)
                landed = None
                if before is not None:
                    after = await output_offsets(clients, settings, names)
                    landed = {k: after[k] - before[k] for k in after}
                    run["on_topics"] = landed
                run["round"] = round_
                run["load_average"] = os.getloadavg()[0]  # the machine is shared: what else ran meanwhile
                runs.append(run)
                problems += verify(run, args.reads, landed)
                _progress(f"round {round_} {variant:27} {run['reads_per_s']:>10,.0f} reads/s "
                          f"{run['cpu_s_per_100k']:6.3f} CPU-s/100k; from assign "
                          f"{run['reads_per_s_from_assign']:>10,.0f} reads/s")  # fmt: skip
    finally:
        if not args.keep_topics:
            await delete_topics(clients, names)
    digests = {r["alert_ids_sha256"] for r in runs if "alert_ids_sha256" in r}
    counts = {orjson.dumps(r["returned"], option=orjson.OPT_SORT_KEYS) for r in runs if "returned" in r}
    if len(digests) > 1 or len(counts) > 1:
        problems.append(f"the runs returned different outputs: {sorted(c.decode() for c in counts)}")
    env["load_average_at_end"] = os.getloadavg()[0]
    pipeline_runs = [r for r in runs if "returned" in r]
    return {
        "question": "the worker's hot path: aiokafka getmany or confluent-kafka (librdkafka) consume?",
        "command": COMMAND if not args.smoke else "python -m benchmarks.client_choice --smoke",
        "environment": env,
        "parameters": {
            "reads": args.reads,
            "runs": args.runs,
            "partitions": args.partitions,
            "hit_rate": args.hit_rate,
            "hotlist_entries": args.entries,
            "batch": BATCH,
            "batch_wait_ms": WAIT_MS,
            **data,
            "order": "interleaved: each round runs " + ", ".join(ALL_VARIANTS),
            "each_run": "a fresh process",
        },
        "clients": {
            "aiokafka_consumer": AIOKAFKA_CONSUMER,
            "aiokafka_producer": AIOKAFKA_PRODUCER,
            "rdkafka_consumer": RDKAFKA_CONSUMER,
            "rdkafka_producer": RDKAFKA_PRODUCER,
        },
        "outputs_per_run": pipeline_runs[0]["returned"] if pipeline_runs else {},
        "outputs_verified": not problems,
        "problems": problems,
        "summary": summarize(runs),
        "runs": runs,
    }


async def delete_topics(clients: KafkaClients, names: TopicNames) -> None:
    admin = await clients.start(clients.admin())
    try:
        mine = [t for t in await admin.list_topics() if t.startswith(names.plate_reads.removesuffix("plate-reads"))]
        if mine:
            await admin.delete_topics(mine)
    finally:
        await admin.close()


def print_table(result: dict[str, Any]) -> None:
    s = result["summary"]
    print(f"{'variant':27} {'reads/s median (min-max)':>34} {'CPU-s/100k median (min-max)':>32}")
    for variant in ALL_VARIANTS:
        if variant in s:
            r, c = s[variant]["reads_per_s"], s[variant]["cpu_s_per_100k"]
            print(f"{variant:27} {r['median']:>12,.0f} ({r['min']:>9,.0f}-{r['max']:>9,.0f}) "
                  f"{c['median']:>12.3f} ({c['min']:.3f}-{c['max']:.3f})")  # fmt: skip
    print("outputs verified" if result["outputs_verified"] else "OUTPUTS DIFFER:\n  " + "\n  ".join(result["problems"]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--reads", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5, help="interleaved rounds (every variant once a round)")
    parser.add_argument("--bootstrap", default="127.0.0.1:9092")
    parser.add_argument("--partitions", type=int, default=3)
    parser.add_argument("--hit-rate", type=float, default=0.01)
    parser.add_argument("--entries", type=int, default=1_000_000, help="synthetic NCIC hotlist entries")
    parser.add_argument("--out", type=Path, default=None, help=f"results (default {RESULTS.relative_to(ROOT)})")
    parser.add_argument("--smoke", action="store_true", help="20,000 reads, one round, outputs checked (CI)")
    parser.add_argument("--keep-topics", action="store_true")
    parser.add_argument("--child", choices=ALL_VARIANTS, help=argparse.SUPPRESS)
    parser.add_argument("--prefix", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        result = asyncio.run(run_child(args.child, args.bootstrap, args.prefix, args.reads, args.entries))
        print(orjson.dumps(result).decode())
        return 0
    if args.smoke:
        args.reads, args.runs, args.entries = 20_000, 1, 50_000
    result = asyncio.run(benchmark(args))
    out = args.out or (None if args.smoke else RESULTS)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2) + b"\n")
    print_table(result)
    return 0 if result["outputs_verified"] else 1


if __name__ == "__main__":
    sys.exit(main())
