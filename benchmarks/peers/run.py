"""The peers of the throughput benchmark, measured on one topic with one timing window, their outputs checked.

    .venv/bin/python -m benchmarks.peers.run --bootstrap HOST:PORT --reads N [--peers a,b,...] [--rounds R]
    .venv/bin/python -m benchmarks.peers.run --bootstrap HOST:PORT --smoke    # CI: 20,000 reads, one round

One fresh topic (3 partitions) is filled with N simulated reads from the project's camera feed
(`CameraFeed`, a 1% hit rate planted from a synthetic NCIC hotlist, as benchmarks/client_choice.py and
benchmarks/load.py make them). The hotlist's plates go to a file every peer loads into a Python set, and
the expected hits are computed from the same reads with the same normaliser: the reads whose normalised
plate is on the list (a hit planted as a look-alike misread is not an exact hit; a random plate that
happens to be listed is).

Peers (each a fresh process, each round running every peer once in the same order, never two at once):

  confluent-batch     confluent-kafka batch consumer + producer (confluent_batch.py)
  raw-aiokafka        consume only, aiokafka getmany (raw_consume.py)
  raw-librdkafka      consume only, librdkafka consume (raw_consume.py)
  faust-take          a faust agent batching with stream.take (faust_take.py)
  quix                a Quix Streams application, in its own virtualenv (quix_app.py, setup_venvs.sh)
  jvm-consumer-perf   Kafka's ConsumerPerformance on the JVM, consume only (jvm_consumer_perf.py)

Every peer reports one JSON line measured in the same window (benchmarks/peers/common.py): from the
first batch in hand to the last read processed, and to the last alert acknowledged; CPU-s per 100k
reads is its process's CPU over that window. The process's whole CPU (start-up included, children
included) and peak memory are taken here from its exit status (wait4).

Outputs are checked in every run, and any failure makes the run exit 1: every peer consumed exactly N
reads; a peer that produces alerts matched exactly the expected hits, had them all acknowledged, and
the alerts topic of its run holds one alert per expected hit (the same read ids, read back here); a
peer that commits offsets (confluent-batch, faust-take, quix, jvm-consumer-perf) left its group's
committed offsets at the end of the topic.

A run that includes the Quix peer makes its virtualenv first when it is missing (setup_venvs.sh,
from PyPI), and the JVM peer resolves Kafka's tools jar when it is missing (Maven Central); a smoke run
does neither and leaves such a peer out, saying why.

Writes benchmarks/results/peers.json (every run, medians and spread by peer; --out elsewhere, and a
smoke run writes only with --out) and prints a markdown table.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from benchmarks.client_choice import delete_topics, environment
from benchmarks.peers import jvm_consumer_perf
from benchmarks.peers.common import QUIX_CONFIG_ENV, listed_plate, progress
from streams.kafka.batch_send import send_keyed
from streams.kafka.clients import KafkaClients
from streams.kafka.topic_setup import TopicSpec, create_topics
from streams.ops.settings import Settings, build_settings
from streams.pipeline.topics import TopicNames

ROOT = Path(__file__).resolve().parent.parent.parent
HERE = Path(__file__).resolve().parent
RESULTS = ROOT / "benchmarks" / "results" / "peers.json"
PEERS = ("confluent-batch", "raw-aiokafka", "raw-librdkafka", "faust-take", "quix", "jvm-consumer-perf")
PRODUCING = frozenset({"confluent-batch", "faust-take", "quix"})
COMMITTING = frozenset({"confluent-batch", "faust-take", "quix", "jvm-consumer-perf"})
RUN_TIMEOUT_S = 900.0
FIGURES = (
    "reads_per_s", "reads_per_s_delivered", "cpu_s_per_100k", "seconds", "seconds_delivered", "cpu_s_process",
    "max_rss_mb", "threads",
)  # fmt: skip


def quix_python() -> Path:
    return Path(os.environ.get("PEERS_VENV_DIR") or ROOT / ".venv-peers") / "quix" / "bin" / "python"


def quix_ready() -> bool:
    check = subprocess.run([str(HERE / "setup_venvs.sh"), "--check"], capture_output=True, check=False)
    return check.returncode == 0


# ---- the inputs: one topic of reads, the hotlist file, the expected hits -----------------------------


@dataclass(frozen=True)
class Inputs:
    topic: str
    reads: int
    hotlist_file: Path
    hotlist_plates: int
    expected_ids: tuple[str, ...]  # read ids of the expected hits, sorted
    mean_value_bytes: float

    @property
    def digest(self) -> str:
        return hashlib.sha256("\n".join(self.expected_ids).encode()).hexdigest()


async def make_inputs(clients: KafkaClients, settings: Settings, prefix: str, args: argparse.Namespace, workdir: Path,
                      ) -> Inputs:  # fmt: skip
    from streams.hotlists.index import HotlistIndex  # noqa: PLC0415
    from streams.policy.store import DEFAULT_POLICY, DEFAULT_REGISTRY, load_policy  # noqa: PLC0415
    from streams.sim.camera_feed import CameraFeed, FeedSettings  # noqa: PLC0415
    from streams.sim.synthetic import synthetic_hotlist  # noqa: PLC0415

    index = HotlistIndex()
    codes = synthetic_hotlist(index, args.entries, list_id="ncic")
    feed = CameraFeed(index, load_policy(DEFAULT_POLICY, DEFAULT_REGISTRY).registry,
                      FeedSettings(hit_rate=args.hit_rate, seed=5))  # fmt: skip
    topic = f"{prefix}plate-reads"
    await create_topics(clients, settings, [TopicSpec(topic, args.partitions, {})])
    producer = await clients.start(clients.producer(acks="all", max_batch_size=512 * 1024, linger_ms=5))
    values: list[bytes] = []
    try:
        for start in range(0, args.reads, 100_000):
            chunk = feed.batch(min(100_000, args.reads - start))
            values += [value for _, value in chunk]
            await send_keyed(producer, topic, chunk)
    finally:
        await producer.stop()
    return inputs_for(topic, values, codes, workdir)


def inputs_for(topic: str, values: Sequence[bytes], hotlist_codes: Any, workdir: Path) -> Inputs:
    """The peers' inputs for reads already on `topic`: the hotlist's plates in a file every peer loads
    into a set, and the read ids of the exact hits, computed with the project's normaliser."""
    from streams.plates.codes import codes_to_digits  # noqa: PLC0415
    from streams.sim.synthetic import plates_from_digits  # noqa: PLC0415

    plates = set(plates_from_digits(codes_to_digits(hotlist_codes)[0]))
    hotlist_file = workdir / "hotlist.txt"
    hotlist_file.write_text("\n".join(sorted(plates)) + "\n")
    expected: list[str] = []
    for value in values:
        read = orjson.loads(value)
        if listed_plate(read["plate"], plates) is not None:
            expected.append(read["read_id"])
    size = sum(len(v) for v in values)
    return Inputs(topic, len(values), hotlist_file, len(plates), tuple(sorted(expected)), size / max(len(values), 1))


