"""Shared fixtures: the real Kafka broker, and unique names per test."""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness.postgres import PostgresNotStartedError, fresh_database, started_postgres
from tests.harness.secure_broker import SecureBroker, spare_ports

ROOT = Path(__file__).resolve().parent.parent
KAFKA_SH = ROOT / "deploy" / "kafka" / "kafka.sh"


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Bootstrap servers of a real Apache Kafka broker.

    `KAFKA_BOOTSTRAP` names a broker that is already running (`make test` starts one). Without it,
    the project's own broker is started on a spare port for this session and stopped after it.
    """
    given = os.environ.get("KAFKA_BOOTSTRAP")
    if given:
        yield given
        return
    port = os.environ.get("PLATEWATCH_TEST_KAFKA_PORT", "19092")
    env = dict(
        os.environ,
        KAFKA_PORT=port,
        KAFKA_CONTROLLER_PORT=str(int(port) + 1),
        PLATEWATCH_KAFKA_DIR=str(tmp_path_factory.mktemp("kafka")),
    )
    started = subprocess.run([str(KAFKA_SH), "up"], env=env, capture_output=True, text=True, check=False)
    if started.returncode != 0:
        subprocess.run([str(KAFKA_SH), "down"], env=env, check=False)
        pytest.fail(f"the Kafka broker did not start:\n{started.stderr}", pytrace=False)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        subprocess.run([str(KAFKA_SH), "down"], env=env, check=False)


REAUTH_MS = 5_000  # the script's default is 60 s; short here so the session-expiry check stays quick
SECURE_ENV_VARS = ("PLATEWATCH_TLS_", "PLATEWATCH_ADMIN_PASSWORD_FILE", "KAFKA_SECURE_", "KAFKA_KEEP_DATA")


@pytest.fixture(scope="session")
def secure_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureBroker]:
    port, controller_port, internal_port = spare_ports(3)
    env = {k: v for k, v in os.environ.items() if not k.startswith(SECURE_ENV_VARS)}
    env.update(
        PLATEWATCH_KAFKA_DIR=str(tmp_path_factory.mktemp("kafka-secure")),
        KAFKA_SECURE_PORT=str(port),
        KAFKA_SECURE_CONTROLLER_PORT=str(controller_port),
        KAFKA_SECURE_INTERNAL_PORT=str(internal_port),
        KAFKA_SECURE_REAUTH_MS=str(REAUTH_MS),
    )
    broker = SecureBroker(
        Path(env["PLATEWATCH_KAFKA_DIR"]) / "secure", env, port, controller_port, internal_port, 0, ""
    )
    began = time.monotonic()
    started = broker.script("secure-up", check=False)
    broker.start_seconds = time.monotonic() - began
    broker.start_output = started.stdout + started.stderr
    if started.returncode != 0:
        broker.script("secure-down", check=False)
        pytest.fail(f"the secure broker did not start:\n{broker.start_output}", pytrace=False)
    try:
        yield broker
    finally:
        stopped = broker.script("secure-down", check=False)
    # secure-down removes the broker's data but keeps the CA and the admin's files, so clients stay valid
    assert stopped.returncode == 0, stopped.stderr
    assert not (broker.base / "single").exists()
    assert broker.ca.exists() and (broker.base / "admin.password").exists()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """URL of a PostgreSQL database as its superuser (`postgresql+psycopg://postgres@127.0.0.1:PORT/DB`).

    `PLATEWATCH_TEST_POSTGRES_URL` names one that runs (`make test` starts it with deploy/postgres/pg.sh).
    Under CI (`CI` set) its absence fails the tests that need it; elsewhere the script starts one on a
    spare port for this session and stops it after.
    """
    given = os.environ.get("PLATEWATCH_TEST_POSTGRES_URL")
    if given:
        yield given
        return
    if os.environ.get("CI"):
        pytest.fail(
            "PLATEWATCH_TEST_POSTGRES_URL is not set: `make test` starts PostgreSQL (deploy/postgres/pg.sh up) "
            "and sets it",
            pytrace=False,
        )
    try:
        with started_postgres() as url:
            yield url
    except PostgresNotStartedError as exc:
        pytest.fail(f"PostgreSQL did not start:\n{exc}", pytrace=False)


@pytest.fixture
def postgres_db_url(postgres_url: str) -> Iterator[str]:
    """A PostgreSQL database of its own for one test (its superuser's URL), dropped after."""
    with fresh_database(postgres_url) as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def audit_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty audit store: a SQLite file, or a PostgreSQL database of its own (dropped after)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'audit.db'}"
    url: str = request.getfixturevalue("postgres_db_url")
    return url


@pytest.fixture
def unique() -> str:
    """A short unique suffix for topic and group names, so tests never see each other's data."""
    return uuid.uuid4().hex[:10]
