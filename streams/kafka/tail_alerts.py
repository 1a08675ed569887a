"""`platewatch tail-alerts`: what a dispatch consumer of one agency sees, de-duplicated by alert id.

With `--from-beginning` it queries retained ALPR data, so it is an access that must be recorded (Cal.
Civ. Code 1798.90.52): it refuses to run without a user and a purpose (`--user`, `--purpose`, or
PLATEWATCH_ACCESS_USER / PLATEWATCH_ACCESS_PURPOSE), checks the access-log topic before reading, and
writes one access record there when it ends (how many alerts it showed), which the audit sink stores
in `access_log`. A tail killed with SIGKILL leaves no record; Ctrl-C, SIGTERM, --limit and --seconds do.
"""

from __future__ import annotations

import asyncio
import sys
from typing import TextIO

import orjson

from streams.audit.records import access_record
from streams.errors import ConfigurationError, InputRefusedError
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
    names = TopicNames.with_prefix(settings.topic_prefix)
    topic = names.alerts(recipient)
    if from_beginning:
        require_accessor(settings)
    clients = KafkaClients(settings)
    if not await clients.topic_partitions(topic):
        raise InputRefusedError(f"no alert topic {topic}", hint="check --recipient (an ORI in the agency registry)")
    access_log = names.access_log_for(recipient)
    if from_beginning and not await clients.topic_partitions(access_log):
        raise InputRefusedError(
            f"no access-log topic {access_log}: the access cannot be recorded",
            hint="run `platewatch topics create` (as the admin)",
        )
    seen: set[str] = set()  # alert ids shown
    try:
        await _tail(clients, topic, from_beginning, limit, seconds, as_json, out, seen)
    finally:
        if from_beginning:  # Ctrl-C and errors included: what was shown is recorded
            await record_access(clients, access_log, settings, recipient, topic, len(seen), limit, seconds)
    return 0


def require_accessor(settings: Settings) -> None:
    """Refuse a query of retained data that would not say who asked and why."""
    missing = [
        flag for flag, value in (("--user", settings.access_user), ("--purpose", settings.access_purpose))
        if not value.strip()
    ]  # fmt: skip
    if missing:
        raise ConfigurationError(
            f"tail-alerts --from-beginning reads retained ALPR data, and every such access is logged: "
            f"give {' and '.join(missing)}",
            hint="e.g. --user jdoe --purpose 'case 26-001234' (or PLATEWATCH_ACCESS_USER, PLATEWATCH_ACCESS_PURPOSE)",
        )


async def record_access(
    clients: KafkaClients,
    access_topic: str,
    settings: Settings,
    recipient: str,
    topic: str,
    shown: int,
    limit: int | None,
    seconds: float | None,
) -> None:
    """One access record on the access-log topic, acknowledged by every in-sync replica."""
    bounds = "".join([f", limit {limit}" if limit else "", f", {seconds:g} s" if seconds else ""])
    doc = access_record(
        user=settings.access_user,
        organization=settings.access_organization or recipient,
        purpose=settings.access_purpose,
        command="tail-alerts --from-beginning",
        accessed=f"{topic} from the beginning{bounds}",
        records=shown,
    )
    producer = await clients.start(clients.producer(acks="all", enable_idempotence=True))
    try:
        await producer.send_and_wait(access_topic, orjson.dumps(doc), key=doc["access_id"].encode())
    finally:
        await producer.stop()


async def _tail(
    clients: KafkaClients,
    topic: str,
    from_beginning: bool,
    limit: int | None,
    seconds: float | None,
    as_json: bool,
    out: TextIO,
    seen: set[str],
) -> None:
    """Print the alerts of `topic` once each, adding their ids to `seen`."""
    consumer = await clients.start(
        clients.consumer(
            topic,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest" if from_beginning else "latest",
            isolation_level="read_committed",  # an aborted batch's alerts were never sent
        )
    )
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