# ---- one peer, in its own process ---------------------------------------------------------------------


def command(peer: str, bootstrap: str, inputs: Inputs, group: str, alerts_topic: str) -> list[str]:
    common = ["--bootstrap", bootstrap, "--topic", inputs.topic, "--reads", str(inputs.reads), "--group", group]
    outputs = [*common, "--hotlist", str(inputs.hotlist_file), "--alerts-topic", alerts_topic]
    python = [sys.executable, "-m"]
    return {
        "confluent-batch": [*python, "benchmarks.peers.confluent_batch", *outputs],
        "raw-aiokafka": [*python, "benchmarks.peers.raw_consume", "aiokafka", *common],
        "raw-librdkafka": [*python, "benchmarks.peers.raw_consume", "librdkafka", *common],
        "faust-take": [*python, "benchmarks.peers.faust_take", *outputs],
        "quix": [str(quix_python()), "-m", "benchmarks.peers.quix_app", *outputs],
        "jvm-consumer-perf": [*python, "benchmarks.peers.jvm_consumer_perf", *common],
    }[peer]


def spawn(argv: list[str], env: dict[str, str]) -> dict[str, Any]:
    """Run a peer; its JSON line, plus its whole process's CPU (start-up and children included). Peak
    memory comes from the peer itself: wait4's ru_maxrss keeps this process's size from before exec."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        began = time.perf_counter()
        proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=out, stderr=err)
        killer = threading.Timer(RUN_TIMEOUT_S, proc.kill)
        killer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            killer.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here: Popen must not wait again
        wall = time.perf_counter() - began
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(errors="replace"), err.read().decode(errors="replace")
    if proc.returncode != 0:
        raise RuntimeError(f"exit {proc.returncode}:\n{stderr[-4000:]}")
    result: dict[str, Any] = orjson.loads(stdout.strip().splitlines()[-1])
    return {
        **result,
        "cpu_s_process": usage.ru_utime + usage.ru_stime,
        "wall_s_process": wall,
    }


async def alert_ids_on(clients: KafkaClients, topic: str) -> list[str]:
    """The read ids of every alert on `topic`, read from the beginning to its end offsets."""
    consumer = await clients.start(clients.consumer(group_id=None, enable_auto_commit=False))
    ids: list[str] = []
    try:
        partitions = await clients.topic_partitions(topic, wait_s=10)
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        deadline = time.monotonic() + 60
        while [tp for tp, end in ends.items() if await consumer.position(tp) < end]:
            if time.monotonic() > deadline:
                raise TimeoutError(f"could not read back {topic}")
            for records in (await consumer.getmany(timeout_ms=200, max_records=10_000)).values():
                ids.extend(str(orjson.loads(r.value or b"{}").get("read_id")) for r in records)
    finally:
        await consumer.stop()
    return ids


async def committed(clients: KafkaClients, group: str, topic: str) -> int:
    """The sum of `group`'s committed offsets on `topic`."""
    admin = await clients.start(clients.admin())
    try:
        offsets = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    return sum(o.offset for tp, o in offsets.items() if tp.topic == topic and o.offset >= 0)


