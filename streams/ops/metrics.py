"""Every Prometheus metric of a worker, built against a registry passed in (tests use a fresh one).

Names are in base units. Labels are bounded: list id, match kind, recipient ORI (registry-bounded),
reason enums, partition number. Never a plate.
"""

from __future__ import annotations

from collections import Counter as Tally
from typing import Any

import numpy as np
import numpy.typing as npt
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info, disable_created_metrics

from streams.pipeline.outputs import BatchResult

disable_created_metrics()  # type: ignore[no-untyped-call]  # the *_created series double the scrape size and nobody reads them

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
BATCH_BUCKETS = (1, 10, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 25000)


class PipelineMetrics:
    def __init__(self, registry: CollectorRegistry, prefix: str = "platewatch") -> None:
        p = prefix
        self.registry = registry
        self.reads = Counter(f"{p}_reads_consumed", "Plate reads consumed", registry=registry)
        self.batch_size = Histogram(
            f"{p}_batch_size_reads", "Reads per processed batch", buckets=BATCH_BUCKETS, registry=registry
        )
        self.batch_seconds = Histogram(
            f"{p}_batch_processing_seconds",
            "Time to process a batch, from receipt to acknowledged output",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.matches = Counter(f"{p}_matches", "Hotlist matches", ["list", "kind"], registry=registry)
        self.alerts = Counter(f"{p}_alerts_emitted", "Alerts sent, by recipient ORI", ["recipient"], registry=registry)
        self.decisions = Counter(f"{p}_share_decisions", "Share decisions", ["decision"], registry=registry)
        self.denied = Counter(
            f"{p}_shares_denied",
            "Shares denied, by deciding rule or fail-closed reason",
            ["reason"],
            registry=registry,
        )
        self.dead_letters = Counter(
            f"{p}_dead_letters",
            "Reads sent to the dead-letter topic, by reason",
            ["reason"],
            registry=registry,
        )
        self.latency = Histogram(
            f"{p}_read_to_alert_latency_seconds",
            "From a read to its acknowledged alert; clock=read_time (camera) or broker_append",
            ["clock"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        # both clocks exposed from the start, at zero: a series born with its first alert would have
        # that alert's increase missed by rate()
        self.read_clock = self.latency.labels("read_time")
        self.broker_clock = self.latency.labels("broker_append")
        self.hotlist_entries = Gauge(f"{p}_hotlist_entries", "Entries per hotlist", ["list"], registry=registry)
        self.hotlist_updates = Counter(
            f"{p}_hotlist_updates_applied", "Hotlist-update records applied", registry=registry
        )
        self.hotlist_rejected = Counter(
            f"{p}_hotlist_updates_rejected", "Hotlist-update records refused as malformed", registry=registry
        )
        self.hotlist_uncommitted = Gauge(
            f"{p}_hotlist_uncommitted_records",
            "hotlist-updates records of a load not committed yet; the previous list stays in force",
            registry=registry,
        )
        self.replica_ready = Gauge(
            f"{p}_hotlist_replica_ready",
            "1 once the hotlist replica has caught up with the topic",
            registry=registry,
        )
        self.lag = Gauge(
            f"{p}_consumer_lag_messages",
            "plate-reads messages not yet consumed",
            ["partition"],
            registry=registry,
        )
        self.rebalances = Counter(
            f"{p}_consumer_rebalances", "Partitions revoked from this worker by a group rebalance", registry=registry
        )
        self.commit_failures = Counter(
            f"{p}_offset_commit_failures",
            "Offset commits that failed (retried with the next commit)",
            registry=registry,
        )
        self.output_failures = Counter(
            f"{p}_output_failures",
            "Batches whose alerts, audit records or dead letters were not acknowledged; re-read",
            registry=registry,
        )
        self.transaction_aborts = Counter(
            f"{p}_transaction_aborts",
            "exactly_once: batch transactions aborted (outputs discarded, reads re-read), by reason",
            ["reason"],
            registry=registry,
        )
        self.produce_errors = Counter(
            f"{p}_produce_errors", "Outputs the broker refused or that timed out", registry=registry
        )
        self.transaction_retries = Counter(
            f"{p}_transaction_commit_retries",
            "exactly_once: transaction commits retried after a retriable error",
            registry=registry,
        )
        self.breaker_open = Gauge(
            f"{p}_circuit_breaker_open",
            "1 while consumption is paused because internal errors passed the threshold",
            registry=registry,
        )
        self.policy = Info(f"{p}_policy", "Sharing policy version in force", registry=registry)
        self.policy_refused = Counter(
            f"{p}_policy_reload_refused", "Policy or registry files refused on reload", registry=registry
        )
        self.topics_out_of_retention = Gauge(
            f"{p}_topics_out_of_retention_policy",
            "Topics whose retention the worker could not bring to the policy's, or could not check, at its "
            "last reconciliation (at start and after each policy reload)",
            registry=registry,
        )

    def observe_batch(self, result: BatchResult, seconds: float, now_ms: int) -> None:
        self.reads.inc(result.reads)
        self.batch_size.observe(result.reads)
        self.batch_seconds.observe(seconds)
        for (list_id, kind), n in result.matches.items():
            self.matches.labels(list_id, kind).inc(n)
        for decision, n in result.decisions.items():
            self.decisions.labels(decision).inc(n)
        for reason, n in result.denied.items():
            self.denied.labels(reason).inc(n)
        for reason, n in result.dlq_reasons.items():
            self.dead_letters.labels(reason).inc(n)
        if not result.emitted:
            return
        recipients, read_ms, broker_ms = zip(*result.emitted, strict=True)
        for recipient, n in Tally(recipients).items():
            self.alerts.labels(recipient).inc(n)
        read_age = (now_ms - np.array(read_ms, np.float64)) / 1000
        observe_many(self.read_clock, np.maximum(read_age, 0.0))
        appended = np.array(broker_ms, np.float64)
        broker_age = (now_ms - appended[appended > 0]) / 1000
        observe_many(self.broker_clock, np.maximum(broker_age, 0.0))

    def set_policy(self, version: str) -> None:
        self.policy.info({"version": version})


def observe_many(histogram: Any, values: npt.NDArray[np.float64]) -> None:
    """`histogram.observe(v)` for each of `values`, each bucket's count added once: a batch's alerts
    are about a thousand at saturation, and one observation walks the buckets in Python (1-2 µs).
    It writes the buckets and sum that `observe` writes (prometheus_client's own attributes; a test
    checks that the exposition is the same as observing one at a time)."""
    if not len(values):
        return
    bounds = histogram._upper_bounds  # ascending, the last +Inf: a value goes to the first bound >= it
    counts = np.bincount(np.searchsorted(bounds, values, side="left"), minlength=len(bounds))
    for bucket, n in zip(histogram._buckets, counts.tolist(), strict=True):
        if n:
            bucket.inc(n)
    histogram._sum.inc(float(values.sum()))
