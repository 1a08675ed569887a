"""`platewatch worker`: one process that holds a hotlist replica and runs the hot path on Kafka.

Lifecycle, in order: the HTTP endpoints start first (so `/healthz` answers while Kafka is still
unreachable); the clients connect, retrying with backoff for as long as it takes and logging once per
interval; alert topics are ensured; the hotlist replica catches up; then reads are processed. SIGTERM
or SIGINT finishes the batch in hand, commits, leaves the consumer group and exits 0; a fatal error
exits 1 after the same clean shutdown. The worker never exits because Kafka is down.

`/readyz` answers 200 only when reads are being processed, else 503 with the reason (Kafka
unreachable, topic missing, replica catching up, no valid policy). Why a plain asyncio process and not
a faust app: docs/performance.md ("The worker's frame").

Retention: once connected, and after every policy reload, the worker brings the retention of every
topic holding reads or alerts to the policy's (streams/kafka/retention.py) in the background. A
failure is logged and counted in `platewatch_topics_out_of_retention_policy`, never fatal.
"""

from __future__ import annotations

import asyncio
import contextlib
import faulthandler
import logging
import signal
import time
from collections.abc import Awaitable, Callable
from typing import Any

from prometheus_client import CollectorRegistry

from streams.errors import EXIT_NO, EXIT_OK, ConfigurationError, PlatewatchError
from streams.hotlists.index import HotlistIndex
from streams.kafka.at_least_once_processor import AtLeastOnceProcessor
from streams.kafka.clients import KafkaClients
from streams.kafka.hotlist_replica import HotlistReplica
from streams.kafka.http_endpoints import start_endpoints
from streams.kafka.retention import reconcile_retention
from streams.kafka.topic_setup import agency_topic_specs, create_topics
from streams.kafka.transactional_processor import TransactionalReadProcessor
from streams.ops.memory import release_free_memory_every
from streams.ops.metrics import PipelineMetrics
from streams.ops.settings import Settings
from streams.pipeline.batch import Pipeline
from streams.pipeline.topic_retention import plan_retention
from streams.pipeline.topics import TopicNames
from streams.policy.config_files import ConfigFileError
from streams.policy.jurisdiction_filter import SharingPolicy
from streams.policy.store import PolicyStore

log = logging.getLogger(__name__)

UNREACHABLE_LOG_EVERY_S = 30.0


class PlatewatchWorker:
    """Everything one worker process holds, assembled from its settings."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.connected = False  # from then on, a policy reload ensures topics and reconciles retention
        self._reconciling = asyncio.Lock()
        self._background: set[asyncio.Task[None]] = set()
        self.clients = KafkaClients(settings)
        self.names = TopicNames.with_prefix(settings.topic_prefix)
        self.registry = CollectorRegistry()
        self.metrics = PipelineMetrics(self.registry)
        self.index = HotlistIndex()
        self.store = PolicyStore(
            settings.policy_file,
            settings.registry_file,
            on_refused=self._policy_refused,
            on_loaded=self._policy_loaded,
        )
        self.replica = HotlistReplica(self.clients, self.names.hotlist_updates, self.index, self._hotlist_applied)
        self.pipeline = Pipeline(self.index, lambda: self.store.current, self.names)
        processor = (
            TransactionalReadProcessor if settings.processing_guarantee == "exactly_once" else AtLeastOnceProcessor
        )
        self.processor: AtLeastOnceProcessor | TransactionalReadProcessor = processor(
            settings, self.clients, self.names, self.pipeline, self.metrics, self.replica
        )
        self.waiting_for = "starting"  # why the worker is not processing yet

    def _policy_loaded(self, policy: SharingPolicy) -> None:
        self.metrics.set_policy(policy.version)
        if self.connected:  # a reload (the first version is handled once connected)
            self._spawn(self._after_reload())

    def _spawn(self, work: Awaitable[None]) -> None:
        task = asyncio.ensure_future(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _after_reload(self) -> None:
        try:
            await self.ensure_agency_topics()
        except Exception as exc:
            log.warning("agency topics could not be ensured after the policy reload: %s", exc)
        await self.reconcile_retention()

    async def reconcile_retention(self) -> None:
        """Bring every topic's retention to the policy in force; failures are logged, never raised."""
        async with self._reconciling:
            policy = self.store.current
            if not isinstance(policy, SharingPolicy):
                return
            single_topic = self.settings.ingest == "single_topic"
            try:
                remaining = await reconcile_retention(self.clients, self.names, policy, single_topic=single_topic)
            except Exception as exc:  # not checked, so none is known to follow the policy
                log.error("retention could not be reconciled (%s: %s); retried at the next policy reload",
                          type(exc).__name__, exc)  # fmt: skip
                remaining = len(plan_retention(policy, self.names, single_topic=single_topic))
            self.metrics.topics_out_of_retention.set(remaining)

    async def background_idle(self) -> None:
        """Wait for the background work in hand (topics and retention after a reload) to finish."""
        while self._background:
            await asyncio.gather(*self._background, return_exceptions=True)

    async def stop_background(self) -> None:
        for task in list(self._background):
            task.cancel()
        for task in list(self._background):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def watch_policy(self) -> None:
        """Look for a changed policy or registry every `policy_check_seconds`, whether reads arrive or
        not: an agency removed stops receiving at once, one added gets its topics before its first alert."""
        while True:
            await asyncio.sleep(self.settings.policy_check_seconds)
            self.store.maybe_reload()

    def _policy_refused(self, exc: ConfigFileError) -> None:
        self.metrics.policy_refused.inc()

    def _hotlist_applied(self, applied: int, rejected: int) -> None:
        self.metrics.hotlist_updates.inc(applied)
        self.metrics.hotlist_rejected.inc(rejected)
        self.metrics.replica_ready.set(1 if self.replica.caught_up.is_set() else 0)
        self.metrics.hotlist_uncommitted.set(self.replica.uncommitted_records)
        for s in self.index.stats():
            self.metrics.hotlist_entries.labels(s.info.list_id).set(s.entries)

    @property
    def not_ready_because(self) -> str | None:
        """None when reads are being processed; else why not."""
        if not isinstance(self.store.current, SharingPolicy):
            return "no valid sharing policy loaded"
        if not self.processor.consuming:
            return self.waiting_for
        if self.processor.broker_lost is not None:
            return self.processor.broker_lost
        if self.processor.breaker.tripped:
            return f"circuit breaker open, consumption paused: {self.processor.breaker.reason}"
        return None

    async def ensure_agency_topics(self) -> None:
        """Every registered agency's input and alert topics exist (at start and after a reload)."""
        policy = self.store.current
        if not isinstance(policy, SharingPolicy):
            return
        specs = agency_topic_specs(self.settings, self.names, policy)
        created, _ = await create_topics(self.clients, self.settings, specs)
        if created:
            log.info("created %d agency topics", len(created))

    async def connect(self, stop: asyncio.Event) -> bool:
        """Connect every client, retrying while Kafka is unreachable; False when stopped first."""
        steps: list[tuple[str, Callable[[], Awaitable[None]]]] = [
            (f"Kafka at {self.settings.bootstrap_servers} unreachable", self.processor.connect),
            (f"Kafka at {self.settings.bootstrap_servers} unreachable", self.replica.connect),
            ("agency topics could not be checked", self.ensure_agency_topics),
            (f"topic {self.names.hotlist_updates} missing: run `platewatch topics create`", self.replica.find_topic),
        ]
        for reason, step in steps:
            if not await _until_done(step, reason, stop, self):
                return False
        self.waiting_for = "hotlist replica catching up"
        self.connected = True
        self._spawn(self.reconcile_retention())
        return True


