"""`make chaos`: faults injected into two workers on a three-broker cluster, checked from the outside.

    .venv/bin/python -m chaos.run                              # every scenario, both guarantees
    .venv/bin/python -m chaos.run --short                      # CI: worker SIGKILL, zombie, poison pills
                                                               # exactly once, worker SIGKILL at least once
    .venv/bin/python -m chaos.run --scenarios broker_kill --guarantees exactly_once

The cluster (replication 3, min.insync.replicas 2, acks=all) is started by deploy/kafka/kafka.sh in its
own directory and stopped at the end. Each scenario gets fresh topics (its own prefix), two workers
(dynamic members: a stopped worker's partitions move at once), and reads at a fixed rate; the fault
comes a few seconds in.
The checker (chaos/checker.py) computes what must appear from the inputs with the core library and
reports, per kind (alerts, audit records, dead letters), lost / duplicated / unexpected, the longest
time without alerts after the fault and the longest a read waited for its alert. Results:
benchmarks/results/chaos/<scenario>-<guarantee>.json and .png, and chaos.json with every run.

Exit status 1 when a scenario fails: under exactly_once any loss, duplicate or unexpected record, or a
read→alert wait above the scenario's target; under at_least_once any loss (duplicates are reported).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from chaos import checker, scenarios
from chaos.cluster import BOOTSTRAP, Cluster
from chaos.report import plot, table
from chaos.workload import Workload, publish_hotlists, sample_index, write_registry
from streams.kafka.clients import KafkaClients
from streams.kafka.topic_setup import create_topics, topic_specs
from streams.ops.settings import Settings
from streams.pipeline.topics import TopicNames
from streams.policy.store import DEFAULT_POLICY, load_policy
from streams.sim.worker_child import WorkerChild

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "chaos"
GUARANTEES = ("exactly_once", "at_least_once")
SHORT = ("worker_kill", "worker_zombie", "poison_pills")  # exactly once
SHORT_AT_LEAST_ONCE = [("worker_kill", "at_least_once")]


class ChaosWorker(WorkerChild):
    def signal(self, sig: signal.Signals) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def kill(self) -> None:
        self.signal(signal.SIGKILL)
        assert self.proc is not None
        self.proc.wait(10)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def metric(self, name: str) -> float:
        """The sum of the samples called `name` (the family's name plus a suffix for counters)."""
        _, body = self.get("/metrics")
        return sum(s.value for f in text_string_to_metric_families(body.decode()) for s in f.samples if s.name == name)

    def policy_version(self) -> str:
        try:
            _, body = self.get("/readyz")
        except OSError:
            return ""
        return str(json.loads(body).get("policy_version", ""))


class Run:
    """One scenario under one guarantee: its deployment, inputs and fault."""

    def __init__(self, scenario: scenarios.Scenario, guarantee: str, cluster: Cluster, work: Path, rate: int) -> None:
        self.scenario, self.guarantee, self.cluster = scenario, guarantee, cluster
        self.prefix = f"chaos-{scenario.name.replace('_', '-')}-{guarantee[:3]}-{uuid.uuid4().hex[:6]}."
        self.work = work / self.prefix.rstrip(".")
        self.work.mkdir(parents=True)
        self.registry_file = write_registry(self.work / "agencies.yaml", with_added=False)
        self.settings = Settings(
            bootstrap_servers=BOOTSTRAP, topic_prefix=self.prefix, group_id=f"{self.prefix}reads",  # as WorkerChild
            replication_factor=3, read_partitions=6,
            registry_file=self.registry_file, processing_guarantee=guarantee,
        )  # fmt: skip
        self.clients = KafkaClients(self.settings)
        self.names = TopicNames.with_prefix(self.prefix)
        self.policies = [load_policy(DEFAULT_POLICY, self.registry_file)]
        self.policy_since: list[int] = [0]  # ms from which each policy is in force for new reads
        self.index = sample_index()
        self.workload = Workload(
            self.index, self.policies[0].registry, self.names, rate,
            poison_rate=scenario.poison_rate, decoys=scenario.decoys,
        )  # fmt: skip
        self.workers: dict[int, ChaosWorker] = {}
        self.notes: dict[str, Any] = {}

    def worker(self, n: int) -> ChaosWorker:
        w = ChaosWorker(
            BOOTSTRAP, self.prefix, self.work / f"worker{n}.log",
            "--registry-file", str(self.registry_file), "--replication-factor", "3",
            "--processing-guarantee", self.guarantee,
        )  # fmt: skip
        self.workers[n] = w
        return w

    async def start_worker(self, n: int) -> ChaosWorker:
        w = self.worker(n).start(env={**os.environ, "PYTHONUNBUFFERED": "1"})
        await w.wait_ready(120)
        assert isinstance(w, ChaosWorker)
        return w

    async def setup(self) -> None:
        await create_topics(self.clients, self.settings, topic_specs(self.settings, self.names, self.policies[0]))
        await publish_hotlists(self.clients, self.index, self.names)
        await asyncio.gather(*(self.start_worker(n) for n in range(1, self.scenario.workers_at_start + 1)))
        await self.group_stable(self.scenario.workers_at_start)

    async def group_stable(self, members: int, timeout: float = 60) -> None:
        """Every worker has joined and the group has settled: no rebalance inside the measured window."""
        from confluent_kafka import ConsumerGroupState, KafkaException  # noqa: PLC0415

        admin = self.clients.rdkafka_admin()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            future = admin.describe_consumer_groups([self.settings.group_id])[self.settings.group_id]
            try:
                group = await asyncio.to_thread(future.result)
            except KafkaException:  # the group coordinator still loading (NOT_COORDINATOR): ask again
                group = None
            if group is not None and group.state == ConsumerGroupState.STABLE and len(group.members) == members:
                return
            await asyncio.sleep(0.25)
        raise TimeoutError(f"group {self.settings.group_id} not stable with {members} members in {timeout:g}s")

    def policy_at(self, timestamp_ms: int) -> Any:
        chosen = self.policies[0]
        for policy, since in zip(self.policies, self.policy_since, strict=True):
            if timestamp_ms >= since:
                chosen = policy
        return chosen

    async def expected(self) -> checker.Expected:
        policy = self.policies[-1]
        reads = await checker.read_all(self.clients, [self.names.reads_for(a.ori) for a in policy.registry])
        return checker.expected_outputs(self.index, self.names, reads, self.policy_at)

    async def found(self) -> checker.Found:
        policy = self.policies[-1]
        alerts = await checker.read_all(self.clients, [self.names.alerts(a.ori) for a in policy.registry])
        audits = await checker.read_all(self.clients, [self.names.share_audit])
        dlq = await checker.read_all(self.clients, [self.names.dlq])
        return checker.found_outputs(alerts, audits, dlq)

    async def drained(self, timeout: float) -> tuple[checker.Expected, checker.Found, bool]:
        """Wait until everything expected has appeared (or `timeout`), then a little longer for late
        duplicates; the last look is the result."""
        expected = await self.expected()
        deadline = time.monotonic() + timeout
        while True:
            found = await self.found()
            if checker.complete(expected, found) or time.monotonic() > deadline:
                break
            await asyncio.sleep(1)
        await asyncio.sleep(2)
        return expected, await self.found(), checker.complete(expected, found)

    async def execute(self, pre_s: float, post_s: float) -> dict[str, Any]:
        await self.setup()
        await self.workload.produce(self.clients, pre_s)
        if self.scenario.drain_before_fault:
            await self.drained(60)
        fault_ms = int(time.time() * 1000)
        fault = asyncio.ensure_future(self.scenario.fault(self))
        if self.scenario.blocking_fault:
            await fault
        await self.workload.produce(self.clients, post_s)
        end_ms = int(time.time() * 1000)
        await fault
        expected, found, complete = await self.drained(120)
        exits: dict[str, int | None] = {}
        for n, w in self.workers.items():
            if w.alive():
                exits[f"w{n}"] = w.terminate()
            else:
                exits[f"w{n}"] = w.proc.returncode if w.proc else None
        # the last look comes after the workers have stopped: a batch committed while shutting down,
        # or a late duplicate, is counted too
        found = await self.found()
        counts = checker.compare(expected, found)
        timing = checker.timing(expected, found, fault_ms, end_ms)
        return {
            "scenario": self.scenario.name,
            "guarantee": self.guarantee,
            "fault": self.scenario.description,
            "target_s": self.scenario.target_s,
            "reads_sent": self.workload.sent,
            "reads_send_failed": self.workload.failed,
            "reads_in_topics": expected.reads,
            "complete": complete,
            "counts": counts,
            **timing,
            "worker_exit_codes": exits,
            "notes": self.notes,
            "prefix": self.prefix,
        }


def broken(run: Run, exc: Exception) -> dict[str, Any]:
    """A run whose harness raised: no counts, one failure naming the exception."""
    empty = {"expected": 0, "found": 0, "lost": 0, "duplicated": 0, "unexpected": 0}
    return {
        "scenario": run.scenario.name, "guarantee": run.guarantee, "fault": run.scenario.description,
        "target_s": run.scenario.target_s, "complete": False,
        "counts": {k: dict(empty) for k in ("alerts", "audits", "dead_letters")},
        "longest_gap_s": 0.0, "max_read_to_alert_s": 0.0, "alerts_per_second": [],
        "notes": {**run.notes, "checks": {f"the run completed ({type(exc).__name__}: {exc})": False}},
        "prefix": run.prefix,
    }  # fmt: skip


def verdict(result: dict[str, Any]) -> list[str]:
    """Why a run fails (empty when it passes)."""
    why = []
    for kind, c in result["counts"].items():
        if c["lost"]:
            why.append(f"{c['lost']} {kind} lost")
        if result["guarantee"] == "exactly_once" and (c["duplicated"] or c["unexpected"]):
            why.append(f"{c['duplicated']} {kind} duplicated, {c['unexpected']} unexpected")
    target = result["target_s"]
    if result["guarantee"] == "exactly_once" and target is not None and result["max_read_to_alert_s"] > target:
        why.append(f"a read waited {result['max_read_to_alert_s']:.1f}s for its alert (target {target:g}s)")
    for check, ok in result["notes"].get("checks", {}).items():
        if not ok:
            why.append(f"check failed: {check}")
    return why


async def main_async(args: argparse.Namespace) -> int:
    chosen = args.scenarios.split(",") if args.scenarios else list(SHORT if args.short else scenarios.ALL)
    guarantees = args.guarantees.split(",") if args.guarantees else (["exactly_once"] if args.short else GUARANTEES)
    runs = [(name, g) for name in chosen for g in guarantees]
    if args.short and not args.scenarios and not args.guarantees:
        runs = [(name, "exactly_once") for name in SHORT] + SHORT_AT_LEAST_ONCE
    unknown = set(chosen) - set(scenarios.ALL)
    if unknown:
        print(f"chaos: unknown scenario(s) {', '.join(sorted(unknown))}; choose from {', '.join(scenarios.ALL)}")
        return 2
    pre_s, post_s = (4.0, 12.0) if args.short else (6.0, 20.0)
    results_dir = Path(args.results)
    work = Path(tempfile.mkdtemp(prefix="platewatch-chaos-"))
    cluster = Cluster(Path(args.kafka_dir) if args.kafka_dir else work / "kafka")
    results: list[dict[str, Any]] = []
    failed = False
    t0 = time.monotonic()
    if not args.keep_cluster:
        print("chaos: starting the three-node cluster", flush=True)
        cluster.up()
        print(f"chaos: cluster up in {time.monotonic() - t0:.1f}s (work dir {work})", flush=True)
    try:
        for name, guarantee in runs:
            started = time.monotonic()
            run = Run(scenarios.ALL[name], guarantee, cluster, work, args.rate)
            try:
                result = await run.execute(pre_s, post_s)
            except Exception as exc:  # the harness itself failed: reported, and the suite goes on
                result = broken(run, exc)
            finally:
                for w in run.workers.values():
                    if w.alive():
                        with contextlib.suppress(Exception):
                            w.kill()
                cluster.up()  # a scenario that stopped nodes leaves the next a whole cluster
            result["seconds"] = round(time.monotonic() - started, 1)
            result["failures"] = verdict(result)
            failed |= bool(result["failures"])
            results.append(result)
            stem = results_dir / f"{name}-{guarantee}"
            stem.with_suffix(".json").write_text(json.dumps(result, indent=2))
            plot(result, stem.with_suffix(".png"))
            print(table([result], header=not results[:-1]), flush=True)
    finally:
        if not args.keep_cluster:
            cluster.down()
    (results_dir / "chaos.json").write_text(json.dumps({"runs": results, "rate": args.rate}, indent=2))
    (results_dir / "chaos.md").write_text(table(results) + "\n")
    print(f"\nchaos: {len(results)} runs in {time.monotonic() - t0:.0f}s; results in {results_dir}")
    for r in results:
        if r["failures"]:
            print(f"FAILED {r['scenario']} ({r['guarantee']}): {'; '.join(r['failures'])}")
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chaos.run", description=__doc__.split("\n")[0])
    parser.add_argument("--scenarios", help=f"comma-separated, from: {', '.join(scenarios.ALL)}")
    parser.add_argument("--guarantees", help="comma-separated: exactly_once,at_least_once")
    parser.add_argument(
        "--short", action="store_true", help="the CI version: three scenarios exactly once, worker_kill at least once"
    )
    parser.add_argument("--rate", type=int, default=400, help="reads per second")
    parser.add_argument("--results", default=str(RESULTS), help=f"where the results go (default {RESULTS})")
    parser.add_argument("--kafka-dir", help="the cluster's directory (default: a new temporary one)")
    parser.add_argument("--keep-cluster", action="store_true", help="use a cluster already running; leave it up")
    args = parser.parse_args(argv)
    Path(args.results).mkdir(parents=True, exist_ok=True)
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    sys.exit(main())