def verify(run: dict[str, Any], inputs: Inputs) -> list[str]:
    """What is wrong with a run's outputs ([] when nothing)."""
    peer, expect, hits = run["peer"], inputs.reads, len(inputs.expected_ids)
    problems = []
    if run["reads"] != expect:
        problems.append(f"{peer}: consumed {run['reads']:,} reads, not {expect:,}")
    if peer in PRODUCING:
        if not run["hits"] == run["alerts_acked"] == run["alerts_on_topic"] == hits:
            problems.append(f"{peer}: {run['hits']:,} hits, {run['alerts_acked']:,} alerts acknowledged, "
                            f"{run['alerts_on_topic']:,} on the topic; expected {hits:,}")  # fmt: skip
        if run["alerts_sha256"] != inputs.digest:
            problems.append(f"{peer}: the alerts on the topic are not one per expected hit (read ids differ)")
    if peer in COMMITTING and run["committed"] != expect:
        problems.append(f"{peer}: its group committed {run['committed']:,} offsets, not {expect:,}")
    return problems


async def measure(peer: str, round_: int, args: argparse.Namespace, clients: KafkaClients, settings: Settings,
                  prefix: str, inputs: Inputs) -> dict[str, Any]:  # fmt: skip
    group = f"{prefix}{peer}.{round_}"
    alerts_topic = f"{prefix}alerts.{peer}.{round_}"
    if peer in PRODUCING:
        await create_topics(clients, settings, [TopicSpec(alerts_topic, args.partitions, {})])
    env = dict(os.environ)
    if peer == "quix":
        env[QUIX_CONFIG_ENV] = orjson.dumps(clients.librdkafka_config()).decode()
    run = spawn(command(peer, args.bootstrap, inputs, group, alerts_topic), env)
    if peer in PRODUCING:
        ids = await alert_ids_on(clients, alerts_topic)
        run["alerts_on_topic"] = len(ids)
        run["alerts_sha256"] = hashlib.sha256("\n".join(sorted(ids)).encode()).hexdigest()
    if peer in COMMITTING:
        run["committed"] = await committed(clients, group, inputs.topic)
    return {**run, "round": round_, "load_average": os.getloadavg()[0]}


# ---- the benchmark --------------------------------------------------------------------------------------


