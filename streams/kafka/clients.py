"""The one place that builds Kafka clients, from the settings: security options reach every one of them.

Every producer, consumer and admin client of the product, the CLI tools, the tests' harness and the
benchmarks is built here (a test fails when a module builds one itself), so TLS and SASL settings
cannot be forgotten by a new command. It is also the one place that knows which client library is
used: aiokafka today for the data path and its admin client; `librdkafka_config` gives the same
settings in librdkafka's vocabulary for confluent-kafka, whose AdminClient has the ACL, SCRAM and
incremental-alter-configs calls that aiokafka lacks.

Connecting: `start` retries an unreachable broker with backoff for `broker_wait_seconds`, then
raises `BrokerUnavailableError` (exit 3 in the CLI); a client that failed to start is closed, so
nothing leaks.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.conn import create_conn
from aiokafka.errors import (
    KafkaConnectionError,
    KafkaError,
    TopicAuthorizationFailedError,
    UnknownTopicOrPartitionError,
)
from aiokafka.errors import (
    SaslAuthenticationFailed as SaslAuthenticationFailedError,
)
from aiokafka.helpers import create_ssl_context

from streams.errors import AccessDeniedError, BrokerUnavailableError, ConfigurationError
from streams.ops.settings import Settings

if TYPE_CHECKING:
    import confluent_kafka
    import confluent_kafka.admin

log = logging.getLogger(__name__)

FIRST_BACKOFF_S = 0.2
MAX_BACKOFF_S = 2.0


class _OncePer(logging.Filter):
    """librdkafka repeats a failing connection's error every few milliseconds: each kind of message
    (facility and broker thread) passes once per `seconds`."""

    def __init__(self, seconds: float) -> None:
        super().__init__()
        self.seconds = seconds
        self.last: dict[tuple[object, ...], float] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args if isinstance(record.args, tuple) else ()
        key = (record.levelno, *(str(a).split("]")[0] for a in args[:1] + args[2:3]))
        now = time.monotonic()
        if now - self.last.get(key, -1e9) < self.seconds:
            return False
        self.last[key] = now
        return True


# librdkafka's own log lines (its clients log through Python logging, never straight to stderr)
RDKAFKA_LOG = logging.getLogger("librdkafka")
RDKAFKA_LOG.addFilter(_OncePer(30.0))


class _Startable(Protocol):
    async def start(self) -> None: ...


C = TypeVar("C", bound=_Startable)


class KafkaClients:
    """Builds clients for one process from its settings. Cheap: build one wherever clients are needed."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._ssl: ssl.SSLContext | None = None

    # ---- options -----------------------------------------------------------------------------

    def ssl_context(self) -> ssl.SSLContext | None:
        s = self.settings
        if s.security_protocol not in {"SSL", "SASL_SSL"}:
            return None
        if self._ssl is None:
            try:
                self._ssl = create_ssl_context(
                    cafile=str(s.ssl_cafile) if s.ssl_cafile else None,
                    certfile=str(s.ssl_certfile) if s.ssl_certfile else None,
                    keyfile=str(s.ssl_keyfile) if s.ssl_keyfile else None,
                )
            except (OSError, ssl.SSLError) as exc:
                raise ConfigurationError(f"TLS files cannot be used: {exc.strerror or exc}") from None
        return self._ssl

    def aiokafka_options(self) -> dict[str, Any]:
        """Connection and security options common to aiokafka's consumer, producer and admin client."""
        s = self.settings
        opts: dict[str, Any] = {"bootstrap_servers": s.bootstrap_servers, "security_protocol": s.security_protocol}
        context = self.ssl_context()
        if context is not None:
            opts["ssl_context"] = context
        if s.security_protocol.startswith("SASL"):
            opts["sasl_mechanism"] = s.sasl_mechanism or "PLAIN"
            opts["sasl_plain_username"] = s.sasl_username
            opts["sasl_plain_password"] = s.password()
        return opts

    def librdkafka_config(self) -> dict[str, str]:
        """The same settings for librdkafka (confluent-kafka): its property names."""
        s = self.settings
        conf = {"bootstrap.servers": s.bootstrap_servers, "security.protocol": s.security_protocol.lower()}
        self.ssl_context()  # the same TLS files, checked the same way: one that cannot work is a ConfigurationError
        if s.ssl_cafile:
            conf["ssl.ca.location"] = str(s.ssl_cafile)
        if s.ssl_certfile and s.ssl_keyfile:
            conf["ssl.certificate.location"] = str(s.ssl_certfile)
            conf["ssl.key.location"] = str(s.ssl_keyfile)
        if s.security_protocol.startswith("SASL"):
            conf["sasl.mechanism"] = s.sasl_mechanism or "PLAIN"
            conf["sasl.username"] = s.sasl_username
            conf["sasl.password"] = s.password()
        return conf

    def faust_app_options(self) -> dict[str, Any]:
        """`broker` and `broker_credentials` for a faust.App (the benchmarks' faust peer)."""
        import faust  # noqa: PLC0415 (only the faust peer needs it)

        s = self.settings
        credentials: Any = None
        if s.security_protocol.startswith("SASL"):
            credentials = faust.SASLCredentials(
                username=s.sasl_username,
                password=s.password(),
                ssl_context=self.ssl_context(),
                mechanism=s.sasl_mechanism or "PLAIN",
            )
        elif s.security_protocol == "SSL":
            credentials = faust.SSLCredentials(self.ssl_context())
        broker = ";".join(f"kafka://{h.strip()}" for h in s.bootstrap_servers.split(",") if h.strip())
        return {"broker": broker, "broker_credentials": credentials}

    # ---- clients -----------------------------------------------------------------------------

    def consumer(self, *topics: str, **options: Any) -> AIOKafkaConsumer:
        """A consumer; `options` are aiokafka's (group_id, isolation_level, ...). Not started.

        It reads committed records only unless told otherwise: the worker writes its outputs in
        transactions, and an aborted batch's alerts, audit records and dead letters were never sent."""
        options.setdefault("isolation_level", "read_committed")
        return AIOKafkaConsumer(*topics, **self.aiokafka_options(), **options)

    def producer(self, **options: Any) -> AIOKafkaProducer:
        """A producer; `options` are aiokafka's (acks, linger_ms, ...). Not started."""
        return AIOKafkaProducer(**self.aiokafka_options(), **options)

    def admin(self) -> AIOKafkaAdminClient:
        return AIOKafkaAdminClient(**self.aiokafka_options())

    def rdkafka_consumer(self, **properties: Any) -> confluent_kafka.Consumer:
        """A confluent-kafka (librdkafka) consumer: `librdkafka_config()` plus `properties` in librdkafka's
        names (pass them as `**{"group.id": ...}`). It connects in the background when first used."""
        import confluent_kafka  # noqa: PLC0415 (only its users pay for loading librdkafka)

        return confluent_kafka.Consumer({**self.librdkafka_config(), "logger": RDKAFKA_LOG, **properties})

    def rdkafka_producer(self, **properties: Any) -> confluent_kafka.Producer:
        """A confluent-kafka (librdkafka) producer: `librdkafka_config()` plus `properties` ("acks", ...)."""
        import confluent_kafka  # noqa: PLC0415 (only its users pay for loading librdkafka)

        return confluent_kafka.Producer({**self.librdkafka_config(), "logger": RDKAFKA_LOG, **properties})

    def rdkafka_admin(self) -> confluent_kafka.admin.AdminClient:
        """librdkafka's AdminClient: ACLs, SCRAM credentials and incremental config changes."""
        from confluent_kafka.admin import AdminClient  # noqa: PLC0415 (only admin commands need it)

        conf: dict[str, Any] = {**self.librdkafka_config(), "logger": RDKAFKA_LOG}
        return AdminClient(conf)

    # ---- connecting --------------------------------------------------------------------------

    async def start(self, client: C, *, wait_s: float | None = None) -> C:
        """Start `client`, retrying an unreachable broker for `wait_s` (default: broker_wait_seconds)."""
        await retry_broker(
            client.start, self.settings, wait_s=wait_s, on_give_up=lambda: _close(client),
            diagnose=self.credentials_refused,
        )  # fmt: skip
        return client

    async def credentials_refused(self) -> bool:
        """True when the first bootstrap server refuses our SASL credentials (aiokafka's bootstrap
        error does not say so: one direct connection tells an unreachable broker from a refusal)."""
        if not self.settings.security_protocol.startswith("SASL"):
            return False
        host, _, port = self.settings.bootstrap_servers.split(",")[0].strip().rpartition(":")
        opts = {k: v for k, v in self.aiokafka_options().items() if k != "bootstrap_servers"}
        try:
            conn = await create_conn(host, int(port), request_timeout_ms=5000, **opts)
        except SaslAuthenticationFailedError:
            return True
        except Exception:
            return False
        conn.close()
        return False

    async def topic_partitions(self, topic: str, *, wait_s: float = 0) -> list[TopicPartition]:
        """Every partition of `topic` from the admin API; [] when it does not exist after `wait_s`."""
        admin = await self.start(self.admin())
        try:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + wait_s
            while True:
                (described,) = await admin.describe_topics([topic])
                parts = sorted(p["partition"] for p in described["partitions"])
                if described["error_code"] == TopicAuthorizationFailedError.errno:
                    raise AccessDeniedError(f"{self.settings.sasl_username or 'this client'} may not use topic {topic}")
                if described["error_code"] == 0 and parts:
                    return [TopicPartition(topic, p) for p in parts]
                if described["error_code"] not in (0, UnknownTopicOrPartitionError.errno) or loop.time() >= deadline:
                    return []
                await asyncio.sleep(0.2)
        finally:
            await admin.close()


