"""Every Prometheus metric of the audit sink (`platewatch audit sink`), built against a registry passed in.

Labels are bounded: the audit store's table names, the kind of record (decision, count, access), and
topic/partition of the audited topics (one alert topic per registered agency).
"""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from streams.ops.metrics import LATENCY_BUCKETS


class AuditSinkMetrics:
    def __init__(self, registry: CollectorRegistry, prefix: str = "platewatch_audit_sink") -> None:
        p = prefix
        self.registry = registry
        self.records = Counter(f"{p}_records_consumed", "Records consumed from the audited topics", registry=registry)
        self.rows_stored = Counter(
            f"{p}_rows_stored", "Rows newly stored in the audit store, by table", ["table"], registry=registry
        )
        self.rows_duplicate = Counter(
            f"{p}_rows_duplicate",
            "Rows already in the store (a replay or a re-sent record), by table: stored once",
            ["table"],
            registry=registry,
        )
        self.unreadable = Counter(
            f"{p}_records_unreadable",
            "Records that are not what their topic says (kept whole in unreadable_records), by kind",
            ["kind"],
            registry=registry,
        )
        self.batch_seconds = Histogram(
            f"{p}_batch_seconds",
            "Time to store a batch and commit its offsets",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.store_failures = Counter(
            f"{p}_store_failures", "Batches the audit store did not take; retried, offsets not committed",
            registry=registry,
        )  # fmt: skip
        self.commit_failures = Counter(
            f"{p}_commit_failures",
            "Offset commits refused after the rows were stored; the records come again and are stored once",
            registry=registry,
        )
        self.lag = Gauge(
            f"{p}_consumer_lag_messages",
            "Records of the audited topics not yet stored, by topic/partition",
            ["partition"],
            registry=registry,
        )
        self.last_stored = Gauge(
            f"{p}_last_store_timestamp_seconds", "When a batch was last stored (Unix time)", registry=registry
        )
        self.ready = Gauge(
            f"{p}_ready", "1 while records are consumed and the audit store takes them", registry=registry
        )

    def observe_batch(
        self,
        records: int,
        stored: Mapping[str, int],
        duplicates: Mapping[str, int],
        unreadable: Mapping[str, int],
        seconds: float,
        now_s: float,
    ) -> None:
        self.records.inc(records)
        for table, n in stored.items():
            self.rows_stored.labels(table).inc(n)
        for table, n in duplicates.items():
            self.rows_duplicate.labels(table).inc(n)
        for kind, n in unreadable.items():
            self.unreadable.labels(kind).inc(n)
        self.batch_seconds.observe(seconds)
        self.last_stored.set(now_s)
