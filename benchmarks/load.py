"""Load benchmark on the real broker: throughput at saturation, read-to-alert latency at a fixed
rate, hotlist publication and replica catch-up, with the peers measured in the same run on the same topic.

The reads go to the worker's own input topic. The peers (benchmarks/peers: a confluent-kafka batch
loop, Quix Streams, faust with take(), raw aiokafka and librdkafka consumers, Kafka's JVM consumer) each
read it as their own consumer group, their outputs checked; then the Platewatch worker (a separate
process, as deployed) reads it under each guarantee, its alerts checked against the core pipeline
(worker_outputs.py).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import itertools
import os
import re
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from aiokafka.structs import RecordMetadata
from hdrh.histogram import HdrHistogram

from benchmarks.peers.run import inputs_for, run_rounds, select, summarize
from benchmarks.worker_outputs import alerts_on, difference, expected_alerts
from streams.hotlists.index import HotlistIndex
from streams.hotlists.model import HotlistEntry
from streams.kafka.batch_send import send_keyed
from streams.kafka.clients import KafkaClients
from streams.kafka.hotlist_publish import publish_list_async
from streams.kafka.topic_setup import LOG_APPEND_TIME, create_topics, topic_specs
from streams.ops.settings import Settings
from streams.pipeline.topics import TopicNames
from streams.policy.store import load_policy
from streams.sim.camera_feed import CameraFeed, FeedSettings
from streams.sim.sample_hotlists import NCIC
from streams.sim.synthetic import synthetic_hotlist
from tests.harness.worker_process import WorkerProcess, clients_for

MAX_LATENCY_US = 120_000_000
PERCENTILES = (10, 25, 50, 75, 90, 95, 99, 99.5, 99.9, 99.99, 100)


@dataclass(frozen=True)
class LoadParams:
    bootstrap: str
    entries: int
    reads: int
    rate: int
    seconds: float
    hit_rate: float
    partitions: int = 3
    peers: str | None = None  # comma-separated (benchmarks/peers/run.py); None: every peer
    peer_rounds: int = 3
    smoke: bool = False
    # the workers' saturation alone on this broker, at least once then exactly once (run.py's SASL_SSL rows)
    worker_only: bool = False


def _progress(text: str) -> None:
    print(f"  [{time.strftime('%H:%M:%S')}] {text}", flush=True)


async def _produce_reads(bootstrap: str, topic: str, reads: list[tuple[bytes, bytes]]) -> None:
    clients = clients_for(bootstrap)
    producer = await clients.start(clients.producer(acks=1, max_batch_size=512 * 1024, linger_ms=5))
    try:
        await send_keyed(producer, topic, reads)
    finally:
        await producer.stop()


class NoCommonWindowError(RuntimeError):
    """Some worker took no read before the others had taken them all."""


async def drain(workers: Sequence[WorkerProcess], expect: int, timeline: list[dict[str, float]]) -> dict[str, float]:
    """Saturation throughput: from the moment every worker has consumed a read to the last read."""
    start = time.monotonic()
    first_t, first_count, last_count = None, 0.0, 0.0
    start_cpu = first_cpu = sum(_cpu_of(w) for w in workers)
    deadline = start + 900
    while time.monotonic() < deadline:
        counts = [w.metric("platewatch_reads_consumed_total") for w in workers]
        count = sum(counts)
        now = time.monotonic()
        lag = sum(w.metric("platewatch_consumer_lag_messages") for w in workers)
        timeline.append({"t": now - start, "reads": count, "lag": lag})
        if all(counts) and first_t is None:
            first_t = now  # a first batch done by each; reads (and CPU) count from here
            first_count, first_cpu = count, sum(_cpu_of(w) for w in workers)
        if count >= expect:
            break
        if count != last_count and len(timeline) % 10 == 0:
            _progress(f"draining: {int(count):,} of {expect:,} reads")
        last_count = count
        await asyncio.sleep(0.1)
    done = sum(w.metric("platewatch_reads_consumed_total") for w in workers)
    if first_t is None:  # a worker never consumed: the others took every read (or the deadline passed)
        raise NoCommonWindowError(f"no window in which every worker consumed ({int(done):,} of {expect:,} reads taken)")
    cpu = sum(_cpu_of(w) for w in workers)
    if done > first_count:
        seconds, done, cpu = time.monotonic() - first_t, done - first_count, cpu - first_cpu
    else:  # everything was consumed before the first look (small runs): the whole window counts
        seconds, cpu = first_t - start, cpu - start_cpu
    return {"reads": done, "seconds": seconds, "reads_per_s": done / max(seconds, 1e-9),
            "cpu_s_per_100k": cpu / max(done, 1) * 100_000}  # fmt: skip


async def fixed_rate(
    p: LoadParams,
    names: TopicNames,
    feed: CameraFeed,
    worker: WorkerProcess,
    timeline: list[dict[str, float]],
) -> dict[str, Any]:
    """Offer `rate` reads/s; a dispatch consumer in its own process notes when each alert arrives (in
    this process it would share the event loop with the load generator).

    The latency is measured from the broker's append time of the alert's read (input topics keep
    LogAppendTime, `topic_setup.read_topic_config`, and the read's produce acknowledgement carries
    it) to the alert's receipt: the time the generator takes to send a read is not the worker's. The
    latency from the read's own time (set just before the generator sends it) is kept beside it
    (`from_read_time`). Every alert the worker emitted in the window must have arrived, or the run fails."""
    with tempfile.TemporaryDirectory(prefix="dispatch-") as workdir:
        receipts = Path(workdir) / "receipts"
        dispatch = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "benchmarks.dispatch_consumer", "--bootstrap", p.bootstrap,
            "--alerts-prefix", names.alerts_prefix, "--seconds", str(p.seconds + 4), "--receipts", str(receipts),
            stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        try:
            assert dispatch.stdout is not None
            if (await dispatch.stdout.readline()).strip() != b"ready":
                raise RuntimeError("the dispatch consumer did not start")
            emitted0 = worker.metric("platewatch_alerts_emitted_total")
            offered, appended = await _offer(p, names, feed, worker, timeline)
            out, _ = await dispatch.communicate()
            if dispatch.returncode != 0:
                raise RuntimeError("the dispatch consumer failed")
            emitted = worker.metric("platewatch_alerts_emitted_total") - emitted0
            received = orjson.loads(out.strip().splitlines()[-1])["alerts_received"]
            if received < emitted:  # more (a batch sent again) is at-least-once's right; fewer hides a tail
                raise RuntimeError(f"the worker emitted {emitted:.0f} alerts in the window, the dispatch consumer "
                                   f"received {received}")  # fmt: skip
            from_append, from_read_time = alert_latencies(receipts.read_text(), appended)
        finally:
            if dispatch.returncode is None:
                dispatch.kill()
                await dispatch.wait()
    return {
        "offered": offered,
        "offered_per_s": offered / p.seconds,
        "alerts_received": received,
        "alerts_emitted": emitted,
        "clock": "broker append time of the read",
        **percentiles(from_append),
        "from_read_time": percentiles(from_read_time),
    }


async def _offer(
    p: LoadParams, names: TopicNames, feed: CameraFeed, worker: WorkerProcess, timeline: list[dict[str, float]]
) -> tuple[int, dict[str, int]]:
    """The load generator: `rate` reads/s for `seconds`; how many it offered, and each one's broker
    append time (ms) by read id."""
    clients = clients_for(p.bootstrap)
    producer = await clients.start(clients.producer(acks=1, linger_ms=1))
    offered, start = 0, time.monotonic()
    consumed0 = worker.metric("platewatch_reads_consumed_total")
    last_sample = 0.0
    acks: list[tuple[str, asyncio.Future[RecordMetadata]]] = []
    try:
        while (elapsed := time.monotonic() - start) < p.seconds:
            due = int((elapsed + 0.01) * p.rate) - offered
            if due > 0:
                for key, value in feed.batch(due):
                    doc = orjson.loads(value)
                    doc["time"] = dt.datetime.now(dt.UTC).isoformat()  # the read's own time
                    acks.append((doc["read_id"], await producer.send(names.plate_reads, orjson.dumps(doc), key=key)))
                offered += due
            if elapsed - last_sample >= 0.5:
                last_sample = elapsed
                timeline.append({
                    "t": elapsed, "reads": worker.metric("platewatch_reads_consumed_total") - consumed0,
                    "lag": worker.metric("platewatch_consumer_lag_messages"), "offered": offered,
                })  # fmt: skip
                if int(elapsed) % 5 == 0 and elapsed - int(elapsed) < 0.5:
                    _progress(f"fixed rate: {offered:,} reads offered")
            await asyncio.sleep(0.005)
        await producer.flush()
    finally:
        await producer.stop()
    return offered, {read_id: _append_time_ms(await ack) for read_id, ack in acks}


def _append_time_ms(ack: RecordMetadata) -> int:
    """The broker's append time of a read, from its produce acknowledgement."""
    if ack.timestamp_type != LOG_APPEND_TIME:
        raise RuntimeError("the input topic does not keep the broker's append time (message.timestamp.type)")
    return int(ack.timestamp)


