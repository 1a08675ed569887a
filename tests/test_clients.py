"""Every Kafka client is built by the factory, from the settings: TLS and SASL reach all of them."""

from __future__ import annotations

import ast
import logging
import ssl
from pathlib import Path

import pytest

from streams.errors import ConfigurationError
from streams.kafka.clients import KafkaClients
from streams.ops.settings import build_settings

ROOT = Path(__file__).resolve().parent.parent
FACTORY = ROOT / "streams" / "kafka" / "clients.py"
# client classes of every Kafka library a module could reach for
CLIENT_CLASSES = {
    "AIOKafkaConsumer", "AIOKafkaProducer", "AIOKafkaAdminClient", "AIOKafkaClient",
    "Consumer", "Producer", "AdminClient", "DeserializingConsumer", "SerializingProducer",
}  # fmt: skip
SECRET = "Pa55-for-tests-only"


def client_constructions(path: Path) -> list[str]:
    """Calls that build a Kafka client (by any alias of a client class or of `create_conn`), and faust
    apps built without the factory's options."""
    tree = ast.parse(path.read_text(), str(path))
    aliases = {}  # local name -> the library's name, for names imported from a Kafka library
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in {"aiokafka", "confluent_kafka"}:
            for alias in node.names:
                aliases[alias.asname or alias.name] = alias.name
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Attribute):
            name = func.attr
        elif isinstance(func, ast.Name):
            name = aliases.get(func.id, func.id)
        else:
            continue
        if name in CLIENT_CLASSES or name == "create_conn":
            found.append(f"{path.relative_to(ROOT)}:{node.lineno} {name}(...)")
        if name == "App" and not any(
            k.arg is None and "faust_app_options" in ast.unparse(k.value) for k in node.keywords
        ):
            found.append(f"{path.relative_to(ROOT)}:{node.lineno} faust App without faust_app_options()")
    return found


def product_modules() -> list[Path]:
    return [
        p
        for folder in ("streams", "benchmarks", "tests/harness")
        for p in sorted((ROOT / folder).rglob("*.py"))
        if p != FACTORY
    ]


def test_no_module_builds_a_kafka_client_itself() -> None:
    offenders = [hit for path in product_modules() for hit in client_constructions(path)]
    assert offenders == [], "build clients with streams.kafka.clients.KafkaClients:\n" + "\n".join(offenders)


def test_the_scan_finds_a_client_built_by_hand(tmp_path: Path) -> None:
    sneaky = ROOT / "streams" / "kafka" / "_scan_probe.py"  # inside ROOT so relative paths work
    sneaky.write_text(
        "import aiokafka\nc = aiokafka.AIOKafkaConsumer('t', bootstrap_servers='x')\n"
        "from aiokafka import AIOKafkaProducer as P\np = P(bootstrap_servers='x')\n"
        "from aiokafka.conn import create_conn as cc\nconn = cc('h', 1)\n"
    )
    try:
        assert client_constructions(sneaky) == [
            "streams/kafka/_scan_probe.py:2 AIOKafkaConsumer(...)",
            "streams/kafka/_scan_probe.py:4 AIOKafkaProducer(...)",
            "streams/kafka/_scan_probe.py:6 create_conn(...)",
        ]
    finally:
        sneaky.unlink()


def secured(**more: object) -> KafkaClients:
    return KafkaClients(
        build_settings(
            {
                "security_protocol": "SASL_SSL",
                "sasl_mechanism": "SCRAM-SHA-512",
                "sasl_username": "worker",
                "sasl_password": SECRET,
                **more,
            }
        )
    )


async def test_sasl_and_tls_reach_every_kind_of_client() -> None:
    clients = secured()
    opts = clients.aiokafka_options()
    assert opts["security_protocol"] == "SASL_SSL"
    assert (opts["sasl_mechanism"], opts["sasl_plain_username"], opts["sasl_plain_password"]) == (
        "SCRAM-SHA-512", "worker", SECRET,
    )  # fmt: skip
    assert isinstance(opts["ssl_context"], ssl.SSLContext)
    # the built clients themselves carry them (aiokafka keeps them on its connection manager)
    for client in (clients.consumer("t"), clients.producer(), clients.admin()):
        inner = getattr(client, "_client", None) or client.client
        assert inner._security_protocol == "SASL_SSL"
        assert inner._sasl_mechanism == "SCRAM-SHA-512"
        assert inner._sasl_plain_password == SECRET
        assert inner._ssl_context is opts["ssl_context"]
        await (getattr(client, "stop", None) or client.close)()
    rd = clients.librdkafka_config()
    assert (rd["security.protocol"], rd["sasl.mechanism"], rd["sasl.username"], rd["sasl.password"]) == (
        "sasl_ssl", "SCRAM-SHA-512", "worker", SECRET,
    )  # fmt: skip
    faust_opts = clients.faust_app_options()
    assert faust_opts["broker_credentials"].username == "worker"
    assert "ssl_context" not in KafkaClients(build_settings()).aiokafka_options()


def test_a_missing_ca_file_is_a_configuration_error_without_the_password(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError) as caught:
        secured(ssl_cafile=tmp_path / "missing-ca.pem").aiokafka_options()
    assert SECRET not in str(caught.value)


async def test_consumers_read_committed_records_unless_told_otherwise() -> None:
    """The worker's outputs are transactional: a reader of them must not see an aborted batch."""
    clients = KafkaClients(build_settings())
    default, explicit = clients.consumer("t"), clients.consumer("t", isolation_level="read_uncommitted")
    try:
        assert default._isolation_level == "read_committed"
        assert explicit._isolation_level == "read_uncommitted"
    finally:
        await default.stop()
        await explicit.stop()


def test_a_repeated_consume_error_is_logged_once_per_interval(caplog: pytest.LogCaptureFixture) -> None:
    from streams.kafka.rd_records import ConsumeErrorLog  # noqa: PLC0415

    class Err:
        def __init__(self, code: int) -> None:
            self._code = code

        def code(self) -> int:
            return self._code

        def str(self) -> str:
            return f"error {self._code}"

    log_error = ConsumeErrorLog(logging.getLogger("test.consume"), "consume", seconds=60)
    with caplog.at_level(logging.WARNING, logger="test.consume"):
        for _ in range(5):
            log_error(Err(-195))
        log_error(Err(-187))
    assert [r.getMessage() for r in caplog.records] == ["consume: error -195", "consume: error -187"]