def select(args: argparse.Namespace) -> tuple[list[str], dict[str, str]]:
    """The peers to run, and those left out with the reason (a smoke run never installs anything)."""
    wanted = [p.strip() for p in args.peers.split(",")] if args.peers else list(PEERS)
    unknown = [p for p in wanted if p not in PEERS]
    if unknown:
        raise SystemExit(f"unknown peers: {', '.join(unknown)} (known: {', '.join(PEERS)})")
    skipped: dict[str, str] = {}
    if "quix" in wanted and not quix_ready():
        if args.smoke:
            skipped["quix"] = "its virtualenv is not made (benchmarks/peers/setup_venvs.sh)"
        else:
            subprocess.run([str(HERE / "setup_venvs.sh")], check=True)
    if "jvm-consumer-perf" in wanted and args.smoke and not jvm_consumer_perf.ready():
        skipped["jvm-consumer-perf"] = "Java or Kafka's jars (broker and tools) are not in place"
    if (
        "jvm-consumer-perf" in wanted
        and build_settings({"bootstrap_servers": args.bootstrap}).security_protocol != "PLAINTEXT"
    ):
        skipped["jvm-consumer-perf"] = "it runs on a PLAINTEXT broker only (it passes no security settings)"
    return [p for p in wanted if p not in skipped], skipped


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    def spread(values: list[float]) -> dict[str, float]:
        return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}

    out: dict[str, Any] = {}
    for peer in PEERS:
        mine = [r for r in runs if r["peer"] == peer]
        if mine:
            out[peer] = {key: spread([r[key] for r in mine]) for key in FIGURES if all(r.get(key) is not None
                                                                                     for r in mine)}  # fmt: skip
    return out


def java_version() -> str | None:
    try:
        done = subprocess.run(["java", "-version"], capture_output=True, text=True, check=False)
    except OSError:
        return None
    return (done.stderr.splitlines() or [""])[0]


async def run_rounds(args: argparse.Namespace, clients: KafkaClients, settings: Settings, prefix: str, inputs: Inputs,
                     peers: list[str], runs: list[dict[str, Any]]) -> list[str]:  # fmt: skip
    """Every peer once a round, `args.rounds` rounds; each run joins `runs`. Returns what went wrong."""
    problems: list[str] = []
    for round_ in range(1, args.rounds + 1):
        for peer in peers:
            try:
                run = await measure(peer, round_, args, clients, settings, prefix, inputs)
            except Exception as exc:  # a peer that fails fails the run, after the others ran
                problems.append(f"{peer} (round {round_}) failed: {exc}")
                progress(f"round {round_} {peer:18} FAILED: {str(exc)[-2000:]}")
                continue
            runs.append(run)
            mine = verify(run, inputs)
            problems += mine
            progress(f"round {round_} {peer:18} {run['reads_per_s']:>10,.0f} reads/s processed "
                     f"{run['reads_per_s_delivered']:>10,.0f} delivered {run['cpu_s_per_100k']:6.3f} "
                     f"CPU-s/100k{'  OUTPUT WRONG' if mine else ''}")  # fmt: skip
    return problems


async def benchmark(args: argparse.Namespace) -> dict[str, Any]:
    peers, skipped = select(args)
    prefix = f"peers-{uuid.uuid4().hex[:8]}."
    settings = build_settings({"bootstrap_servers": args.bootstrap})
    clients = KafkaClients(settings)
    env = {**environment(), "java": java_version(), "platform": platform.platform()}
    runs: list[dict[str, Any]] = []
    problems: list[str] = []
    with tempfile.TemporaryDirectory(prefix="peers-") as workdir:
        try:  # the topics go whatever happens, a failed setup included
            progress(f"{args.reads:,} reads to {prefix}plate-reads ({args.partitions} partitions, "
                     f"hit rate {args.hit_rate}, {args.entries:,} hotlist entries)")  # fmt: skip
            inputs = await make_inputs(clients, settings, prefix, args, Path(workdir))
            progress(f"{len(inputs.expected_ids):,} exact hits expected; peers: {', '.join(peers)}"
                     + (f"; left out: {', '.join(skipped)}" if skipped else ""))  # fmt: skip
            problems += await run_rounds(args, clients, settings, prefix, inputs, peers, runs)
        finally:
            if not args.keep_topics:
                await delete_topics(clients, TopicNames.with_prefix(prefix))
    env["load_average_at_end"] = os.getloadavg()[0]
    return {
        "question": "how Platewatch's alternatives fare on the same reads: consume, exact hotlist match, alerts",
        "command": " ".join(["python -m benchmarks.peers.run", *sys.argv[1:]]),
        "environment": env,
        "parameters": {
            "reads": args.reads,
            "rounds": args.rounds,
            "partitions": args.partitions,
            "hit_rate_planted": args.hit_rate,
            "hotlist_entries": args.entries,
            "hotlist_plates": inputs.hotlist_plates,
            "expected_hits": len(inputs.expected_ids),
            "expected_hits_sha256": inputs.digest,
            "mean_value_bytes": inputs.mean_value_bytes,
            "peers": peers,
            "left_out": skipped,
            "order": "interleaved: each round runs " + ", ".join(peers) + ", one at a time, each a fresh process",
            "window": "first batch in hand -> last read processed, and -> last alert acknowledged; "
            "CPU of the peer's process over the window (to the last alert acknowledged)",
        },
        "outputs_verified": not problems,
        "problems": problems,
        "summary": summarize(runs),
        "runs": runs,
    }