def alert_latencies(receipts: str, appended: dict[str, int]) -> tuple[HdrHistogram, HdrHistogram]:
    """Each alert's latency from its read's broker append, and from its read's own time. An alert of a
    read the generator did not offer, one that arrived before its read was appended (another clock)
    or one too late to record fails the run: none may drop out of the tail unseen."""
    from_append, from_read_time = histogram(), histogram()
    unknown = unrecorded = 0
    for line in receipts.splitlines():
        read_id, at_us, read_time_us = line.split()
        if read_id not in appended:
            unknown += 1
            continue
        # a Kafka timestamp is whole milliseconds: up to 1 ms is added to a latency, never taken off
        for hist, since_us in ((from_append, appended[read_id] * 1000), (from_read_time, int(read_time_us))):
            latency_us = int(at_us) - since_us
            if latency_us < 0 or not hist.record_value(max(1, latency_us)):
                unrecorded += 1
    if unknown or unrecorded:
        raise RuntimeError(f"{unknown} alerts of reads not offered in the window, {unrecorded} latencies negative "
                           f"or over {MAX_LATENCY_US // 1_000_000} s")  # fmt: skip
    return from_append, from_read_time


def histogram() -> HdrHistogram:
    return HdrHistogram(1, MAX_LATENCY_US, 3)  # microseconds