async def retry_broker(
    attempt: Callable[[], Awaitable[None]],
    settings: Settings,
    *,
    wait_s: float | None = None,
    on_give_up: Callable[[], Awaitable[None]] | None = None,
    diagnose: Callable[[], Awaitable[bool]] | None = None,
) -> None:
    """Run `attempt` until it stops failing to reach the broker, or `wait_s` has passed."""
    loop = asyncio.get_running_loop()
    budget = settings.broker_wait_seconds if wait_s is None else wait_s
    deadline = loop.time() + budget
    backoff = FIRST_BACKOFF_S
    while True:
        try:
            await attempt()
            return
        except (KafkaConnectionError, OSError) as exc:
            last: Exception = exc
            if diagnose is not None and await diagnose():
                if on_give_up is not None:
                    await on_give_up()
                raise BrokerUnavailableError(
                    f"Kafka at {settings.bootstrap_servers} refused the credentials of "
                    f"{settings.sasl_username or 'this client'} (SaslAuthenticationFailed)",
                    hint="check the user name and the password (file or PLATEWATCH_SASL_PASSWORD)",
                ) from None
        except KafkaError as exc:  # e.g. authentication refused: retrying will not help
            if on_give_up is not None:
                await on_give_up()
            raise BrokerUnavailableError(
                f"Kafka at {settings.bootstrap_servers} refused the connection: {type(exc).__name__}",
                hint="check the security settings and credentials",
            ) from None
        if loop.time() + backoff > deadline:
            if on_give_up is not None:
                await on_give_up()
            raise BrokerUnavailableError(
                f"Kafka at {settings.bootstrap_servers} unreachable for {budget:g}s ({type(last).__name__})"
            ) from None
        log.debug("broker unreachable (%s); retrying in %.1fs", last, backoff)
        await asyncio.sleep(backoff)
        backoff = min(backoff * 2, MAX_BACKOFF_S)


async def _close(client: object) -> None:
    """Release whatever a client that failed to start holds (aiokafka: stop(); admin: close())."""
    close = getattr(client, "stop", None) or getattr(client, "close", None)
    if close is not None:
        try:
            await close()
        except Exception as exc:
            log.debug("closing a client that never started: %s", exc)
