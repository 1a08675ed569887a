"""Poison pills on the real broker: a read that makes the decoder raise is dead-lettered with its bytes
and the partition goes on; a flood of internal errors opens the circuit breaker instead of
dead-lettering everything."""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson
import pytest

from streams.kafka.dlq_replay import ReplayReport, replay_dead_letters
from tests.harness.worker_process import WorkerProcess, clients_for, produce, read_topic
from tests.test_worker_end_to_end import LAPD, read, setup_topics

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

DEEP = b'{"x": ' + b"[" * 5000 + b"]" * 5000 + b"}"  # RecursionError in the decoder


async def wait_for(predicate, timeout: float = 30) -> None:
    for _ in range(int(timeout / 0.25)):
        if predicate():
            return
        await asyncio.sleep(0.25)
    raise AssertionError("condition not met in time")


async def test_poison_pills_are_dead_lettered_and_a_flood_opens_the_breaker(
    kafka_bootstrap: str, unique: str, tmp_path: Path
) -> None:
    prefix = f"pill-{unique}."
    names = await setup_topics(kafka_bootstrap, prefix)
    worker = WorkerProcess(
        kafka_bootstrap, prefix, tmp_path / "worker.log", "--breaker-max-errors", "10", "--batch-max-reads", "50"
    ).start()
    try:
        await worker.wait_ready()
        await produce(
            kafka_bootstrap,
            names.reads_for(LAPD),
            [(b"cam", DEEP), (b"cam", read("good-1", "7SDQ551")), (b"cam", DEEP), (b"cam", read("good-2", "5GZB821"))],
        )
        await wait_for(lambda: worker.metric("platewatch_reads_consumed_total") >= 4)
        dlq = await read_topic(kafka_bootstrap, names.dlq, settle=0.5)
        assert [r.value for r in dlq] == [DEEP, DEEP]  # the original bytes
        headers = dict(dlq[0].headers)
        assert headers["platewatch.reason"] == b"internal_error"
        assert headers["platewatch.exception"] == b"RecursionError"
        alerts = await read_topic(kafka_bootstrap, names.alerts(LAPD), settle=0.5)
        assert sorted(orjson.loads(r.value)["read"]["read_id"] for r in alerts) == ["good-1", "good-2"]
        assert worker.get("/readyz")[0] == 200

        # once the cause is fixed, the letters go back through the same path
        clients = clients_for(kafka_bootstrap)
        counted = await replay_dead_letters(clients, names, reason="internal_error", dry_run=True)
        assert counted.replayed == {"internal_error": 2}
        assert await replay_dead_letters(clients, names, reason="not_json") == ReplayReport(scanned=2)
        await replay_dead_letters(clients, names, reason="internal_error")
        replayed = [r for r in await read_topic(kafka_bootstrap, names.reads_for(LAPD), settle=0.5) if r.headers]
        assert [r.value for r in replayed] == [DEEP, DEEP]
        assert {dict(r.headers)["platewatch.replay.of"] for r in replayed} == {
            f"{d.topic}:{d.partition}:{d.offset}".encode() for d in dlq
        }
        await wait_for(lambda: worker.metric("platewatch_reads_consumed_total") >= 6)

        # a flood: more than 10 internal errors and more than 5% of the reads
        await produce(kafka_bootstrap, names.reads_for(LAPD), [(b"cam", DEEP)] * 40)
        await wait_for(lambda: worker.metric("platewatch_circuit_breaker_open") == 1)
        status, body = worker.get("/readyz")
        assert status == 503 and "circuit breaker open" in orjson.loads(body)["reason"]
        assert worker.proc is not None and worker.proc.poll() is None  # paused, not crashed
        await asyncio.sleep(1)
        # the batch that tripped it was not dead-lettered: it waits on the topic for the fix
        assert len(await read_topic(kafka_bootstrap, names.dlq, settle=0.5)) < 4 + 40
        assert worker.terminate() == 0
    finally:
        worker.terminate()