def percentiles(hist: HdrHistogram) -> dict[str, Any]:
    return {
        "latency_ms": {
            **{f"p{q}": hist.get_value_at_percentile(q) / 1000 for q in (50, 95, 99, 99.9)},
            "max": hist.get_max_value() / 1000,
            "mean": hist.get_mean_value() / 1000,
        },
        "latency_ms_percentiles": [(q, hist.get_value_at_percentile(q) / 1000) for q in PERCENTILES],
    }


async def run_load(p: LoadParams, log_dir: str) -> dict[str, Any]:
    prefix = f"bench-{uuid.uuid4().hex[:8]}."
    # every system reads the same single topic (the development ingest mode): same topic, same reads
    settings = Settings(
        bootstrap_servers=p.bootstrap, topic_prefix=prefix, read_partitions=p.partitions, ingest="single_topic"
    )
    names = TopicNames.with_prefix(prefix)
    policy = load_policy(settings.policy_file, settings.registry_file)
    clients = KafkaClients(settings)
    specs = topic_specs(settings, names, policy)
    await create_topics(clients, settings, specs)

    _progress(f"hotlist: {p.entries:,} synthetic entries")
    index = HotlistIndex()
    codes = synthetic_hotlist(index, p.entries, list_id="ncic")
    publish_s = await publish_hotlist(clients, names, index)
    _progress(f"published the hotlist in {publish_s:.1f}s")

    feed = CameraFeed(index, policy.registry, FeedSettings(hit_rate=p.hit_rate, seed=5))
    reads = feed.batch(p.reads)
    await _produce_reads(p.bootstrap, names.plate_reads, reads)
    expected = expected_alerts(index, policy, names, reads)
    alert_topics = sorted(s.name for s in specs if s.name.startswith(names.alerts_prefix))
    _progress(f"{p.reads:,} reads on {names.plate_reads}, {sum(expected.values()):,} alerts expected")
    problems: list[str] = []

    async def check(guarantee: str, want: Counter[str]) -> None:
        deadline = time.monotonic() + 30  # the last batch's transaction may still be committing
        while (wrong := difference(await alerts_on(clients, alert_topics), want)) and time.monotonic() < deadline:
            await asyncio.sleep(1)
        if wrong:
            problems.append(f"{guarantee} worker: {wrong}")
        _progress(f"{guarantee} worker's alerts: {wrong or 'as expected'}")

    if p.worker_only:
        # the plaintext rows' turns: at least once first, then exactly once (run.py's SASL_SSL rows run this
        # twice on their broker, a warm-up pass first: docs/performance.md, "The SASL_SSL row on a warm broker")
        alo = await measure_worker(p, prefix, names, feed, Path(log_dir), "at_least_once", p.reads,
                                   lambda: check("at_least_once", expected), with_latency=False)  # fmt: skip
        written = await alerts_on(clients, alert_topics)
        eos = await measure_worker(p, prefix, names, feed, Path(log_dir), "exactly_once", p.reads,
                                   lambda: check("exactly_once", written + written), with_latency=False)  # fmt: skip
        hotlist = {"entries": p.entries, "publish_seconds": publish_s, **alo["hotlist"]}
        return {"parameters": p.__dict__, "hotlist": hotlist, "at_least_once": alo, "exactly_once": eos,
                "outputs_verified": not problems, "problems": problems}  # fmt: skip
    peers = await run_peers(p, clients, settings, f"{prefix}peers.", names.plate_reads, reads, codes)
    # the guarantee a deployment runs with costs something: the same reads through each, in turn, each
    # as its own consumer group from the start of the topic (the second also reads the first's fixed-rate reads)
    alo = await measure_worker(p, prefix, names, feed, Path(log_dir), "at_least_once", p.reads,
                               lambda: check("at_least_once", expected))  # fmt: skip
    # the second worker reads every read the first one read: it must add exactly what the first one wrote
    written = await alerts_on(clients, alert_topics)
    eos = await measure_worker(p, prefix, names, feed, Path(log_dir), "exactly_once",
                               p.reads + alo["fixed_rate"]["offered"],
                               lambda: check("exactly_once", written + written))  # fmt: skip
    # two workers in one group read everything again: they must add exactly what the exactly-once one wrote
    after_eos = await alerts_on(clients, alert_topics)
    everything = p.reads + alo["fixed_rate"]["offered"] + eos["fixed_rate"]["offered"]
    pair = await measure_pair(p, prefix, Path(log_dir), everything,
                              lambda: check("two workers", after_eos + (after_eos - written)))  # fmt: skip
    if "pipeline_saturation" in pair:
        pair["over_one_worker"] = pair["pipeline_saturation"]["reads_per_s"] / eos["pipeline_saturation"]["reads_per_s"]
    pipeline = alo["pipeline_saturation"]
    return {
        "parameters": p.__dict__,
        "hotlist": {"entries": p.entries, "publish_seconds": publish_s, **alo["hotlist"]},
        "peers": peers,
        "pipeline_saturation": pipeline,
        "outputs_verified": not problems and not peers["problems"],
        "problems": problems + peers["problems"],
        "ratios": {
            f"to_{peer.replace('-', '_')}": pipeline["reads_per_s"] / figures["reads_per_s"]["median"]
            for peer, figures in peers["summary"].items()
            if figures.get("reads_per_s")
        },
        "fixed_rate": alo["fixed_rate"],
        "worker_rss_bytes": alo["worker_rss_bytes"],
        "worker_peak_rss_bytes": alo["worker_peak_rss_bytes"],
        "timeline_saturation": alo["timeline_saturation"],
        "timeline_fixed_rate": alo["timeline_fixed_rate"],
        "exactly_once": eos,
        "two_workers": pair,
        "exactly_once_over_at_least_once": {
            "saturation_reads_per_s": eos["pipeline_saturation"]["reads_per_s"] / pipeline["reads_per_s"],
            "cpu_s_per_100k": _ratio(eos["pipeline_saturation"], pipeline, "cpu_s_per_100k"),
            "p99_ms": eos["fixed_rate"]["latency_ms"]["p99"] / max(alo["fixed_rate"]["latency_ms"]["p99"], 1e-9),
        },
    }


