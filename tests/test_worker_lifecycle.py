"""The worker's life around Kafka: it waits for a broker that is not there yet (healthy, not ready,
saying why), starts processing soon after the broker comes, and stops fast on SIGTERM."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import time
from pathlib import Path

import orjson
import pytest

from tests.conftest import KAFKA_SH
from tests.harness.worker_process import WorkerProcess, produce, read_topic
from tests.test_worker_end_to_end import LAPD, read, setup_topics

pytestmark = [pytest.mark.kafka, pytest.mark.slow]


def spare_ports() -> tuple[int, int]:
    with socket.socket() as a, socket.socket() as b:
        a.bind(("127.0.0.1", 0))
        b.bind(("127.0.0.1", 0))
        return a.getsockname()[1], b.getsockname()[1]


async def test_a_worker_started_before_the_broker_waits_then_processes(tmp_path: Path, unique: str) -> None:
    port, controller = spare_ports()
    bootstrap = f"127.0.0.1:{port}"
    prefix = f"late-{unique}."
    env = dict(os.environ, KAFKA_PORT=str(port), KAFKA_CONTROLLER_PORT=str(controller),
               PLATEWATCH_KAFKA_DIR=str(tmp_path / "kafka"))  # fmt: skip
    worker = WorkerProcess(bootstrap, prefix, tmp_path / "worker.log").start()
    try:
        await asyncio.sleep(3)  # several connection attempts fail meanwhile
        assert worker.proc is not None and worker.proc.poll() is None, worker.log()
        assert worker.get("/healthz")[0] == 200
        status, body = worker.get("/readyz")
        assert status == 503 and orjson.loads(body)["reason"] == f"Kafka at {bootstrap} unreachable"

        started = await asyncio.to_thread(
            subprocess.run, [str(KAFKA_SH), "up"], env=env, capture_output=True, text=True, check=False
        )
        assert started.returncode == 0, started.stderr
        reachable_at = time.monotonic()
        names = await setup_topics(bootstrap, prefix)
        await worker.wait_ready(timeout=30)
        ready_after = time.monotonic() - reachable_at
        assert ready_after < 10, f"ready {ready_after:.1f}s after the broker came up"
        await produce(bootstrap, names.reads_for(LAPD), [(b"cam", read("late-1", "7SDQ551"))])
        for _ in range(40):
            if worker.metric("platewatch_reads_consumed_total") >= 1:
                break
            await asyncio.sleep(0.25)
        alerts = await read_topic(bootstrap, names.alerts(LAPD), settle=0.5)
        assert [orjson.loads(r.value)["read"]["read_id"] for r in alerts] == ["late-1"]
        # the worker logged the wait once (not once per attempt), and its end
        log = worker.log()
        assert log.count(f"WARNING streams.kafka.worker: Kafka at {bootstrap} unreachable") == 1, log
        assert f"Kafka at {bootstrap} unreachable for" in log and "now resolved" in log

        # Kafka goes away while the worker runs: it stays up, says so, and carries on when Kafka is back
        keep = dict(env, KAFKA_KEEP_DATA="1")
        await asyncio.to_thread(subprocess.run, [str(KAFKA_SH), "down"], env=keep, capture_output=True, check=True)
        for _ in range(60):
            status, body = worker.get("/readyz")
            if status == 503:
                break
            await asyncio.sleep(0.25)
        assert status == 503 and "unreachable" in orjson.loads(body)["reason"], body
        assert worker.get("/healthz")[0] == 200 and worker.proc is not None and worker.proc.poll() is None
        back = await asyncio.to_thread(
            subprocess.run, [str(KAFKA_SH), "up"], env=keep, capture_output=True, text=True, check=False
        )
        assert back.returncode == 0, back.stderr
        await worker.wait_ready(timeout=30)
        await produce(bootstrap, names.reads_for(LAPD), [(b"cam", read("late-2", "7SDQ551"))])
        for _ in range(120):
            alerts = await read_topic(bootstrap, names.alerts(LAPD), settle=0.3)
            if len(alerts) == 2:
                break
            await asyncio.sleep(0.25)
        assert sorted(orjson.loads(r.value)["read"]["read_id"] for r in alerts) == ["late-1", "late-2"]

        stop_started = time.monotonic()
        assert worker.terminate(timeout=10) == 0
        assert time.monotonic() - stop_started < 5, "an idle worker must stop within 5 s of SIGTERM"
    finally:
        worker.terminate()
        await asyncio.to_thread(subprocess.run, [str(KAFKA_SH), "down"], env=env, capture_output=True, check=False)


async def test_a_worker_with_colliding_group_ids_is_refused_at_start(tmp_path: Path, kafka_bootstrap: str) -> None:
    worker = WorkerProcess(kafka_bootstrap, "collide.", tmp_path / "w.log", "--audit-group-id", "collide.reads")
    worker.start()
    assert worker.proc is not None
    code = worker.proc.wait(30)
    assert code == 2
    assert "group_id and audit_group_id are both 'collide.reads'" in worker.log()


async def test_a_setting_that_cannot_work_stops_the_worker_with_exit_2(tmp_path: Path) -> None:
    """Waiting fixes an absent broker, not a missing CA file: the worker says so and exits 2."""
    worker = WorkerProcess("127.0.0.1:1", "badtls.", tmp_path / "w.log", "--security-protocol", "SSL",
                           "--ssl-cafile", str(tmp_path / "missing-ca.pem"))  # fmt: skip
    worker.start()
    assert worker.proc is not None
    assert worker.proc.wait(30) == 2
    assert "TLS files cannot be used" in worker.log()
