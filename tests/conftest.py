"""Shared fixtures: the real Kafka broker, and unique names per test."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

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


@pytest.fixture
def unique() -> str:
    """A short unique suffix for topic and group names, so tests never see each other's data."""
    return uuid.uuid4().hex[:10]