def markdown(result: dict[str, Any]) -> str:
    def cell(figure: dict[str, float] | None, fmt: str) -> str:
        if not figure:
            return "–"
        if figure["n"] == 1:
            return format(figure["median"], fmt)
        return f"{figure['median']:{fmt}} ({figure['min']:{fmt}}–{figure['max']:{fmt}})"

    p = result["parameters"]
    failed = Counter(problem.split(":")[0].split(" (")[0] for problem in result["problems"])
    lines = [
        f"{p['reads']:,} reads, {p['rounds']} round(s), {p['expected_hits']:,} exact hits expected; "
        "median (min–max) over rounds",
        "",
        "| peer | reads/s to last read processed | reads/s to last alert delivered | CPU-s per 100k reads "
        "| process CPU-s (whole run) | peak RSS MB | outputs |",
        "|---|---|---|---|---|---|---|",
    ]
    for peer, s in result["summary"].items():
        outputs = "wrong" if failed[peer] else ("alerts checked" if peer in PRODUCING else "reads checked")
        lines.append(
            f"| {peer} | {cell(s.get('reads_per_s'), ',.0f')} | {cell(s.get('reads_per_s_delivered'), ',.0f')} "
            f"| {cell(s.get('cpu_s_per_100k'), '.3f')} | {cell(s.get('cpu_s_process'), '.2f')} "
            f"| {cell(s.get('max_rss_mb'), '.0f')} | {outputs} |"
        )
    for peer, reason in p["left_out"].items():
        lines.append(f"| {peer} | left out: {reason} | | | | | |")
    lines.append("")
    lines.append(
        "outputs verified" if result["outputs_verified"] else "OUTPUTS WRONG:\n- " + "\n- ".join(result["problems"])
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--bootstrap", default=os.environ.get("KAFKA_BOOTSTRAP", "127.0.0.1:9092"))
    parser.add_argument("--reads", type=int, default=300_000)
    parser.add_argument("--peers", help=f"comma-separated, of {', '.join(PEERS)} (default: all)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (every peer once a round)")
    parser.add_argument("--partitions", type=int, default=3)
    parser.add_argument("--hit-rate", type=float, default=0.01)
    parser.add_argument("--entries", type=int, default=1_000_000, help="synthetic NCIC hotlist entries")
    parser.add_argument("--out", type=Path, help=f"results (default {RESULTS.relative_to(ROOT)}; smoke: none)")
    smoke = "20,000 reads, one round, 50,000 entries; the peers that need set-up only if it is done"
    parser.add_argument("--smoke", action="store_true", help=smoke)
    parser.add_argument("--keep-topics", action="store_true")
    args = parser.parse_args(argv)
    if args.smoke:
        args.reads, args.rounds, args.entries = 20_000, 1, 50_000
    result = asyncio.run(benchmark(args))
    out = args.out or (None if args.smoke else RESULTS)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2) + b"\n")
    print(markdown(result))
    return 0 if result["outputs_verified"] else 1


if __name__ == "__main__":
    sys.exit(main())