async def _until_done(
    step: Callable[[], Awaitable[None]], reason: str, stop: asyncio.Event, w: PlatewatchWorker
) -> bool:
    """Retry `step` with backoff until it succeeds (True) or the worker is stopped (False)."""
    backoff, first_failure, last_log = 0.2, 0.0, 0.0
    while not stop.is_set():
        try:
            await step()
            if first_failure:
                log.info("%s for %.0fs; now resolved", reason, time.monotonic() - first_failure)
            return True
        except ConfigurationError:
            raise  # a setting that cannot work (a TLS file, a password file): waiting will not fix it
        except Exception as exc:
            now = time.monotonic()
            first_failure = first_failure or now
            # the broker's own answer when there is one (credentials refused, access denied)
            why = exc.one_line() if isinstance(exc, PlatewatchError) and "unreachable" not in str(exc) else ""
            w.waiting_for = f"{reason}: {why}" if why else reason
            if now - last_log >= UNREACHABLE_LOG_EVERY_S:
                log.warning("%s (%s); retrying", w.waiting_for, type(exc).__name__)
                last_log = now
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), backoff)
        backoff = min(backoff * 2, 2.0)
    return False


def readiness(worker: PlatewatchWorker) -> tuple[str | None, dict[str, Any]]:
    """Why the worker is not ready (None when it is), and what /readyz reports beside it."""
    return worker.not_ready_because, {
        "hotlist_replica_caught_up": worker.replica.caught_up.is_set(),
        "hotlist_entries": len(worker.index),
        "hotlist_catch_up_seconds": worker.replica.catch_up_seconds,
        "hotlist_records_replayed": worker.replica.records_replayed,
        "hotlist_uncommitted_records": worker.replica.uncommitted_records,
        "policy_version": worker.store.current.version,
    }


async def serve(worker: PlatewatchWorker, stop: asyncio.Event) -> int:
    """Run the worker until `stop` is set or a task fails; returns the exit status."""
    s = worker.settings
    runner = await start_endpoints(worker.registry, lambda: readiness(worker), s.web_host, s.web_port, "worker")
    status = EXIT_OK
    tasks: list[asyncio.Task[None]] = []
    try:
        try:
            connected = await worker.connect(stop)
        except ConfigurationError as exc:
            log.error("%s", exc.one_line())
            return exc.exit_code  # the finally below still shuts down cleanly
        if connected:
            tasks = [
                asyncio.create_task(worker.replica.run()),
                asyncio.create_task(worker.processor.run()),
                asyncio.create_task(worker.watch_policy()),
                asyncio.create_task(release_free_memory_every(worker.replica.caught_up)),
            ]
            stopped = asyncio.create_task(stop.wait())
            done, _ = await asyncio.wait([*tasks, stopped], return_when=asyncio.FIRST_COMPLETED)
            failed = [t for t in done if t is not stopped and not t.cancelled() and t.exception() is not None]
            for t in failed:
                log.error("worker task failed", exc_info=t.exception())
                status = EXIT_NO
            stopped.cancel()
    finally:
        await worker.stop_background()
        await worker.processor.stop()  # finishes the batch in hand and commits
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        await worker.replica.stop()
        await runner.cleanup()
    return status


def run_worker(settings: Settings) -> int:
    faulthandler.register(signal.SIGUSR1, all_threads=True)  # `kill -USR1`: every thread's stack to the log

    async def main() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        return await serve(PlatewatchWorker(settings), stop)

    return asyncio.run(main())
