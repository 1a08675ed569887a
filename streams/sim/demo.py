"""`platewatch demo`: the whole pipeline in one process, on embedded defaults, with no server to install.

A simulated camera network feeds reads through the same Pipeline the Kafka worker runs; alerts are
printed the way a dispatcher reads them, denied shares are summarised, and /metrics is served.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import time
from collections import Counter
from typing import TextIO

from prometheus_client import CollectorRegistry, start_http_server

from streams.hotlists.index import HotlistIndex
from streams.hotlists.model import MatchKind
from streams.ops.metrics import PipelineMetrics
from streams.pipeline.batch import Pipeline, SimulatedRecord
from streams.pipeline.outputs import BatchResult
from streams.policy.jurisdiction_filter import SharingPolicy
from streams.policy.store import PolicyStore
from streams.sim.camera_feed import CameraFeed, FeedSettings
from streams.sim.sample_hotlists import load_sample_hotlists


class DispatchConsole:
    """Alerts as a dispatcher reads them, plus the running picture of what was held back."""

    def __init__(self, out: TextIO, max_shown: int) -> None:
        self.out = out
        self.max_shown = max_shown
        self.shown = 0
        self.hits = 0
        self.alerts = 0
        self.reads = 0
        self.dead = Counter[str]()
        self.denied = Counter[str]()
        self.denied_to = Counter[str]()

    def show(self, result: BatchResult) -> None:
        self.reads += result.reads
        self.alerts += len(result.alerts)
        self.dead.update(result.dlq_reasons)
        self.denied.update(result.denied)
        sent_to: dict[tuple[str, str], list[str]] = {}
        for read, hit, recipient in result.sent:
            sent_to.setdefault((read.read_id, hit.entry.list_id), []).append(recipient)
        held: dict[tuple[str, str], list[str]] = {}
        for read, hit, recipient, rule in result.denied_shares:
            held.setdefault((read.read_id, hit.entry.list_id), []).append(f"{recipient} ({rule})")
            self.denied_to[rule] += 1
        for read, hit in result.hits:
            self.hits += 1
            if self.shown >= self.max_shown:
                continue
            self.shown += 1
            e = hit.entry
            when = time.strftime("%H:%M:%S", time.localtime(read.time_ms / 1000))
            kind = (
                "EXACT"
                if hit.kind is MatchKind.EXACT
                else (
                    f"LOOK-ALIKE MATCH - VERIFY VISUALLY (read {hit.matched_plate}, listed {e.plate}, "
                    f"position {', '.join(str(p + 1) for p in hit.differing_positions)})"
                )
            )
            state = f"  WRONG STATE (read {read.plate_state or '?'}, listed {e.state})" if hit.state_mismatch else ""
            vehicle = " ".join(v for v in (e.vehicle.year, e.vehicle.colour, e.vehicle.make, e.vehicle.model) if v)
            label = (e.category or e.list_id).upper()
            self.out.write(
                f"[{when}] P{hit.priority:<3} {label:<18} {e.plate:<8} {e.state or '--'}  {kind}{state}\n"
                f"           camera {read.camera_id}  list {e.list_id}  case {e.case_number or '-'}"
                f"  {vehicle}\n"
            )
            key = (read.read_id, e.list_id)
            self.out.write(f"           alert sent to: {', '.join(sent_to.get(key, [])) or 'nobody'}\n")
            if key in held:
                self.out.write(f"           withheld from: {', '.join(held[key])}\n")
        if self.shown == self.max_shown and result.hits:
            self.out.write(
                f"           (further alerts are counted, not printed: --max-alerts-shown {self.max_shown})\n"
            )
            self.shown += 1

    def summary(self, elapsed: float, final: bool = False) -> str:
        head = "SUMMARY" if final else "so far"
        denied = ", ".join(f"{rule} {n}" for rule, n in self.denied_to.most_common()) or "none"
        dead = ", ".join(f"{r} {n}" for r, n in self.dead.most_common()) or "none"
        return (
            f"--- {head}: {self.reads} reads in {elapsed:.1f}s ({self.reads / max(elapsed, 1e-9):,.0f}/s), "
            f"{self.hits} hits, {self.alerts} alerts sent; shares denied: {denied}; dead letters: {dead}\n"
        )


async def run_demo(args: argparse.Namespace, out: TextIO) -> int:
    registry = CollectorRegistry()
    metrics = PipelineMetrics(registry)
    out.write(f"platewatch demo: loading hotlists ({args.hotlist_size:,} synthetic NCIC entries, AMBER, BOLO)...\n")
    index = HotlistIndex()
    load_sample_hotlists(index, args.hotlist_size)
    for s in index.stats():
        metrics.hotlist_entries.labels(s.info.list_id).set(s.entries)
    store = PolicyStore(on_refused=lambda _: metrics.policy_refused.inc())
    policy = store.current
    if not isinstance(policy, SharingPolicy):
        out.write("platewatch demo: the embedded policy did not load\n")
        return 1
    metrics.set_policy(policy.version)
    out.write(f"policy version {policy.version}: {', '.join(f'{k}→{v}' for k, v in policy.jurisdictions.items())}\n")
    if args.metrics_port:
        try:
            start_http_server(args.metrics_port, addr="127.0.0.1", registry=registry)
            out.write(f"metrics: http://127.0.0.1:{args.metrics_port}/metrics\n")
        except OSError as exc:
            out.write(f"metrics not served (port {args.metrics_port}: {exc})\n")
    feed = CameraFeed(index, policy.registry, FeedSettings(hit_rate=args.hit_rate, bad_rate=args.bad_rate, seed=11))
    pipeline = Pipeline(index, lambda: store.current)
    console = DispatchConsole(out, args.max_alerts_shown)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    out.write(f"simulating {args.rate:,} reads/s for {args.seconds:.0f}s (Ctrl-C stops)\n\n")
    started = time.monotonic()
    tick = 0.1
    next_summary = started + 5
    offset = 0
    while not stop.is_set() and time.monotonic() - started < args.seconds:
        t0 = time.monotonic()
        messages = feed.batch(max(1, int(args.rate * tick)))
        now_ms = int(time.time() * 1000)
        records = [SimulatedRecord(v, k, "plate-reads", 0, offset + i, now_ms) for i, (k, v) in enumerate(messages)]
        offset += len(records)
        store.maybe_reload()
        result = pipeline.process(records)
        metrics.observe_batch(result, time.monotonic() - t0, int(time.time() * 1000))
        console.show(result)
        if time.monotonic() >= next_summary:
            out.write(console.summary(time.monotonic() - started))
            next_summary += 5
        out.flush()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), max(0.0, tick - (time.monotonic() - t0)))
    out.write("\n" + console.summary(time.monotonic() - started, final=True))
    return 0
