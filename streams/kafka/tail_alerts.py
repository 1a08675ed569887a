"""`platewatch tail-alerts`: what a dispatch consumer of one agency sees, de-duplicated by alert id."""

from __future__ import annotations

import asyncio
import sys
from typing import TextIO

import orjson

from streams.errors import InputRefusedError
from streams.kafka.clients import KafkaClients
from streams.ops.settings import Settings
from streams.pipeline.topics import TopicNames


def format_alert(doc: dict[str, object]) -> str:
    read = doc["read"]
    entry = doc["entry"]
    match = doc["match"]
    assert isinstance(read, dict) and isinstance(entry, dict) and isinstance(match, dict)
    how = (
        "EXACT"
        if match["kind"] == "exact"
        else (f"LOOK-ALIKE - VERIFY VISUALLY (read {read['plate']}, listed {entry['plate']})")
    )
    wrong = "  WRONG STATE" if match["state_mismatch"] else ""
    return (
        f"{read['time']}  P{doc['priority']}  {str(entry['category'] or entry['list_id']).upper()}  "
        f"{entry['plate']} {entry['state'] or '--'}  {how}{wrong}  camera {read['camera_id']}  "
        f"case {entry['case_number'] or '-'}  alert {doc['alert_id']}"
    )


async def tail_alerts(
    settings: Settings,
    recipient: str,
    *,
    from_beginning: bool,
    limit: int | None,
    seconds: float | None,
    as_json: bool,
    out: TextIO = sys.stdout,
) -> int:
    topic = TopicNames.with_prefix(settings.topic_prefix).alerts(recipient)
    clients = KafkaClients(settings)
    if not await clients.topic_partitions(topic):
        raise InputRefusedError(f"no alert topic {topic}", hint="check --recipient (an ORI in the agency registry)")
    consumer = await clients.start(
        clients.consumer(
            topic,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest" if from_beginning else "latest",
        )
    )
    seen: set[str] = set()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds if seconds else None
    try:
        while (limit is None or len(seen) < limit) and (deadline is None or loop.time() < deadline):
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                for r in records:
                    doc = orjson.loads(r.value)
                    if doc["alert_id"] in seen:
                        continue  # a redelivery: same read, same entry
                    seen.add(doc["alert_id"])
                    out.write((r.value.decode() if as_json else format_alert(doc)) + "\n")
                    out.flush()
    finally:
        await consumer.stop()
    return 0
