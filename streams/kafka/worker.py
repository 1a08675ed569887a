"""`platewatch worker`: the faust application that frames the worker.

faust provides the process: the worker lifecycle and signal handling, the web server behind
/metrics, /healthz and /readyz, and the service tree. The hot path (ReadProcessor) and the hotlist
replica (HotlistReplica) are services in that tree that talk to Kafka through aiokafka directly;
see docs/architecture.md for why faust agents and tables are not used for them.
"""

from __future__ import annotations

import logging
import tempfile
from typing import Any

import faust
from aiokafka.errors import ConsumerStoppedError
from mode import Service
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from streams.hotlists.index import HotlistIndex
from streams.kafka.hotlist_replica import HotlistReplica
from streams.kafka.read_processor import ReadProcessor
from streams.kafka.topic_setup import alert_topic_specs, create_topics
from streams.ops.metrics import PipelineMetrics
from streams.ops.settings import Settings
from streams.pipeline.batch import Pipeline
from streams.pipeline.topics import TopicNames
from streams.policy.config_files import ConfigFileError
from streams.policy.jurisdiction_filter import SharingPolicy
from streams.policy.store import PolicyStore

log = logging.getLogger(__name__)


class PlatewatchWorker:
    """Everything one worker process holds, assembled from its settings."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.names = TopicNames.with_prefix(settings.topic_prefix)
        self.registry = CollectorRegistry()
        self.metrics = PipelineMetrics(self.registry)
        self.index = HotlistIndex()
        self.store = PolicyStore(
            settings.policy_file,
            settings.registry_file,
            on_refused=self._policy_refused,
            on_loaded=lambda p: self.metrics.set_policy(p.version),
        )
        self.replica = HotlistReplica(settings, self.names.hotlist_updates, self.index, self._hotlist_applied)
        self.pipeline = Pipeline(self.index, lambda: self.store.current, self.names)
        self.processor = ReadProcessor(
            settings, self.names.plate_reads, self.pipeline, self.store, self.metrics, self.replica.caught_up
        )

    def _policy_refused(self, exc: ConfigFileError) -> None:
        self.metrics.policy_refused.inc()

    def _hotlist_applied(self, applied: int, rejected: int) -> None:
        self.metrics.hotlist_updates.inc(applied)
        self.metrics.hotlist_rejected.inc(rejected)
        self.metrics.replica_ready.set(1 if self.replica.caught_up.is_set() else 0)
        for s in self.index.stats():
            self.metrics.hotlist_entries.labels(s.info.list_id).set(s.entries)

    @property
    def ready(self) -> bool:
        return self.replica.caught_up.is_set() and isinstance(self.store.current, SharingPolicy)

    async def ensure_alert_topics(self) -> None:
        policy = self.store.current
        if not isinstance(policy, SharingPolicy):
            return
        try:
            created, _ = await create_topics(self.settings, alert_topic_specs(self.names, policy))
        except Exception as exc:
            log.warning("could not check alert topics: %s", exc)
            return
        if created:
            log.info("created %d alert topics", len(created))


class WorkerService(Service):
    """Runs the replica and the read processor inside the faust worker."""

    def __init__(self, worker: PlatewatchWorker, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.worker = worker

    async def on_start(self) -> None:
        await self.worker.ensure_alert_topics()
        await self.worker.replica.start()
        await self.worker.processor.start()
        self.add_future(self._guard(self.worker.replica.run()))
        self.add_future(self._guard(self.worker.processor.run()))

    async def _guard(self, coro: Any) -> None:
        try:
            await coro
        except ConsumerStoppedError:
            return  # stopping
        except Exception as exc:
            log.exception("worker task failed")
            await self.crash(exc)

    async def on_stop(self) -> None:
        await self.worker.processor.stop()
        await self.worker.replica.stop()


def broker_url(settings: Settings) -> str:
    return ";".join(f"kafka://{h.strip()}" for h in settings.bootstrap_servers.split(",") if h.strip())


def create_app(worker: PlatewatchWorker) -> faust.App:
    s = worker.settings
    credentials: Any = None
    opts = s.kafka_client_options()
    if s.security_protocol.startswith("SASL"):
        credentials = faust.SASLCredentials(
            username=s.sasl_username,
            password=s.sasl_password,
            ssl_context=opts.get("ssl_context"),
            mechanism=s.sasl_mechanism or "PLAIN",
        )
    elif s.security_protocol == "SSL":
        credentials = faust.SSLCredentials(opts["ssl_context"])
    app = faust.App(
        s.app_id,
        broker=broker_url(s),
        broker_credentials=credentials,
        store="memory://",
        datadir=tempfile.mkdtemp(prefix="platewatch-"),
        web_enabled=True,
        web_host=s.web_host,
        web_port=s.web_port,
        web_bind=s.web_host,
        topic_replication_factor=s.replication_factor,
        autodiscover=False,
    )

    class BoundWorkerService(WorkerService):  # app.service() takes a class; this one knows its worker
        def __init__(self, **kwargs: Any) -> None:
            super().__init__(worker, **kwargs)

    app.service(BoundWorkerService)

    @app.page("/metrics")
    async def metrics(view: Any, request: Any) -> Any:
        return view.bytes(generate_latest(worker.registry), content_type=CONTENT_TYPE_LATEST.split(";")[0])

    @app.page("/healthz")
    async def healthz(view: Any, request: Any) -> Any:
        return view.json({"status": "ok"})

    @app.page("/readyz")
    async def readyz(view: Any, request: Any) -> Any:
        body = {
            "ready": worker.ready,
            "hotlist_replica_caught_up": worker.replica.caught_up.is_set(),
            "hotlist_entries": len(worker.index),
            "hotlist_catch_up_seconds": worker.replica.catch_up_seconds,
            "hotlist_records_replayed": worker.replica.records_replayed,
            "policy_version": worker.store.current.version,
        }
        return view.json(body, status=200 if worker.ready else 503)

    return app


def run_worker(settings: Settings) -> int:
    worker = PlatewatchWorker(settings)
    app = create_app(worker)
    faust_worker = faust.Worker(app, loglevel=settings.log_level.lower(), quiet=True)
    faust_worker.execute_from_commandline()
    return 0