async def publish_hotlist(clients: KafkaClients, names: TopicNames, index: HotlistIndex) -> float:
    """Seconds to publish the index's entries as one load (`publish_list_async`, what `platewatch hotlist
    load --publish` runs): encoding, sending, the commit. Reading the entries out of the index is the
    benchmark's own work and is taken off."""
    produced = 0.0

    def entries() -> Iterator[HotlistEntry]:
        nonlocal produced
        it = index.entries("ncic")
        while True:
            t = time.perf_counter()
            chunk = list(itertools.islice(it, 50_000))
            produced += time.perf_counter() - t
            if not chunk:
                return
            yield from chunk

    t0 = time.perf_counter()
    await publish_list_async(clients, NCIC, entries(), replace=False, topic=names.hotlist_updates)
    return time.perf_counter() - t0 - produced


async def run_peers(p: LoadParams, clients: KafkaClients, settings: Settings, prefix: str, topic: str,
                    reads: list[tuple[bytes, bytes]], codes: Any) -> dict[str, Any]:  # fmt: skip
    """The systems a user would pick instead, on the worker's own topic and reads (benchmarks/peers)."""
    args = argparse.Namespace(bootstrap=p.bootstrap, partitions=p.partitions, rounds=p.peer_rounds,
                              smoke=p.smoke, peers=p.peers)  # fmt: skip
    chosen, left_out = select(args)
    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="peers-") as workdir:
        inputs = inputs_for(topic, [v for _, v in reads], codes, Path(workdir))
        problems = await run_rounds(args, clients, settings, prefix, inputs, chosen, runs)
    return {
        "expected_exact_hits": len(inputs.expected_ids),
        "rounds": p.peer_rounds,
        "left_out": left_out,
        "problems": problems,
        "summary": summarize(runs),
        "runs": runs,
    }


