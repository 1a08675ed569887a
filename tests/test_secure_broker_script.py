"""`kafka.sh secure-up` starts a broker that enforces who reads what: TLS, SCRAM-SHA-512, ACLs.

One secured broker for this module, started by the script itself on spare ports in a temporary folder
and stopped at the end. Every check is made by a real client against it: the admin's credentials work,
a wrong password, a PLAINTEXT or TLS-only client and a client without a certificate on the controller
and inter-broker listeners are refused, a new SCRAM user is denied a topic until an ACL grants it, the
denial lands in the authorizer log, a revoked password ends an open session, and a renewed broker
certificate still chains to the CA that clients hold, with every user still there after the restart.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import stat
import time
import uuid
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.conn import AIOKafkaConnection, create_conn
from aiokafka.errors import KafkaConnectionError, SaslAuthenticationFailed, TopicAuthorizationFailedError
from aiokafka.protocol.metadata import MetadataRequest

from tests.conftest import REAUTH_MS
from tests.harness.secure_broker import SecureBroker

pytestmark = pytest.mark.kafka

START_BUDGET_S = 60.0


async def metadata(conn: AIOKafkaConnection) -> Any:
    return await conn.send(MetadataRequest([]))


def handshake(port: int, ctx: ssl.SSLContext, server_hostname: str) -> dict[str, Any]:
    """A TLS handshake with the broker's listener on `port`; the broker's certificate as Python sees it."""
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        ctx.wrap_socket(raw, server_hostname=server_hostname) as tls,
    ):
        cert = tls.getpeercert()
        assert cert is not None
        return cert


def read_after_handshake(port: int, ctx: ssl.SSLContext) -> bytes:
    """Sends an ApiVersions request after the handshake and returns the first bytes of the answer."""
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        body = (18).to_bytes(2, "big") + (0).to_bytes(2, "big") + (1).to_bytes(4, "big") + b"\x00\x04test"
        tls.sendall(len(body).to_bytes(4, "big") + body)
        return tls.recv(4)


def test_secure_up_writes_tls_and_admin_files_privately_and_never_prints_the_password(
    secure_broker: SecureBroker,
) -> None:
    b = secure_broker
    assert b.start_seconds < START_BUDGET_S, f"secure-up took {b.start_seconds:.1f}s"
    print(f"secure-up took {b.start_seconds:.1f}s")  # shown with -s; the report quotes it
    private = [b.base / "admin.password", b.base / "admin.properties", b.base / "tls" / "ca.key"]
    private += [b.base / "tls" / "broker.key", b.base / "tls" / "broker-keystore.pem"]
    for path in private:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert stat.S_IMODE(b.base.stat().st_mode) == 0o700
    password = b.admin_password
    assert len(password) == 48
    assert password not in b.start_output
    assert password not in (b.base / "single" / "server.log").read_text()
    assert not (b.base / "single" / "format.args").exists()
    # it says where the CA, the password and the bootstrap address are
    assert f"PLATEWATCH_SSL_CAFILE={b.ca}" in b.start_output
    assert f"PLATEWATCH_SASL_PASSWORD_FILE={b.base / 'admin.password'}" in b.start_output
    assert f"PLATEWATCH_BOOTSTRAP_SERVERS={b.bootstrap}" in b.start_output
    props = dict(
        line.split("=", 1)
        for line in (b.base / "single" / "server.properties").read_text().splitlines()
        if "=" in line and not line.startswith("#")
    )
    assert props["authorizer.class.name"] == "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
    assert props["allow.everyone.if.no.acl.found"] == "false"
    assert props["super.users"] == "User:admin;User:CN=platewatch-broker"
    assert props["listener.security.protocol.map"] == "CLIENT:SASL_SSL,INTERNAL:SSL,CONTROLLER:SSL"
    assert props["listener.name.controller.ssl.client.auth"] == "required"
    assert props["listener.name.internal.ssl.client.auth"] == "required"
    assert props["sasl.enabled.mechanisms"] == "SCRAM-SHA-512"
    assert props["connections.max.reauth.ms"] == str(REAUTH_MS)


def test_secure_up_again_leaves_the_running_broker_alone(secure_broker: SecureBroker) -> None:
    password = secure_broker.admin_password
    pid = (secure_broker.base / "single" / "pid").read_text()
    began = time.monotonic()
    again = secure_broker.script("secure-up")
    assert time.monotonic() - began < 10
    assert "already running" in again.stderr
    assert secure_broker.admin_password == password
    assert (secure_broker.base / "single" / "pid").read_text() == pid
    status = secure_broker.script("secure-status")
    assert f"running (pid {pid.strip()}) on {secure_broker.bootstrap}" in status.stdout


def test_the_broker_certificate_names_localhost_and_127_0_0_1_and_chains_to_the_local_ca(
    secure_broker: SecureBroker,
) -> None:
    ctx = secure_broker.ssl_context()
    for name in ("localhost", "127.0.0.1"):
        cert = handshake(secure_broker.port, ctx, name)
    assert set(cert["subjectAltName"]) == {("DNS", "localhost"), ("IP Address", "127.0.0.1")}
    assert cert["subject"] == ((("commonName", "platewatch-broker"),),)
    days = (ssl.cert_time_to_seconds(cert["notAfter"]) - ssl.cert_time_to_seconds(cert["notBefore"])) / 86400
    assert round(days) == 825
    with pytest.raises(ssl.SSLCertVerificationError):
        handshake(secure_broker.port, ctx, "kafka.example")
    with pytest.raises(ssl.SSLCertVerificationError):  # a client that trusts only the public CAs
        handshake(secure_broker.port, ssl.create_default_context(), "127.0.0.1")


async def test_the_admin_creates_a_topic_and_produces_and_consumes_over_sasl_ssl(
    secure_broker: SecureBroker, unique: str
) -> None:
    topic = f"secure-roundtrip-{unique}"
    admin = AIOKafkaAdminClient(**secure_broker.admin())
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(acks="all", **secure_broker.admin())
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"plate read")
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(topic, group_id=f"g-{unique}", auto_offset_reset="earliest", **secure_broker.admin())
    await consumer.start()
    try:
        record = await asyncio.wait_for(consumer.getone(), 20)
    finally:
        await consumer.stop()
    assert record.value == b"plate read"


async def test_a_wrong_password_and_clients_without_sasl_or_a_certificate_are_refused(
    secure_broker: SecureBroker,
) -> None:
    b = secure_broker
    with pytest.raises(SaslAuthenticationFailed):
        await create_conn("127.0.0.1", b.port, **b.sasl("admin", "not-" + b.admin_password))
    with pytest.raises(SaslAuthenticationFailed):
        await create_conn("127.0.0.1", b.port, **b.sasl("nobody", "whatever-password"))
    for unauthenticated in ({}, {"security_protocol": "SSL", "ssl_context": b.ssl_context()}):
        with pytest.raises(KafkaConnectionError):  # PLAINTEXT fails the handshake, TLS alone ends at Metadata
            conn = await create_conn("127.0.0.1", b.port, request_timeout_ms=10_000, **unauthenticated)
            try:
                await metadata(conn)
            finally:
                conn.close()
    # the controller and inter-broker listeners take only a certificate signed by the local CA
    for port in (b.controller_port, b.internal_port):
        with pytest.raises((ssl.SSLError, ConnectionError)):
            read_after_handshake(port, b.ssl_context())
    assert read_after_handshake(b.port, b.ssl_context())  # the client listener answers ApiVersions


async def test_a_new_user_is_denied_a_topic_until_an_acl_grants_it_and_the_denial_is_logged(
    secure_broker: SecureBroker, unique: str
) -> None:
    b = secure_broker
    topic, group, user = f"secure-alerts-{unique}", f"agency-{unique}", f"agency-{unique}"
    password = uuid.uuid4().hex
    admin = AIOKafkaAdminClient(**b.admin())
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(**b.admin())
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"alert")
    finally:
        await producer.stop()

    created = b.script("secure-user", user, stdin=password + "\n")
    assert password not in created.stdout + created.stderr
    conn = await create_conn("127.0.0.1", b.port, **b.sasl(user, password))  # authenticates
    conn.close()

    async def read_one() -> bytes | None:
        consumer = AIOKafkaConsumer(
            topic, group_id=group, auto_offset_reset="earliest", **b.sasl(user, password), bootstrap_servers=b.bootstrap
        )
        try:
            await consumer.start()
            value: bytes | None = (await asyncio.wait_for(consumer.getone(), 20)).value
            return value
        finally:
            await consumer.stop()

    with pytest.raises(TopicAuthorizationFailedError):
        await read_one()
    denial = (
        f"Principal = User:{user} is Denied operation = DESCRIBE from host = 127.0.0.1"
        f" on resource = Topic:LITERAL:{topic}"
    )
    log = b.base / "kafka-authorizer.log"
    for _ in range(50):
        if log.exists() and denial in log.read_text():
            break
        await asyncio.sleep(0.1)
    assert denial in log.read_text()

    b.script(
        "secure-acls",
        "--add",
        "--allow-principal",
        f"User:{user}",
        "--operation",
        "Read",
        "--topic",
        topic,
        "--group",
        group,
    )
    assert await read_one() == b"alert"
    # Read is all it was given: writing to the same topic is still refused
    producer = AIOKafkaProducer(bootstrap_servers=b.bootstrap, **b.sasl(user, password))
    await producer.start()
    try:
        with pytest.raises(TopicAuthorizationFailedError):
            await asyncio.wait_for(producer.send_and_wait(topic, b"forged"), 20)
    finally:
        await producer.stop()


async def test_a_revoked_password_ends_an_open_session_within_the_reauthentication_time(
    secure_broker: SecureBroker, unique: str
) -> None:
    b = secure_broker
    user, password = f"leaver-{unique}", uuid.uuid4().hex
    b.script("secure-user", user, stdin=password)
    conn = await create_conn("127.0.0.1", b.port, **b.sasl(user, password))
    authenticated = time.monotonic()
    try:
        await metadata(conn)
        b.script("secure-revoke", user)
        # aiokafka does not re-authenticate: the broker closes the session when connections.max.reauth.ms
        # is up, and the old password no longer opens a new one
        with pytest.raises(KafkaConnectionError):
            while time.monotonic() - authenticated < REAUTH_MS / 1000 + 10:
                await metadata(conn)
                await asyncio.sleep(0.25)
        ended = time.monotonic() - authenticated
    finally:
        conn.close()
    assert ended < REAUTH_MS / 1000 + 5
    with pytest.raises(SaslAuthenticationFailed):
        await create_conn("127.0.0.1", b.port, **b.sasl(user, password))


def test_deleting_a_scram_credential_is_refused(secure_broker: SecureBroker) -> None:
    """Kafka 4.1.1 forgets every SCRAM user on the next restart after a deletion (see kafka.sh)."""
    refused = secure_broker.script(
        "secure-configs",
        "--alter",
        "--delete-config",
        "SCRAM-SHA-512",
        "--entity-type",
        "users",
        "--entity-name",
        "anyone",
        check=False,
    )
    assert refused.returncode == 1
    assert "secure-revoke" in refused.stderr


async def test_tls_renew_issues_a_new_broker_certificate_and_the_restart_keeps_every_user(
    secure_broker: SecureBroker, unique: str
) -> None:
    b = secure_broker
    user, password = f"keeper-{unique}", uuid.uuid4().hex
    b.script("secure-user", user, stdin=password)
    ca = b.ca.read_bytes()
    before = handshake(b.port, b.ssl_context(), "127.0.0.1")["serialNumber"]
    b.script("tls-renew")
    assert b.ca.read_bytes() == ca
    after = handshake(b.port, b.ssl_context(), "127.0.0.1")
    assert after["serialNumber"] != before
    for name, secret in (("admin", b.admin_password), (user, password)):
        conn = await create_conn("127.0.0.1", b.port, **b.sasl(name, secret))
        try:
            assert (await metadata(conn)).brokers
        finally:
            conn.close()