def _ratio(a: dict[str, Any], b: dict[str, Any], key: str) -> float | None:
    return a[key] / b[key] if a.get(key) and b.get(key) else None


async def measure_worker(
    p: LoadParams,
    prefix: str,
    names: TopicNames,
    feed: CameraFeed,
    log_dir: Path,
    guarantee: str,
    expect: int,
    after_drain: Callable[[], Awaitable[None]],
    *,
    with_latency: bool = True,
) -> dict[str, Any]:
    """One worker, with `guarantee`, as a fresh consumer group: its saturation throughput over the
    backlog, then (`with_latency`) its latency at the fixed rate."""
    worker = WorkerProcess(
        p.bootstrap, prefix, _fresh_log(log_dir / f"worker-{guarantee}.log"), "--ingest", "single_topic",
        "--processing-guarantee", guarantee, "--group-id", f"{prefix}{guarantee}",
    )  # fmt: skip
    started = time.monotonic()
    worker.start()
    try:
        await worker.wait_ready(timeout=900)
        ready_s = time.monotonic() - started
        readyz = orjson.loads(worker.get("/readyz")[1])
        _progress(
            f"{guarantee} worker ready in {ready_s:.1f}s (replica catch-up {readyz['hotlist_catch_up_seconds']:.1f}s)"
        )
        drain_timeline: list[dict[str, float]] = []
        pipeline = await drain([worker], expect, drain_timeline)  # its CPU in the same window
        _progress(f"{guarantee}: {pipeline['reads_per_s']:,.0f} reads/s at saturation")
        await after_drain()
        if not with_latency:
            return {"guarantee": guarantee, "hotlist": _hotlist_of(ready_s, readyz), "pipeline_saturation": pipeline,
                    "worker_rss_bytes": _rss_of(worker), "worker_peak_rss_bytes": _peak_rss_of(worker),
                    "timeline_saturation": drain_timeline}  # fmt: skip
        rate_timeline: list[dict[str, float]] = []
        before = latency_buckets(worker)
        latency = await fixed_rate(p, names, feed, worker, rate_timeline)
        latency["worker_side"] = worker_latency(latency_buckets(worker), before)
        rss, peak_rss = _rss_of(worker), _peak_rss_of(worker)
        # every read offered is processed before the worker goes: the next one's output check counts on it
        deadline = time.monotonic() + 60
        while worker.metric("platewatch_reads_consumed_total") < expect + latency["offered"]:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the {guarantee} worker did not take every offered read in 60 s")
            await asyncio.sleep(0.2)
    finally:
        worker.terminate()
    return {
        "guarantee": guarantee,
        "hotlist": _hotlist_of(ready_s, readyz),
        "pipeline_saturation": pipeline,
        "fixed_rate": latency,
        "worker_rss_bytes": rss,
        "worker_peak_rss_bytes": peak_rss,
        "timeline_saturation": drain_timeline,
        "timeline_fixed_rate": rate_timeline,
    }


async def measure_pair(p: LoadParams, prefix: str, log_dir: Path, expect: int,
                       after_drain: Callable[[], Awaitable[None]]) -> dict[str, Any]:  # fmt: skip
    """Scale-out on this machine: two exactly-once workers in one fresh group share the topic's
    partitions (3: one worker takes two), timed while both consume."""
    args = ("--ingest", "single_topic", "--processing-guarantee", "exactly_once", "--group-id", f"{prefix}pair")
    workers = [WorkerProcess(p.bootstrap, prefix, _fresh_log(log_dir / f"worker-pair-{n}.log"), *args) for n in (1, 2)]
    for worker in workers:
        worker.start()
    timeline: list[dict[str, float]] = []
    try:
        await asyncio.gather(*(w.wait_ready(timeout=900) for w in workers))
        _progress("two exactly-once workers ready")
        row: dict[str, Any] = {"workers": len(workers), "guarantee": "exactly_once", "timeline_saturation": timeline}
        try:
            row["pipeline_saturation"] = await drain(workers, expect, timeline)
            _progress(f"two workers: {row['pipeline_saturation']['reads_per_s']:,.0f} reads/s at saturation")
        except NoCommonWindowError as exc:  # not timed; what they wrote is checked all the same
            row["error"] = str(exc)
        await after_drain()
    finally:
        for worker in workers:
            worker.terminate()
    return row


def _fresh_log(path: Path) -> Path:
    """A worker's log holds this run only (the worker appends, for a restarted worker's sake)."""
    path.unlink(missing_ok=True)
    return path


def _hotlist_of(ready_s: float, readyz: dict[str, Any]) -> dict[str, Any]:
    return {
        "worker_ready_seconds": ready_s,
        "replica_catch_up_seconds": readyz["hotlist_catch_up_seconds"],
        "replica_entries": readyz["hotlist_entries"],
    }


def _cpu_of(worker: WorkerProcess) -> float:
    """The worker process's CPU seconds so far (user + system, all threads), from /proc."""
    assert worker.proc is not None
    fields = Path(f"/proc/{worker.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


Buckets = dict[str, dict[float, float]]


def latency_buckets(worker: WorkerProcess) -> Buckets:
    """The worker's read-to-acknowledged-alert histogram buckets, by clock."""
    _, body = worker.get("/metrics")
    buckets: Buckets = {}
    for line in body.decode().splitlines():
        m = re.match(r'platewatch_read_to_alert_latency_seconds_bucket\{clock="(\w+)",le="([^"]+)"\} (\S+)', line)
        if m:
            buckets.setdefault(m[1], {})[float(m[2])] = float(m[3])
    return buckets


def worker_latency(after: Buckets, before: Buckets) -> dict[str, dict[str, float]]:
    """p50/p99 (Prometheus-style estimate from buckets) of what the worker saw between two snapshots."""
    out: dict[str, dict[str, float]] = {}
    for clock, counts in after.items():
        points = sorted((le, n - before.get(clock, {}).get(le, 0.0)) for le, n in counts.items())
        total = points[-1][1]
        if not total:
            continue
        out[clock] = {f"p{int(q * 100)}_ms": 1000 * _bucket_quantile(points, q * total) for q in (0.5, 0.99)}
    return out


def _bucket_quantile(points: list[tuple[float, float]], rank: float) -> float:
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in points:
        if count >= rank:
            if bound == float("inf"):
                return lower_bound
            return lower_bound + (bound - lower_bound) * (rank - lower_count) / max(count - lower_count, 1e-9)
        lower_bound, lower_count = bound, count
    return lower_bound


def _peak_rss_of(worker: WorkerProcess) -> int | None:
    """The most the worker has held since it started (VmHWM): its replica's load of the index
    included, which a memory limit must allow for, beside what it holds after (`_rss_of`)."""
    if worker.proc is None:
        return None
    try:
        with open(f"/proc/{worker.proc.pid}/status") as f:
            return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmHWM:"))
    except (OSError, StopIteration):
        return None


def _rss_of(worker: WorkerProcess) -> int | None:
    if worker.proc is None:
        return None
    try:
        with open(f"/proc/{worker.proc.pid}/statm") as f:
            return int(f.read().split()[1]) * 4096
    except OSError:
        return None


def profile_pipeline(entries: int, reads: int) -> str:
    """Where a batch's time goes: cProfile of the in-process pipeline on a batch of reads."""
    import cProfile  # noqa: PLC0415
    import io  # noqa: PLC0415
    import pstats  # noqa: PLC0415

    from streams.pipeline.batch import Pipeline, SimulatedRecord  # noqa: PLC0415
    from streams.policy.store import PolicyStore  # noqa: PLC0415

    index = HotlistIndex()
    synthetic_hotlist(index, entries)
    store = PolicyStore()
    policy = store.current
    feed = CameraFeed(index, policy.registry, FeedSettings(hit_rate=0.01, seed=9))  # type: ignore[union-attr]
    records = [SimulatedRecord(v, k) for k, v in feed.batch(reads)]
    pipeline = Pipeline(index, lambda: store.current)
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(5):
        pipeline.process(records)
    prof.disable()
    out = io.StringIO()
    pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(12)
    return out.getvalue()
